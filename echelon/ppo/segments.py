"""The truncated-BPTT contract: how fragments ``[T, R]`` become training segments ``[L, S]``.

This module is the one owner of these rules; the learner and the tests use it, nothing else
re-derives them.

- ``L = ppo.bptt_len`` steps per segment, of which the first ``b = ppo.burn_in`` are burn-in
  (they warm the LSTM state, run without gradient and never reach the loss; Kapturowski et al.
  2019, R2D2, https://openreview.net/forum?id=r1lyTjAqYX) and the last ``W = L - b`` are trained.
- Segment ``k`` trains fragment steps ``[k W, (k + 1) W)`` and covers steps
  ``[k W - b, (k + 1) W)``; steps outside ``[0, T)`` are padding (zero obs, ``valid`` False).
  Columns are ordered ``s = k * R + r``.
- The LSTM state stored at each segment start is **recomputed by the learner with the current
  network** once per update (:func:`segment_start_states`), starting from the collector's
  ``state0`` (the state before fragment step 0, carried across fragments by the collector).
  With policy lag 0 this equals the collector's own states except on invalid steps.
- Inside a segment the state is reset to zero where ``episode_start`` is True.
- ``valid`` False (padding, dead agents after death, non-learning agents) removes a step from
  the loss **and from the recurrence**: the state passes through such a step unchanged, so
  padding and garbage never change any valid output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from echelon.model.actor_critic import ActorCritic, LSTMState


@dataclass(frozen=True)
class SegmentLayout:
    """Index maps for cutting ``T`` fragment steps into ``K`` segments of ``L`` steps.

    ``time_index [L, K]`` int64: the fragment step each segment step reads (clamped into range;
    use ``in_range`` to mask padding); ``in_range [L, K]`` bool; ``train [L, K]`` bool (False on
    burn-in steps); ``start_t [K]`` int64: fragment step before which the segment's initial state
    is taken (``<= 0`` means ``state0``).
    """

    T: int
    L: int
    burn_in: int
    time_index: np.ndarray
    in_range: np.ndarray
    train: np.ndarray
    start_t: np.ndarray

    @property
    def K(self) -> int:
        return int(self.time_index.shape[1])


def segment_layout(T: int, L: int, burn_in: int = 0) -> SegmentLayout:
    """Layout for fragments of ``T`` steps, segments of ``L`` steps with ``burn_in`` warm-up steps."""
    if not 0 <= burn_in < L:
        raise ValueError(f"burn_in must be in [0, L={L}), got {burn_in}")
    W = L - burn_in
    K = -(-T // W)
    starts = np.arange(K) * W - burn_in  # [K] first fragment step covered by segment k
    raw = starts[None, :] + np.arange(L)[:, None]  # [L, K]
    in_range = (raw >= 0) & (raw < T)
    train = np.broadcast_to(np.arange(L)[:, None] >= burn_in, (L, K)).copy()
    return SegmentLayout(T, L, burn_in, np.clip(raw, 0, T - 1), in_range, train, starts)


def to_segments(x: torch.Tensor, layout: SegmentLayout) -> torch.Tensor:
    """``x [T, R, *F]`` → ``[L, K * R, *F]`` (column ``k * R + r``); padding steps are zero."""
    T, R = x.shape[:2]
    idx = torch.as_tensor(layout.time_index, device=x.device)
    seg = x[idx.reshape(-1)].reshape(layout.L, layout.K, R, *x.shape[2:])
    mask = torch.as_tensor(layout.in_range, device=x.device).reshape(layout.L, layout.K, 1, *([1] * (x.dim() - 2)))
    seg = torch.where(mask, seg, torch.zeros((), dtype=x.dtype, device=x.device))
    return seg.reshape(layout.L, layout.K * R, *x.shape[2:])


def segment_masks(valid: torch.Tensor, layout: SegmentLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """``valid [T, R]`` → ``(recurrent_valid [L, S], loss_mask [L, S])`` bool.

    ``recurrent_valid``: real, valid steps (they update the state); ``loss_mask``: those that are
    also outside burn-in (they reach the loss).
    """
    rec = to_segments(valid.bool(), layout)
    R = valid.shape[1]
    train = torch.as_tensor(layout.train, device=valid.device).repeat_interleave(R, dim=1)
    return rec, rec & train


@torch.no_grad()
def segment_start_states(
    policy: ActorCritic,
    obs: torch.Tensor,
    state0: LSTMState,
    episode_start: torch.Tensor,
    valid: torch.Tensor,
    layout: SegmentLayout,
) -> LSTMState:
    """LSTM state before each segment's first step, recomputed with ``policy``: ``[K * R, H]``.

    obs ``[T, R, D]``, state0 of ``[R, H]``, episode_start / valid ``[T, R]`` bool.
    """
    R = obs.shape[1]
    starts = np.maximum(layout.start_t, 0)
    state, t_done, at = state0, 0, {}
    for t in sorted(set(int(s) for s in starts)):
        if t > t_done:
            state = policy.unroll(obs[t_done:t], state, episode_start[t_done:t], valid[t_done:t]).state
            t_done = t
        at[t] = state
    h = torch.cat([at[int(s)].h for s in starts], dim=0)
    c = torch.cat([at[int(s)].c for s in starts], dim=0)
    return LSTMState(h.reshape(layout.K * R, -1), c.reshape(layout.K * R, -1))
