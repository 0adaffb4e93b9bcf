"""Running mean / variance of observations and returns, mergeable across workers.

The statistics are kept as ``(count, mean, var)`` with population variance. Two sets of
statistics are merged with the parallel algorithm of Chan, Golub & LeVeque (1979),
"Updating formulae and a pairwise algorithm for computing sample variances"
(https://en.wikipedia.org/wiki/Algorithms_for_calculating_variance#Parallel_algorithm), so
merging per-worker stats equals one pass over the union of their samples.

:class:`RunningNorm` holds the same statistics as registered buffers of a ``torch.nn.Module``
so that a policy's ``state_dict`` carries them to workers and into checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Moments:
    """Sample statistics of a batch along its leading axis.

    ``count``: number of samples (float, so that merges of large counts stay exact enough);
    ``mean``, ``var``: float64 arrays of the feature shape (``var`` is the population variance).
    """

    count: float
    mean: np.ndarray
    var: np.ndarray


def moments(x: np.ndarray, mask: np.ndarray | None = None) -> Moments:
    """Moments of ``x [N, *F]`` over its first axis, over rows where ``mask [N]`` is True."""
    x = np.asarray(x, dtype=np.float64)
    if mask is not None:
        x = x[np.asarray(mask, dtype=bool)]
    n = x.shape[0]
    if n == 0:
        return Moments(0.0, np.zeros(x.shape[1:]), np.ones(x.shape[1:]))
    return Moments(float(n), x.mean(axis=0), x.var(axis=0))


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Chan et al. parallel merge of two sets of moments (pure)."""
    if b.count == 0:
        return Moments(a.count, np.array(a.mean, dtype=np.float64), np.array(a.var, dtype=np.float64))
    if a.count == 0:
        return Moments(b.count, np.array(b.mean, dtype=np.float64), np.array(b.var, dtype=np.float64))
    n = a.count + b.count
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.count / n)
    m2 = a.var * a.count + b.var * b.count + delta**2 * (a.count * b.count / n)
    return Moments(n, mean, m2 / n)


class RunningNorm(nn.Module):
    """Running normaliser with its statistics as buffers (float64 for accumulation accuracy).

    ``normalize(x) = clip((x - mean) / sqrt(var + eps), -clip, clip)``; ``denormalize`` is the
    inverse without clipping. A fresh normaliser (count 0) has mean 0 and var 1, so it is the
    identity up to ``eps``.
    """

    def __init__(self, shape: tuple[int, ...], eps: float = 1e-8, clip: float = 10.0) -> None:
        super().__init__()
        self.eps = eps
        self.clip = clip
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))

    def moments(self) -> Moments:
        return Moments(float(self.count), self.mean.cpu().numpy().copy(), self.var.cpu().numpy().copy())

    @torch.no_grad()
    def merge(self, other: Moments) -> None:
        """Fold in ``other`` (e.g. a fragment's observation moments)."""
        merged = merge_moments(self.moments(), other)
        self.count.fill_(merged.count)
        self.mean.copy_(torch.as_tensor(merged.mean, dtype=torch.float64))
        self.var.copy_(torch.as_tensor(merged.var, dtype=torch.float64))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + self.eps).to(x.dtype)
        return torch.clamp((x - mean) / std, -self.clip, self.clip)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + self.eps).to(x.dtype)
        return x * std + mean
