"""Heat maps over the map: world coordinates onto a grid, accumulated, drawn with matplotlib.

One grid contract for the env and the metrics: the map ``[0, size_x) x [0, size_y)`` metres is
split into ``bins x bins`` cells; cell ``(ix, iy)`` (x first, as the simulator's damage heat
map) holds ``x`` in ``[ix, ix + 1) * size_x / bins``. Points outside the map are clipped to the
border cells; NaN points (no position) are dropped. :func:`world_to_cell` is the mapping,
:class:`SpatialAccumulator` sums deaths, damage and movement over the matches between two heat
maps, :func:`render_heatmap` writes one PNG.
"""

from __future__ import annotations

import os

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

DEFAULT_BINS = 16  # the simulator's damage heat map resolution (echelon.env.sim.HEATMAP_BINS)
TEAMS = ("blue", "red")


def world_to_cell(x: Any, y: Any, size_x: float, size_y: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell indices ``(ix, iy)`` (int64, same shape as ``x``/``y``) of world points in metres.

    ``ix = floor(x / size_x * bins)`` clipped to ``[0, bins - 1]`` (likewise ``iy``): the corner
    (0, 0) is cell (0, 0), the far edge ``x = size_x`` falls in the last cell, the centre in
    ``bins // 2``. NaN coordinates map to -1 (callers drop them).
    """
    # The occupancy grid calls this every env step on the rollout worker (a few dozen points):
    # NumPy's per-call overhead is the cost (no nan_to_num copies, no np.where unless a point
    # is bad). A non-finite coordinate goes through the arithmetic as NaN/inf and its garbage
    # index is replaced by -1; finite ones give the same cells as before.
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ix = np.clip(np.floor(x * (bins / size_x)), 0, bins - 1).astype(np.int64)
        iy = np.clip(np.floor(y * (bins / size_y)), 0, bins - 1).astype(np.int64)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        return np.where(bad, -1, ix), np.where(bad, -1, iy)
    return np.asarray(ix), np.asarray(iy)


def points_to_grid(points: Sequence[Sequence[float]], size_x: float, size_y: float, bins: int,
                   weights: Optional[Sequence[float]] = None) -> np.ndarray:
    """Sum of ``weights`` (default 1) per cell of ``points [P, 2]`` (metres): float64 ``[bins, bins]``."""
    grid = np.zeros((bins, bins), np.float64)
    if len(points) == 0:
        return grid
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    ix, iy = world_to_cell(pts[:, 0], pts[:, 1], size_x, size_y, bins)
    keep = ix >= 0
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
    np.add.at(grid, (ix[keep], iy[keep]), w[keep])
    return grid


class SpatialAccumulator:
    """Deaths, damage and movement summed over matches, on a ``bins x bins`` grid per team.

    ``deaths [2, B, B]``: mechs that died in each cell (blue, red). ``damage [B, B]``: HP of every
    hit landed in each cell. ``movement [2, B, B]``: living mech-steps per cell (from the env's
    occupancy grids). Grids of another resolution than ``bins`` (an env with its own heat map
    size) are resampled by block sums when ``bins`` divides theirs, else skipped. Each match is
    binned over its own map, so with a curriculum over map sizes a cell is the same fraction of
    every match's map; ``map_size`` (the axes' metres) is the largest map folded in since the
    last reset, which also keeps one cached figure per period instead of one per size.
    """

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        self.bins = bins
        self.reset()

    def reset(self) -> None:
        b = self.bins
        self.deaths = np.zeros((2, b, b))
        self.damage = np.zeros((b, b))
        self.movement = np.zeros((2, b, b))
        self.matches = 0
        self.map_size: Optional[tuple[float, float]] = None

    def add(self, ep: dict[str, Any]) -> None:
        """Fold in one compact episode record (those without a map size are ignored)."""
        if not ep.get("map_size"):
            return
        sx, sy = (float(v) for v in ep["map_size"])
        big = self.map_size or (0.0, 0.0)
        self.map_size = (max(big[0], sx), max(big[1], sy))
        self.matches += 1
        for t, team in enumerate(TEAMS):
            pts = [(x, y) for x, y, who in ep.get("deaths", ()) if who == team]
            self.deaths[t] += points_to_grid(pts, sx, sy, self.bins)
        if ep.get("damage_grid") is not None:
            self.damage += self._fit(np.asarray(ep["damage_grid"], dtype=np.float64))
        if ep.get("occupancy") is not None:
            occ = np.asarray(ep["occupancy"], dtype=np.float64)
            for t in range(2):
                self.movement[t] += self._fit(occ[t])

    def _fit(self, grid: np.ndarray) -> np.ndarray:
        n = grid.shape[0]
        if n == self.bins:
            return grid
        if n % self.bins == 0:
            k = n // self.bins
            return grid.reshape(self.bins, k, self.bins, k).sum((1, 3))
        return np.zeros((self.bins, self.bins))


class _Figure:
    """One heat-map figure kept between renders, drawn by blitting: axes, ticks and colorbars are
    drawn once and cached as a background; a render restores it and draws only the images and the
    titles (text layout of ticks is what makes a full matplotlib draw slow, ~0.3 s a figure in the
    metrics actor, which shares the cores with the workers and the learner). Each panel is scaled
    to its own maximum (colorbar 0..1) and its title gives that maximum in ``unit``."""

    def __init__(self, panels: int, map_size: tuple[float, float], unit: str) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = fig = Figure(figsize=(3.6 * panels + 0.6, 3.8), dpi=80)
        self.canvas = FigureCanvasAgg(fig)
        sx, sy = map_size
        self.axes, self.images, self.titles = [], [], []
        for i in range(panels):
            ax = fig.add_subplot(1, panels, i + 1)
            # Transposed: rows of the image are y, columns x; origin lower puts (0, 0) bottom left.
            im = ax.imshow(np.zeros((2, 2)), origin="lower", extent=(0, sx, 0, sy), cmap="inferno",
                           interpolation="nearest", vmin=0.0, vmax=1.0)
            ax.set_xlabel("x (m)", fontsize=8)
            ax.set_ylabel("y (m)", fontsize=8)
            ax.tick_params(labelsize=7)
            cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
            cbar.ax.tick_params(labelsize=7)
            cbar.set_label(f"share of the panel's max ({unit})", fontsize=7)
            self.axes.append(ax)
            self.images.append(im)
            self.titles.append(ax.set_title("", fontsize=9))
        self.suptitle = fig.suptitle("", fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        fig.set_layout_engine("none")
        for artist in (*self.images, *self.titles, self.suptitle):
            artist.set_animated(True)  # left out of the cached background
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def render(self, path: Path, grids: Sequence[np.ndarray], titles: Sequence[str], suptitle: str,
               unit: str) -> None:
        from PIL import Image as PILImage

        self.canvas.restore_region(self.background)
        for ax, im, text, grid, title in zip(self.axes, self.images, self.titles, grids, titles, strict=True):
            data = np.asarray(grid, dtype=np.float64).T
            hi = float(data.max()) if data.size else 0.0
            im.set_data(data / hi if hi > 0 else data)
            text.set_text(f"{title} (max {hi:.3g} {unit})")
            ax.draw_artist(im)
            ax.draw_artist(text)
        self.suptitle.set_text(suptitle)
        self.fig.draw_artist(self.suptitle)
        # Atomic, as every media file: a reader (W&B, a user) never sees half a PNG.
        tmp = path.with_name(path.name + ".tmp")
        # Fastest zlib level: a few ms less per panel in the metrics actor for a slightly larger file.
        rgb = np.asarray(self.canvas.buffer_rgba())[..., :3]
        PILImage.fromarray(rgb).save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)


_FIGURES: dict[tuple, _Figure] = {}


def render_heatmap(path: str | Path, grids: Sequence[np.ndarray], titles: Sequence[str], suptitle: str,
                   map_size: tuple[float, float], unit: str) -> Path:
    """Write one PNG with a panel per grid (``[B, B]`` each, x first), map metres on the axes.

    Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch); the
    figure for a panel count, map size and unit is built once per process and reused.
    """
    key = (len(grids), tuple(float(v) for v in map_size), unit)
    if key not in _FIGURES:
        _FIGURES[key] = _Figure(len(grids), map_size, unit)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _FIGURES[key].render(path, grids, titles, suptitle, unit)
    return path
