"""Non-scalar metric values: histograms, images, tables, videos; and the subsampling bound behind them.

An update record may hold these under ``distributions/``, ``spatial/``, ``episodes/`` and
``eval/`` keys. Each sink renders them its own way: the JSONL log writes :meth:`Media.to_json` (a
histogram's counts and bin edges inline; an image's, table's or video's file under
``RUN_DIR/media/`` by its path relative to the run dir), W&B gets ``wandb.Histogram`` /
``wandb.Image`` / ``wandb.Table`` / ``wandb.Video``, the console skips them. None of them holds a non-finite number.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

MEDIA_DIR = "media"


class Media:
    """Base of the non-scalar values; ``to_json()`` is what the JSONL log holds."""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Histogram(Media):
    """``counts [K]`` (int64) over ``edges [K + 1]`` (float64), plus the summary of the values."""

    counts: np.ndarray
    edges: np.ndarray
    n: int
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Any, bins: int = 32,
           value_range: Optional[tuple[float, float]] = None) -> Optional["Histogram"]:
        """Histogram of the finite ``values`` (any shape); None when there are none.

        ``value_range`` fixes the edges (e.g. ``(-1, 1)`` for unit-scale actions, so the bins line
        up from one update to the next); otherwise they span the values (a constant sample gets
        one unit-wide bin around it).
        """
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return None
        lo, hi = value_range if value_range is not None else (float(v.min()), float(v.max()))
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi))
        return cls(counts.astype(np.int64), edges, int(v.size), float(v.mean()), float(v.min()), float(v.max()))

    def to_json(self) -> dict[str, Any]:
        return {"_type": "histogram", "counts": [int(c) for c in self.counts],
                "edges": [float(e) for e in self.edges], "n": self.n, "mean": self.mean, "min": self.min,
                "max": self.max}


@dataclass(frozen=True)
class Image(Media):
    """A PNG under the run dir; ``path`` is relative to it (``media/<name>.png``)."""

    path: str
    caption: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"_type": "image", "path": self.path, "caption": self.caption}


@dataclass(frozen=True)
class Video(Media):
    """An animated GIF under the run dir; ``path`` is relative to it (``media/<name>.gif``)."""

    path: str
    caption: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"_type": "video", "path": self.path, "caption": self.caption}


@dataclass(frozen=True)
class Table(Media):
    """Rows of one table; the JSONL record holds its file (``media/<name>.json``) and shape."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    path: str
    caption: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"_type": "table", "path": self.path, "columns": list(self.columns), "rows": len(self.rows),
                "caption": self.caption}


def media_name(key: str, update: int, suffix: str) -> str:
    """File name of a metric's media at an update: ``spatial/deaths`` → ``spatial_deaths_00000050.png``."""
    return f"{key.replace('/', '_')}_{int(update):08d}{suffix}"


def write_table(run_dir: str | Path, key: str, update: int, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                caption: str = "") -> Table:
    """Write ``{"columns", "data"}`` JSON under ``RUN_DIR/media/`` (atomically) and return the :class:`Table`."""
    rel = f"{MEDIA_DIR}/{media_name(key, update, '.json')}"
    path = Path(run_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"columns": list(columns), "data": [list(r) for r in rows], "caption": caption}))
    os.replace(tmp, path)
    return Table(tuple(columns), tuple(tuple(r) for r in rows), rel, caption)


def write_media_bytes(run_dir: str | Path, key: str, update: int, suffix: str, data: bytes) -> str:
    """Write ``data`` as the media file of ``key`` at ``update`` (atomically); its path relative to ``run_dir``."""
    rel = f"{MEDIA_DIR}/{media_name(key, update, suffix)}"
    path = Path(run_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return rel


def subsample(values: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``k`` entries of ``values`` (along the first axis), uniformly without replacement.

    Returns ``values`` itself when it already has ``k`` or fewer; order is kept.
    """
    n = len(values)
    if n <= k:
        return values
    idx = np.sort(rng.choice(n, size=k, replace=False))
    return values[idx]
