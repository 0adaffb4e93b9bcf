"""Recurrent actor-critic: encoder → LSTM core → policy and value heads.

Shapes: a batch of rows ``B`` (agents), time ``T``; observations float32 ``[B, D]`` when acting
and ``[T, B, D]`` when training; LSTM state ``LSTMState(h [B, H], c [B, H])``. A policy without
memory (``model.lstm: false``) keeps the same interfaces with ``H = 0`` (empty state tensors).

The critic predicts values in the *normalised* return space of ``value_norm`` (a
:class:`~echelon.model.normalization.RunningNorm` buffer of this module, as is ``obs_norm``):
callers de-normalise with :meth:`ActorCritic.denormalize_value` before GAE.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from echelon.config import ModelConfig, TrainConfig
from echelon.env.obs_layout import (
    CONTACT_DIM,
    DESC_DIM,
    EGO_DIM,
    FLAT_OBS_DIM,
    PANEL_DIM,
    SQUAD_DIM,
    flat_obs_to_suite_obs,
)
from echelon.model.distributions import ActionHead
from echelon.model.normalization import RunningNorm


class LSTMState(NamedTuple):
    """Recurrent state; ``h``, ``c``: ``[B, H]`` (tensors, or NumPy arrays in a Fragment)."""

    h: torch.Tensor
    c: torch.Tensor


class PolicyOutput(NamedTuple):
    """``dist`` over actions with batch shape ``[*B]``; ``value [*B]`` (normalised space); ``state``;
    ``features [*B, F]``: the core's output the heads read (for auxiliary losses)."""

    dist: object
    value: torch.Tensor
    state: LSTMState
    features: Optional[torch.Tensor] = None


def _linear(i: int, o: int, gain: float = float(np.sqrt(2))) -> nn.Linear:
    layer = nn.Linear(i, o)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class MLPEncoder(nn.Module):
    """Two tanh layers: ``[*B, D] → [*B, H]``."""

    def __init__(self, obs_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(_linear(obs_dim, hidden), nn.Tanh(), _linear(hidden, hidden), nn.Tanh())
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def masked_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean and max over slots: ``x [*B, N, E]``, ``mask [*B, N]`` (1 = filled) → ``[*B, 2E]``.

    Empty slots contribute nothing; a row with no filled slot pools to zeros. One multiply and
    two ``masked_fill`` instead of ``where`` against freshly allocated fill tensors: this runs on
    ``[L * M, slots, E]`` every minibatch, forward and backward, and the allocations showed in
    the profile (docs/benchmarks.md, "Serial trainer on Echelon"). Agrees with
    :func:`masked_pool_reference` (tested).
    """
    m = (mask > 0.5).unsqueeze(-1)
    mf = m.to(x.dtype)
    mean = (x * mf).sum(-2) / mf.sum(-2).clamp(min=1.0)
    mx = x.masked_fill(~m, float("-inf")).amax(-2).masked_fill(~m.any(-2), 0.0)
    return torch.cat([mean, mx], dim=-1)


def masked_pool_reference(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Slow twin of :func:`masked_pool` (explicit ``where`` per reduction), for tests."""
    m = (mask > 0.5).unsqueeze(-1)
    count = m.sum(-2).clamp(min=1).to(x.dtype)
    mean = torch.where(m, x, torch.zeros_like(x)).sum(-2) / count
    mx = torch.where(m, x, torch.full_like(x, float("-inf"))).amax(-2)
    mx = torch.where(m.any(-2), mx, torch.zeros_like(mx))
    return torch.cat([mean, mx], dim=-1)


class SetEncoder(nn.Module):
    """Echelon encoder over :class:`~echelon.env.obs_layout.SuiteObservation` blocks.

    Contacts and squad mates go through per-slot MLPs (shared weights within a block, so the
    encoding is permutation invariant; Zaheer et al. 2017, https://arxiv.org/abs/1703.06114)
    and masked mean+max pooling; ego, descriptor and panel go through an MLP; the joined
    features go through one more layer to ``[*B, H]``. Masks are read from the *raw*
    observation (normalisation would shift their 0/1 values); features from the normalised one.
    """

    def __init__(self, hidden: int, slot_dim: int = 64) -> None:
        super().__init__()
        self.contact = nn.Sequential(_linear(CONTACT_DIM, slot_dim), nn.ReLU(), _linear(slot_dim, slot_dim), nn.ReLU())
        self.squad = nn.Sequential(_linear(SQUAD_DIM, slot_dim), nn.ReLU(), _linear(slot_dim, slot_dim), nn.ReLU())
        self.own = nn.Sequential(_linear(EGO_DIM + DESC_DIM + PANEL_DIM, hidden), nn.ReLU())
        self.join = nn.Sequential(_linear(4 * slot_dim + hidden, hidden), nn.Tanh())
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        s, r = flat_obs_to_suite_obs(x), flat_obs_to_suite_obs(raw)
        contacts = masked_pool(self.contact(s.contacts), r.contact_mask)
        squad = masked_pool(self.squad(s.squad), r.squad_mask)
        own = self.own(torch.cat([s.ego, s.descriptor, s.panel], dim=-1))
        return self.join(torch.cat([contacts, squad, own], dim=-1))


def use_set_encoder(cfg: TrainConfig, obs_dim: int) -> bool:
    """Set encoder for Echelon observations (``model.encoder: set``, or ``auto`` on Echelon)."""
    if cfg.model.encoder == "set":
        return True
    if cfg.model.encoder == "mlp":
        return False
    return obs_dim == FLAT_OBS_DIM and cfg.rollout.env == "echelon"


def _init_action_biases(actor: ActionHead, biases: dict) -> None:
    """Set the output biases of the Dict action parts named in ``biases`` (``model.action_bias_init``).

    ``ValueError`` names the key and the expected length when they do not fit the action space.
    """
    if not biases:
        return
    if actor.kind != "Dict":
        raise ValueError(
            f"model.action_bias_init names action keys {sorted(biases)}, but the action space is a "
            f"{actor.kind}, not a Dict: remove model.action_bias_init for this env"
        )
    for key, values in biases.items():
        if key not in actor.heads:
            raise ValueError(
                f"model.action_bias_init: unknown action key {key!r}; the action space has {sorted(actor.heads)}"
            )
        head = actor.heads[key]
        layer = head.mean if head.kind == "Box" else head.logits if head.kind in ("Discrete", "MultiBinary") else None
        if layer is None:
            raise ValueError(
                f"model.action_bias_init[{key!r}]: a {head.kind} part has no single bias to set; "
                "use it for Box, Discrete or MultiBinary parts"
            )
        n = layer.bias.shape[0]
        if len(values) != n:
            raise ValueError(
                f"model.action_bias_init[{key!r}] has {len(values)} values; the {head.kind} part has {n} outputs"
            )
        with torch.no_grad():
            layer.bias.copy_(torch.as_tensor(list(values), dtype=layer.bias.dtype))


class ActorCritic(nn.Module):
    """Encoder → optional LSTM core → policy head and value head.

    ``step`` acts one time step; ``unroll`` runs a sequence for training. Both reset the state
    to zero on rows where ``episode_start`` is True *before* consuming that row's observation,
    and ``unroll`` keeps the state unchanged on steps where ``valid`` is False (padding and
    non-learning rows do not enter the recurrence).
    """

    def __init__(
        self,
        obs_space: spaces.Box,
        action_space: spaces.Space,
        model: ModelConfig,
        set_encoder: bool = False,
        norm_obs: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
            raise TypeError(f"observation space must be a flat Box [D], got {obs_space!r}")
        self.obs_dim = int(obs_space.shape[0])
        self.norm_obs = norm_obs
        self.obs_norm = RunningNorm((self.obs_dim,))
        self.value_norm = RunningNorm((), clip=float("inf"))
        if set_encoder:
            if self.obs_dim != FLAT_OBS_DIM:
                raise ValueError(f"set encoder needs obs dim FLAT_OBS_DIM={FLAT_OBS_DIM}, got {self.obs_dim}")
            self.encoder = SetEncoder(model.hidden_size, model.slot_size)
        else:
            self.encoder = MLPEncoder(self.obs_dim, model.hidden_size)
        self.use_lstm = model.lstm
        self.state_size = model.lstm_size if model.lstm else 0
        if model.lstm:
            self.lstm = nn.LSTMCell(self.encoder.out_dim, model.lstm_size)
            for name, p in self.lstm.named_parameters():
                if "weight" in name:
                    nn.init.orthogonal_(p, 1.0)
                else:
                    nn.init.zeros_(p)
            core_out = model.lstm_size
        else:
            core_out = self.encoder.out_dim
        self.actor = ActionHead(
            action_space,
            core_out,
            model.log_std_init,
            model.log_std_min,
            model.log_std_max,
            model.state_dependent_std,
            model.box_dist,
        )
        _init_action_biases(self.actor, model.action_bias_init)
        # Defined before the critic so that the critic's parameters stay the last ones: the
        # learner gives them their own optimiser group by position (see Learner.__init__).
        self.next_obs_head = _linear(core_out, self.obs_dim, 1.0) if model.aux_next_obs else None
        self.critic = _linear(core_out, 1, 1.0)

    # -- state -------------------------------------------------------------------------------
    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> LSTMState:
        """Zero state ``[batch, H]`` (``H = 0`` without LSTM)."""
        z = torch.zeros(batch, self.state_size, device=device)
        return LSTMState(z, z.clone())

    # -- value normalisation --------------------------------------------------------------------
    def denormalize_value(self, v: torch.Tensor) -> torch.Tensor:
        return self.value_norm.denormalize(v)

    def normalize_value(self, v: torch.Tensor) -> torch.Tensor:
        return self.value_norm.normalize(v)

    # -- forward ------------------------------------------------------------------------------
    def _encode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.normalized_obs(obs), obs.float())

    def _core_step(
        self, x: torch.Tensor, state: LSTMState, episode_start: torch.Tensor, valid: torch.Tensor | None
    ) -> tuple[torch.Tensor, LSTMState]:
        if not self.use_lstm:
            return x, state
        keep = (~episode_start.bool()).unsqueeze(-1).to(x.dtype)
        h, c = self.lstm(x, (state.h * keep, state.c * keep))
        if valid is not None:
            v = valid.bool().unsqueeze(-1)
            h, c = torch.where(v, h, state.h), torch.where(v, c, state.c)
        return h, LSTMState(h, c)

    def step(
        self, obs: torch.Tensor, state: LSTMState, episode_start: torch.Tensor, valid: torch.Tensor | None = None
    ) -> PolicyOutput:
        """One step: ``obs [B, D]``, ``state`` of ``[B, H]``, ``episode_start [B]`` bool."""
        feat, new_state = self._core_step(self._encode(obs), state, episode_start, valid)
        return PolicyOutput(self.actor(feat), self.critic(feat).squeeze(-1), new_state, feat)

    def unroll(
        self,
        obs_seq: torch.Tensor,
        state0: LSTMState,
        episode_start_seq: torch.Tensor,
        valid_seq: torch.Tensor | None = None,
    ) -> PolicyOutput:
        """Sequence: ``obs_seq [T, B, D]``, ``episode_start_seq [T, B]``, ``valid_seq [T, B]`` or None.

        Returns the distribution and values with batch shape ``[T, B]`` and the state after
        step ``T - 1``. Equals ``T`` calls of :meth:`step` (tested).
        """
        T, B = obs_seq.shape[:2]
        x = self._encode(obs_seq.reshape(T * B, -1)).reshape(T, B, -1)
        if self.use_lstm:
            state, outs = state0, []
            for t in range(T):
                valid_t = None if valid_seq is None else valid_seq[t]
                h, state = self._core_step(x[t], state, episode_start_seq[t], valid_t)
                outs.append(h)
            feat = torch.stack(outs)
        else:
            feat, state = x, state0
        return PolicyOutput(self.actor(feat), self.critic(feat).squeeze(-1), state, feat)

    def predict_next_obs(self, features: torch.Tensor) -> torch.Tensor:
        """``features [*B, F]`` → predicted next observation ``[*B, D]`` in ``obs_norm``'s space."""
        if self.next_obs_head is None:
            raise RuntimeError("predict_next_obs needs model.aux_next_obs: true")
        return self.next_obs_head(features)

    def normalized_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """``obs [*B, D]`` as the encoder sees it (normalised when ``ppo.norm_obs``)."""
        obs = obs.float()
        return self.obs_norm.normalize(obs) if self.norm_obs else obs

    @torch.no_grad()
    def act(
        self, obs: torch.Tensor, state: LSTMState, episode_start: torch.Tensor, deterministic: bool = False
    ) -> tuple[object, torch.Tensor, torch.Tensor, LSTMState]:
        """Sample (or take the mode of) an action: returns ``(action, logprob [B], value [B], state)``."""
        out = self.step(obs, state, episode_start)
        action = out.dist.mode() if deterministic else out.dist.sample()
        return action, out.dist.log_prob(action), out.value, out.state


def build_policy(cfg: TrainConfig, obs_space: spaces.Box, action_space: spaces.Space) -> ActorCritic:
    """The policy a run uses, chosen by ``cfg.model`` (encoder per :func:`use_set_encoder`)."""
    return ActorCritic(
        obs_space,
        action_space,
        cfg.model,
        set_encoder=use_set_encoder(cfg, int(obs_space.shape[0])),
        norm_obs=cfg.ppo.norm_obs,
    )
