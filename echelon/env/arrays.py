"""Small NumPy helpers for the simulator's hot path (same results as the plain NumPy calls)."""

from __future__ import annotations

import numpy as np


def clamp(a, lo, hi):
    """np.clip without its Python-level overhead."""
    return np.minimum(np.maximum(a, lo), hi)


def nonzero(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """``np.nonzero(mask)`` (same indices, same C order) for a C-contiguous mask; several times
    faster on 3-d masks, where np.nonzero walks every element with a per-element index update."""
    return np.unravel_index(np.flatnonzero(mask), mask.shape)
