"""Counter-based randomness: a uniform for (match key, tick, purpose, element) is a hash.

A match's draws never depend on the other matches of the batch (batched == N single envs) nor on
how many draws came before. Each kind of draw has its own purpose constant.
"""

from __future__ import annotations

import numpy as np

# Purposes of the simulator's draws (any distinct constants; the heuristic uses its own).
PURPOSE_LEG = 1  # does a shot hit the legs
PURPOSE_AMS = 2  # does an AMS shot destroy its missile

_U64 = np.uint64


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def hash_uniform(key: np.ndarray, tick: np.ndarray, purpose: int, elem: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) floats from (key, tick, purpose, elem), all broadcast uint64-able arrays."""
    with np.errstate(over="ignore"):
        x = (key.astype(np.uint64) + tick.astype(np.uint64) * _U64(0x9E3779B97F4A7C15)
             + _U64(purpose) * _U64(0xD1B54A32D192ED03) + elem.astype(np.uint64) * _U64(0xABC98388FB8FAC03))
        return (_mix64(_mix64(x)) >> _U64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
