"""Action distributions built from a Gymnasium action space.

Every head maps features ``[*B, F]`` to a distribution object with the same small interface:
``sample() -> action``, ``mode() -> action``, ``log_prob(action) -> [*B]`` and
``entropy() -> [*B]`` (float32). Action tensors per space:

- ``Box``: float32 ``[*B, A]`` in **unit scale**: in ``[-1, 1]`` for the tanh-squashed Gaussian
  (the default), unbounded for the plain Gaussian (``box_dist="gaussian"``), whose samples are
  clipped to ``[-1, 1]`` only at the env edge. :func:`to_env_action` clips and maps them
  affinely to ``[low, high]``.
- ``Discrete``: int64 ``[*B]`` (index from 0; ``start`` is added by :func:`to_env_action`).
- ``MultiBinary``: float32 ``[*B, n]`` of 0/1.
- ``MultiDiscrete``: int64 ``[*B, k]``.
- ``Dict``: ``dict[str, tensor]`` of the above; log-probs and entropies add up (a product of
  independent distributions).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

# One epsilon for the squashed Gaussian: actions are clamped to [-1 + EPS, 1 - EPS] before both
# the inverse (atanh) and the log-Jacobian, so log_prob(±1) is finite and the two terms agree.
# 1e-6 is representable next to 1.0 in float32 (spacing 6e-8).
SQUASH_EPS = 1e-6

# Probabilists' Gauss-Hermite nodes for E_{u~N(mu, std)}[log(1 - tanh(u)^2)] in the entropy:
# deterministic (the loss does not depend on the RNG or the batch layout) and differentiable.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(16)
_GH_WEIGHTS = _GH_WEIGHTS / math.sqrt(2.0 * math.pi)


def _log1m_tanh_sq(u: torch.Tensor) -> torch.Tensor:
    """``log(1 - tanh(u)^2)`` computed stably as ``2 (log 2 - u - softplus(-2u))``."""
    return 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))


class SquashedGaussian:
    """``a = tanh(u)``, ``u ~ N(mean, exp(log_std))`` per dimension; ``mean, log_std [*B, A]``.

    ``log_prob(a) = sum_i [log N(atanh(a_c); mean, std) - log(1 - a_c^2)]`` with
    ``a_c = clamp(a, -1 + SQUASH_EPS, 1 - SQUASH_EPS)`` (change of variables, Haarnoja et al.
    2018, https://arxiv.org/abs/1801.01290, appendix C). ``entropy`` is
    ``H[u] + E[log(1 - tanh(u)^2)]``, the entropy of the squashed variable, with the expectation
    by 16-point Gauss-Hermite quadrature.
    """

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor) -> None:
        self.mean = mean.float()
        self.log_std = log_std.float()
        self.std = torch.exp(self.log_std)

    def sample(self) -> torch.Tensor:
        return torch.tanh(self.mean + self.std * torch.randn_like(self.mean))

    def mode(self) -> torch.Tensor:
        return torch.tanh(self.mean)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        a = torch.clamp(action.float(), -1.0 + SQUASH_EPS, 1.0 - SQUASH_EPS)
        u = torch.atanh(a)
        z = (u - self.mean) / self.std
        log_gauss = -0.5 * z * z - self.log_std - 0.5 * math.log(2.0 * math.pi)
        log_jac = torch.log1p(-a * a)
        return (log_gauss - log_jac).sum(-1)

    def entropy(self) -> torch.Tensor:
        gauss = 0.5 + 0.5 * math.log(2.0 * math.pi) + self.log_std
        nodes = torch.as_tensor(_GH_NODES, dtype=self.mean.dtype, device=self.mean.device)
        weights = torch.as_tensor(_GH_WEIGHTS, dtype=self.mean.dtype, device=self.mean.device)
        u = self.mean.unsqueeze(-1) + self.std.unsqueeze(-1) * nodes  # [*B, A, K]
        correction = (_log1m_tanh_sq(u) * weights).sum(-1)
        return (gauss + correction).sum(-1)


class Gaussian:
    """``a ~ N(mean, exp(log_std))`` per dimension, unbounded; ``mean, log_std [*B, A]``.

    The env sees ``clip(a, -1, 1)`` (:func:`to_env_action`), while the log-probability is of the
    raw sample: the parameterisation of most PPO implementations (RLlib, CleanRL). Unlike the
    squash, a mean past the bound puts most of the mass on the bound itself, so full thrust or a
    full turn is one step of the mean away rather than a tail of ``tanh``.
    """

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor) -> None:
        self.mean = mean.float()
        self.log_std = log_std.float()
        self.std = torch.exp(self.log_std)

    def sample(self) -> torch.Tensor:
        return self.mean + self.std * torch.randn_like(self.mean)

    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        z = (action.float() - self.mean) / self.std
        return (-0.5 * z * z - self.log_std - 0.5 * math.log(2.0 * math.pi)).sum(-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + 0.5 * math.log(2.0 * math.pi) + self.log_std).sum(-1)


BOX_DISTS = ("squashed", "gaussian")


class Categorical:
    """Categorical over ``logits [*B, n]``; actions int64 ``[*B]``."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits.float() - torch.logsumexp(logits.float(), dim=-1, keepdim=True)

    def sample(self) -> torch.Tensor:
        # torch.multinomial on the normalised probabilities, as torch.distributions.Categorical
        # does, without building that object (argument validation on every acting step).
        n = self.logits.shape[-1]
        flat = torch.multinomial(self.logits.exp().reshape(-1, n), 1)
        return flat.reshape(self.logits.shape[:-1])

    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        return self.logits.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        return -(self.logits.exp() * self.logits).sum(-1)


class Bernoulli:
    """Independent Bernoulli per bit over ``logits [*B, n]``; actions float ``[*B, n]``."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits.float()

    def sample(self) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(self.logits))

    def mode(self) -> torch.Tensor:
        return (self.logits > 0).float()

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(self.logits, action.float(), reduction="none").sum(-1)

    def entropy(self) -> torch.Tensor:
        p = torch.sigmoid(self.logits)
        return F.binary_cross_entropy_with_logits(self.logits, p, reduction="none").sum(-1)


class MultiCategorical:
    """Independent categoricals with sizes ``nvec``; ``logits [*B, sum(nvec)]``, actions ``[*B, k]``."""

    def __init__(self, logits: torch.Tensor, nvec: list[int]) -> None:
        self.parts = [Categorical(chunk) for chunk in torch.split(logits, nvec, dim=-1)]

    def sample(self) -> torch.Tensor:
        return torch.stack([p.sample() for p in self.parts], dim=-1)

    def mode(self) -> torch.Tensor:
        return torch.stack([p.mode() for p in self.parts], dim=-1)

    def log_prob(self, action: torch.Tensor) -> torch.Tensor:
        return sum(p.log_prob(action[..., i]) for i, p in enumerate(self.parts))

    def entropy(self) -> torch.Tensor:
        return sum(p.entropy() for p in self.parts)


class DictDistribution:
    """Product of named distributions; actions are ``dict[str, tensor]``."""

    def __init__(self, parts: dict) -> None:
        self.parts = parts

    def sample(self) -> dict:
        return {k: d.sample() for k, d in self.parts.items()}

    def mode(self) -> dict:
        return {k: d.mode() for k, d in self.parts.items()}

    def log_prob(self, action: dict) -> torch.Tensor:
        return sum(d.log_prob(action[k]) for k, d in self.parts.items())

    def entropy(self) -> torch.Tensor:
        return sum(d.entropy() for d in self.parts.values())


def imitation_loss(dist, target) -> torch.Tensor:
    """Loss ``[*B]`` of ``target`` actions (a teacher's, policy format) under ``dist``, summed over parts.

    Discrete, binary and multi-discrete parts: negative log-likelihood. Box parts: half the
    squared error between the distribution's mode (unit scale; a plain Gaussian's mean is not
    clipped, so a mean past the bound on the wrong side still gets a gradient) and the target
    clipped to ``[-1, 1]``, summed over dimensions: it moves the mean and leaves the std to
    PPO, where a likelihood would shrink the std toward the teacher's deterministic choice and
    take the exploration PPO needs afterwards.
    """
    if isinstance(dist, DictDistribution):
        return sum(imitation_loss(d, target[k]) for k, d in dist.parts.items())
    if isinstance(dist, (Gaussian, SquashedGaussian)):
        return 0.5 * ((dist.mode() - target.float().clamp(-1.0, 1.0)) ** 2).sum(-1)
    return -dist.log_prob(target)


def _init_linear(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ActionHead(nn.Module):
    """Maps features ``[*B, F]`` to the distribution of one action space (recursively for Dict).

    Box log-std is either a state-independent parameter clamped per dimension to
    ``[log_std_min, log_std_max]`` (default) or, with ``state_dependent_std``, a linear
    function of the features squashed by tanh into the same bounds. ``box_dist`` picks the Box
    distribution: ``"squashed"`` (:class:`SquashedGaussian`) or ``"gaussian"`` (:class:`Gaussian`,
    clipped at the env edge).
    """

    def __init__(
        self,
        space: spaces.Space,
        in_dim: int,
        log_std_init: float = -0.5,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        state_dependent_std: bool = False,
        box_dist: str = "squashed",
    ) -> None:
        super().__init__()
        if box_dist not in BOX_DISTS:
            raise ValueError(f"box_dist must be one of {BOX_DISTS}, got {box_dist!r}")
        self.space = space
        self.box_dist = box_dist
        self.kind = type(space).__name__
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        self.state_dependent_std = state_dependent_std
        if isinstance(space, spaces.Dict):
            self.heads = nn.ModuleDict(
                {
                    k: ActionHead(s, in_dim, log_std_init, log_std_min, log_std_max, state_dependent_std, box_dist)
                    for k, s in space.spaces.items()
                }
            )
        elif isinstance(space, spaces.Box):
            n = int(np.prod(space.shape))
            self.mean = _init_linear(nn.Linear(in_dim, n), 0.01)
            if state_dependent_std:
                self.log_std_layer = _init_linear(nn.Linear(in_dim, n), 0.01)
                # Offset so that a zero pre-activation gives log_std_init.
                frac = (log_std_init - log_std_min) / (log_std_max - log_std_min)
                self.log_std_offset = float(np.arctanh(np.clip(2 * frac - 1, -0.999, 0.999)))
            else:
                self.log_std = nn.Parameter(torch.full((n,), float(log_std_init)))
        elif isinstance(space, spaces.Discrete):
            self.logits = _init_linear(nn.Linear(in_dim, int(space.n)), 0.01)
        elif isinstance(space, spaces.MultiBinary):
            self.logits = _init_linear(nn.Linear(in_dim, int(np.prod(space.shape))), 0.01)
        elif isinstance(space, spaces.MultiDiscrete):
            self.nvec = [int(n) for n in np.asarray(space.nvec).reshape(-1)]
            self.logits = _init_linear(nn.Linear(in_dim, sum(self.nvec)), 0.01)
        else:
            raise TypeError(
                f"unsupported action space {space!r}: use Box, Discrete, MultiBinary, MultiDiscrete or Dict"
            )

    def forward(self, x: torch.Tensor):
        if self.kind == "Dict":
            return DictDistribution({k: h(x) for k, h in self.heads.items()})
        if self.kind == "Box":
            mean = self.mean(x)
            if self.state_dependent_std:
                t = torch.tanh(self.log_std_layer(x) + self.log_std_offset)
                log_std = self.log_std_min + 0.5 * (t + 1.0) * (self.log_std_max - self.log_std_min)
            else:
                log_std = torch.clamp(self.log_std, self.log_std_min, self.log_std_max).expand_as(mean)
            if self.box_dist == "gaussian":
                return Gaussian(mean, log_std)
            return SquashedGaussian(mean, log_std)
        if self.kind == "Discrete":
            return Categorical(self.logits(x))
        if self.kind == "MultiBinary":
            return Bernoulli(self.logits(x))
        return MultiCategorical(self.logits(x), self.nvec)


def to_env_action(space: spaces.Space, action):
    """Policy action (tensor or dict of tensors, leading dim ``R``) → NumPy action(s) for the env.

    Box: unit scale ``[-1, 1]`` mapped affinely to ``[low, high]`` (reshaped to the space's
    shape); Discrete: ``+ start``; MultiDiscrete: ``+ start``; MultiBinary: int8.
    """
    if isinstance(space, spaces.Dict):
        return {k: to_env_action(s, action[k]) for k, s in space.spaces.items()}
    a = action.detach().cpu().numpy()
    if isinstance(space, spaces.Box):
        low = np.broadcast_to(space.low, space.shape).reshape(-1)
        high = np.broadcast_to(space.high, space.shape).reshape(-1)
        scaled = low + 0.5 * (np.clip(a, -1.0, 1.0) + 1.0) * (high - low)
        return scaled.reshape(a.shape[:1] + space.shape).astype(space.dtype)
    if isinstance(space, spaces.Discrete):
        return (a + int(space.start)).astype(np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        return (a + np.asarray(space.start).reshape(-1)).reshape(a.shape[:1] + space.shape).astype(space.dtype)
    return a.reshape(a.shape[:1] + space.shape).astype(np.int8)


def empty_action_buffer(space: spaces.Space, lead: tuple[int, ...]):
    """Preallocated NumPy storage for policy actions of shape ``[*lead, ...]`` (dict for Dict)."""
    if isinstance(space, spaces.Dict):
        return {k: empty_action_buffer(s, lead) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Box):
        return np.zeros(lead + (int(np.prod(space.shape)),), dtype=np.float32)
    if isinstance(space, spaces.Discrete):
        return np.zeros(lead, dtype=np.int64)
    if isinstance(space, spaces.MultiDiscrete):
        return np.zeros(lead + (int(np.prod(space.shape)),), dtype=np.int64)
    return np.zeros(lead + (int(np.prod(space.shape)),), dtype=np.float32)
