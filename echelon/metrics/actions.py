"""Named action dimensions and the small action sample a worker sends per fragment.

:func:`action_columns` names every scalar dimension of an action space that the metrics look at:
Echelon's nine base actions (forward, strafe, vertical, yaw; primary, vent, secondary, tertiary,
special) and its discrete choices (target, ewar, sort, hostile_only); the free-form ``comm``
message is left out (its dims have no meaning of their own). Other spaces get ``action`` or
``action_<i>``. :func:`sample_actions` draws at most ``budget`` values from a fragment's actions
(valid rows only) for the ``distributions/action/*`` histograms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from gymnasium import spaces

from echelon.metrics.media import Histogram

# Dict keys whose dims carry per-dim names (ENV_SPEC "Actions"); keys listed in SKIPPED are left out.
DIM_NAMES = {
    "move": ("forward", "strafe", "vertical", "yaw"),
    "trigger": ("primary", "vent", "secondary", "tertiary", "special"),
}
SKIPPED = ("comm",)

BOX, BINARY, DISCRETE = "box", "binary", "discrete"


@dataclass(frozen=True)
class ActionColumn:
    """One scalar action dimension: ``name``; where it lives (``key`` in a Dict space or None,
    ``index`` along the last axis or None for scalar actions); ``kind`` (box: unit scale
    [-1, 1]; binary: 0/1; discrete: 0..n-1) and ``n`` (number of choices, 2 for binary, 0 for box)."""

    name: str
    key: Optional[str]
    index: Optional[int]
    kind: str
    n: int


def _columns_of(space: spaces.Space, key: Optional[str], prefix: str) -> list[ActionColumn]:
    if isinstance(space, spaces.Box):
        dims = int(np.prod(space.shape))
        names = DIM_NAMES.get(key or "", ())
        return [ActionColumn(names[i] if i < len(names) else (prefix if dims == 1 else f"{prefix}_{i}"),
                             key, i, BOX, 0) for i in range(dims)]
    if isinstance(space, spaces.MultiBinary):
        dims = int(np.prod(space.shape))
        names = DIM_NAMES.get(key or "", ())
        return [ActionColumn(names[i] if i < len(names) else f"{prefix}_{i}", key, i, BINARY, 2) for i in range(dims)]
    if isinstance(space, spaces.Discrete):
        return [ActionColumn(prefix, key, None, DISCRETE, int(space.n))]
    if isinstance(space, spaces.MultiDiscrete):
        return [ActionColumn(f"{prefix}_{i}", key, i, DISCRETE, int(n)) for i, n in enumerate(space.nvec.reshape(-1))]
    return []


def action_columns(space: spaces.Space) -> list[ActionColumn]:
    """The named scalar dims of ``space`` (a Dict of the above, or one of them), in space order."""
    if isinstance(space, spaces.Dict):
        out: list[ActionColumn] = []
        for key, sub in space.spaces.items():
            if key not in SKIPPED:
                out.extend(_columns_of(sub, key, key))
        return out
    return _columns_of(space, None, "action")


def column_values(actions: Any, col: ActionColumn) -> Any:
    """The ``[...]`` values of one column from actions shaped ``[..., (dims)]`` (array, tensor or dict)."""
    a = actions[col.key] if col.key is not None else actions
    return a if col.index is None else a[..., col.index]


def sample_actions(actions: Any, valid: np.ndarray, columns: list[ActionColumn], budget: int,
                   rng: np.random.Generator) -> Optional[dict[str, dict[str, Any]]]:
    """At most ``budget`` action values of a fragment, for the histograms (None when nothing to send).

    ``actions``: the fragment's actions ``[T, R, ...]`` (array or dict of arrays, policy unit
    scale); ``valid [T, R]`` bool. The same ``k = budget // len(columns)`` valid (t, r) rows are
    drawn uniformly without replacement for every column, so the sample holds at most
    ``k * len(columns) <= budget`` values. Returns ``{name: {"kind", "n", "values" float32 [k]}}``.
    """
    if not columns or budget < len(columns):
        return None
    rows = np.flatnonzero(np.asarray(valid).reshape(-1))
    if rows.size == 0:
        return None
    k = budget // len(columns)
    if rows.size > k:
        rows = np.sort(rng.choice(rows, size=k, replace=False))
    out = {}
    for col in columns:
        flat = np.asarray(column_values(actions, col)).reshape(-1)  # [T * R], rows as in valid
        out[col.name] = {"kind": col.kind, "n": col.n, "values": flat[rows].astype(np.float32)}
    return out


def column_histogram(kind: str, n: int, values: Any, bins: int) -> Optional[Histogram]:
    """Histogram of one action column: ``bins`` bins over [-1, 1] for box dims, one bin per choice
    (centred on it) for binary and discrete dims."""
    if kind == BOX:
        return Histogram.of(values, bins, (-1.0, 1.0))
    return Histogram.of(values, max(n, 2), (-0.5, max(n, 2) - 0.5))
