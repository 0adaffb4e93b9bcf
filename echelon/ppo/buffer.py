"""``Fragment`` (collector → learner) and the learner's preallocated segment buffer.

A :class:`Fragment` holds NumPy arrays, time-major ``[T, R, ...]`` (see docs/interfaces.md).
:class:`SegmentBuffer` holds the same data cut into segments ``[L, S, ...]`` (see
:mod:`echelon.ppo.segments`) on the learner's device, plus advantages and value targets; it is
allocated once per shape and written in place on every update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from echelon.model.actor_critic import LSTMState
from echelon.model.normalization import Moments


@dataclass
class Fragment:
    """``T`` steps of ``R`` rows sampled with policy ``version``.

    obs float32 ``[T, R, D]``; actions (policy space, see
    :mod:`echelon.model.distributions`) ``[T, R, ...]`` or a dict of those; logprobs, values
    float32 ``[T, R]`` (values in the critic's normalised space); rewards float32 ``[T, R]``;
    terminated, truncated, valid, episode_start bool ``[T, R]``; final_values float32
    ``[T, R]`` (normalised critic value of ``final_obs`` where truncated, else 0); last_obs
    ``[R, D]``, last_episode_start ``[R]``, last_values ``[R]`` (normalised); state0: LSTMState
    of float32 ``[R, H]``; obs_moments: moments of the valid rows of ``obs`` (for the learner's
    observation normaliser); episodes: finished-episode dicts; env_steps: ``T × num_envs``;
    teacher: the env's teacher actions for each observation, in the layout of ``actions``
    (``ppo.bc_coef > 0``), else None.
    """

    obs: np.ndarray
    actions: Any
    logprobs: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray
    episode_start: np.ndarray
    final_values: np.ndarray
    last_obs: np.ndarray
    last_episode_start: np.ndarray
    last_values: np.ndarray
    state0: LSTMState
    version: int
    obs_moments: Moments
    episodes: list = field(default_factory=list)
    env_steps: int = 0
    teacher: Any = None

    @property
    def T(self) -> int:
        return int(self.obs.shape[0])

    @property
    def R(self) -> int:
        return int(self.obs.shape[1])


def _action_storage(space: spaces.Space, L: int, S: int, device: torch.device):
    if isinstance(space, spaces.Dict):
        return {k: _action_storage(s, L, S, device) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Discrete):
        return torch.zeros(L, S, dtype=torch.int64, device=device)
    width = int(np.prod(space.shape))
    dtype = torch.int64 if isinstance(space, spaces.MultiDiscrete) else torch.float32
    return torch.zeros(L, S, width, dtype=dtype, device=device)


class SegmentBuffer:
    """Preallocated training batch of ``S`` segments of ``L`` steps on ``device``.

    Tensors (``[L, S]`` unless noted): obs ``[L, S, D]``, actions, logprobs, values (old values,
    normalised with the *current* value statistics), advantages, returns (normalised targets),
    episode_start, recurrent_valid, loss_mask (bool); h0, c0 ``[S, H]``; teacher (laid out as
    actions) when ``teacher`` is set, else None.
    """

    def __init__(self, L: int, S: int, obs_dim: int, action_space: spaces.Space, state_size: int, device,
                 teacher: bool = False) -> None:
        self.L, self.S = L, S
        dev = torch.device(device)
        f32 = dict(dtype=torch.float32, device=dev)
        self.obs = torch.zeros(L, S, obs_dim, **f32)
        self.actions = _action_storage(action_space, L, S, dev)
        self.teacher = _action_storage(action_space, L, S, dev) if teacher else None
        self.logprobs = torch.zeros(L, S, **f32)
        self.values = torch.zeros(L, S, **f32)
        self.advantages = torch.zeros(L, S, **f32)
        self.returns = torch.zeros(L, S, **f32)
        self.episode_start = torch.zeros(L, S, dtype=torch.bool, device=dev)
        self.recurrent_valid = torch.zeros(L, S, dtype=torch.bool, device=dev)
        self.loss_mask = torch.zeros(L, S, dtype=torch.bool, device=dev)
        self.h0 = torch.zeros(S, state_size, **f32)
        self.c0 = torch.zeros(S, state_size, **f32)

    def minibatch(self, idx: torch.Tensor) -> dict[str, Any]:
        """The columns ``idx [M]`` as a dict of ``[L, M, ...]`` tensors (state0 as LSTMState ``[M, H]``)."""

        def take(x):
            return {k: take(v) for k, v in x.items()} if isinstance(x, dict) else x[:, idx]

        out = {} if self.teacher is None else {"teacher": take(self.teacher)}
        return out | {
            "obs": take(self.obs),
            "actions": take(self.actions),
            "logprobs": take(self.logprobs),
            "values": take(self.values),
            "advantages": take(self.advantages),
            "returns": take(self.returns),
            "episode_start": take(self.episode_start),
            "recurrent_valid": take(self.recurrent_valid),
            "loss_mask": take(self.loss_mask),
            "state0": LSTMState(self.h0[idx], self.c0[idx]),
        }
