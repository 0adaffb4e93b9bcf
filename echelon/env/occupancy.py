"""Per-match movement occupancy: where living mechs stood, counted per step on a coarse grid.

The movement heat map of the metrics (``spatial/movement``) needs positions over a whole match;
sending them per step would cost a vector per step, so the env counts them here, one in-place
``np.add.at`` per step from public sim state (``pos [E, M, 3]``, ``alive [E, M]``, ``team [M]``),
and reports one ``[2, B, B]`` grid per finished match. The grid follows the metrics' contract
(:func:`echelon.metrics.spatial.world_to_cell`): x first, ``B x B`` cells over the map. Off
unless a caller switches it on (``EchelonVecEnv.track_occupancy``); it reads the simulator and
never changes it.
"""

from __future__ import annotations

import numpy as np

from echelon.metrics.spatial import DEFAULT_BINS, world_to_cell


class OccupancyGrid:
    """Counts of living mech-steps per cell, per match and team: ``counts [E, 2, B, B]`` float32."""

    def __init__(self, num_envs: int, team: np.ndarray, size_x: float, size_y: float, bins: int = DEFAULT_BINS):
        self.E, self.B = num_envs, bins
        self.size = (float(size_x), float(size_y))
        self.counts = np.zeros((num_envs, 2, bins, bins), np.float32)
        M = len(team)
        # Flat offset of (match, team) for every mech slot: e * 2B^2 + team * B^2.
        self._base = (np.arange(num_envs)[:, None] * 2 * bins * bins + np.asarray(team)[None, :] * bins * bins)
        self._base = self._base.reshape(num_envs, M).astype(np.int64)

    def add(self, pos: np.ndarray, alive: np.ndarray, size_x=None, size_y=None) -> None:
        """Count one step: ``pos [E, M, >=2]`` metres, ``alive [E, M]`` bool; ``size_x, size_y``
        (m, scalars or ``[E, 1]`` arrays): each match's map when it is not the grid's default."""
        sx = self.size[0] if size_x is None else size_x
        sy = self.size[1] if size_y is None else size_y
        ix, iy = world_to_cell(pos[..., 0], pos[..., 1], sx, sy, self.B)
        flat = self._base + ix * self.B + iy
        # Index arrays of E x M entries only; the grid is written in place.
        np.add.at(self.counts.reshape(-1), flat[alive & (ix >= 0)], 1.0)

    def take(self, e: int) -> np.ndarray:
        """Match ``e``'s grid ``[2, B, B]`` (a copy), then zero it for the next match."""
        out = self.counts[e].copy()
        self.counts[e] = 0.0
        return out

    def clear(self) -> None:
        self.counts[...] = 0.0
