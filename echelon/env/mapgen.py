"""Procedural map generation (ENV_SPEC 'The match').

A map is a 2.5D grid of 1 m columns: ``height [size_x, size_y]`` in metres (0 = open ground) and
``material [size_x, size_y]`` (codes below). Cell ``(i, j)`` covers ``x in [i, i+1)``,
``y in [j, j+1)``.

Generation paints axis-aligned rectangles by slicing (water and lava patches, foliage, buildings,
reinforced blocks, glass panes, low walls), then clears the two spawn squares (blue bottom-left,
red top-right), the capture-zone disc and an L-shaped lane from each spawn to the zone. The
clearing makes a path likely by construction; :func:`has_path` checks it with a vectorised
flood fill and the map is regenerated on failure, so the guarantee does not rest on the
construction being right.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from echelon.config import EnvConfig

GROUND = 0
BUILDING = 1
REINFORCED = 2
GLASS = 3
FOLIAGE = 4
WATER = 5
LAVA = 6
MATERIAL_NAMES = ("ground", "building", "reinforced", "glass", "foliage", "water", "lava")
NUM_MATERIALS = len(MATERIAL_NAMES)

# Lookup tables indexed by material code: ``BLOCKS_MOVE[material]`` is a bool array of the map's shape.
BLOCKS_MOVE = np.zeros(NUM_MATERIALS, dtype=bool)
BLOCKS_MOVE[[BUILDING, REINFORCED, GLASS]] = True
BLOCKS_SIGHT = np.zeros(NUM_MATERIALS, dtype=bool)
BLOCKS_SIGHT[[BUILDING, REINFORCED, FOLIAGE]] = True

# Tallest low wall a jump-jet mech can clear (m); low walls are building material.
LOW_WALL_MAX_HEIGHT = 1.5
# Hit points per metre of building column height (a 10 m column has 250 HP).
BUILDING_HP_PER_M = 25.0
# Width of the cleared lanes from each spawn to the zone (cells); wide enough for a heavy (3.5 m).
LANE_WIDTH = 4
# Regeneration attempts before giving up (a failure here means the generator is broken).
MAX_ATTEMPTS = 100

# Feature table, one row per kind of rectangle:
# (material, rectangles per 10,000 m^2, long side range m, short side range m, height range m).
# Rectangles are painted in this order, later ones over earlier ones.
_FEATURES = (
    (WATER, 6.0, (4, 11), (3, 8), (0.0, 0.0)),
    (LAVA, 4.0, (2, 7), (2, 5), (0.0, 0.0)),
    (FOLIAGE, 14.0, (3, 9), (2, 7), (2.0, 4.0)),
    (BUILDING, 22.0, (3, 11), (3, 9), (3.0, 12.0)),
    (REINFORCED, 8.0, (2, 6), (2, 5), (4.0, 10.0)),
    (GLASS, 8.0, (3, 9), (1, 2), (3.0, 5.0)),
    # Low walls: thin building strips a jumper can clear.
    (BUILDING, 18.0, (4, 11), (1, 2), (0.8, LOW_WALL_MAX_HEIGHT)),
)


@dataclass
class MapData:
    """One generated map.

    Attributes:
        height: ``[size_x, size_y]`` float32, column height in metres (0 = open ground).
        material: ``[size_x, size_y]`` uint8 material codes (``GROUND`` .. ``LAVA``).
        building_hp: ``[size_x, size_y]`` float32 hit points of destructible (``BUILDING``)
            columns; 0 elsewhere (reinforced columns are indestructible by material).
        spawn_blue: ``[2]`` float32 centre (x, y) of blue's spawn square, metres.
        spawn_red: ``[2]`` float32 centre (x, y) of red's spawn square, metres.
        spawn_half: half side of the square spawn areas (m), ``cfg.spawn_size / 2``.
        zone_center: ``[2]`` float32 capture-zone centre (x, y), metres.
        zone_radius: capture-zone radius, metres.
        regenerations: how many candidate maps failed the path check before this one.
    """

    height: np.ndarray
    material: np.ndarray
    building_hp: np.ndarray
    spawn_blue: np.ndarray
    spawn_red: np.ndarray
    spawn_half: float
    zone_center: np.ndarray
    zone_radius: float
    regenerations: int = 0


def walkable(material: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Bool array of ``material``'s shape: True where a mech can walk (not blocking, not lava).

    ``height`` is accepted for the interface (a column's walkability is decided by its
    material; low walls are building material and count as blocked, since only jumpers clear
    them).
    """
    del height
    return ~BLOCKS_MOVE[material] & (material != LAVA)


def _run_labels(mask: np.ndarray) -> np.ndarray:
    """Label maximal runs of True along axis 1 of ``mask [X, Y]``: int array [X, Y], 0 off-mask.

    A run never crosses rows because the first column of every row is always a run start.
    """
    start = mask.copy()
    start[:, 1:] &= ~mask[:, :-1]
    labels = np.cumsum(start.ravel()).reshape(mask.shape)
    labels[~mask] = 0
    return labels


def flood_fill(passable: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Cells 4-connected to ``seeds`` through ``passable`` cells.

    Args:
        passable: ``[X, Y]`` bool.
        seeds: ``[X, Y]`` bool; seeds on impassable cells are ignored.

    Returns:
        ``[X, Y]`` bool reach mask.

    Propagates whole row runs, then whole column runs, until nothing changes, so the number of
    NumPy passes grows with the number of turns on a path, not with its length.
    """
    rows = _run_labels(passable)
    cols = _run_labels(np.ascontiguousarray(passable.T)).T
    n_rows, n_cols = int(rows.max()) + 1, int(cols.max()) + 1
    reach = seeds & passable
    count = int(reach.sum())
    while True:
        hit = np.zeros(n_rows, dtype=bool)
        hit[rows[reach]] = True
        hit[0] = False
        reach = hit[rows]
        hit = np.zeros(n_cols, dtype=bool)
        hit[cols[reach]] = True
        hit[0] = False
        reach = hit[cols]
        new_count = int(reach.sum())
        if new_count == count:
            return reach
        count = new_count


def _cell(point: np.ndarray) -> tuple[int, int]:
    return int(np.floor(point[0])), int(np.floor(point[1]))


def has_path(mapdata: MapData) -> bool:
    """True when both spawn centres are 4-connected to the zone centre over walkable cells."""
    passable = walkable(mapdata.material, mapdata.height)
    seeds = np.zeros_like(passable)
    seeds[_cell(mapdata.zone_center)] = True
    reach = flood_fill(passable, seeds)
    return bool(reach[_cell(mapdata.spawn_blue)] and reach[_cell(mapdata.spawn_red)])


def _paint_features(rng: np.random.Generator, height: np.ndarray, material: np.ndarray) -> None:
    size_x, size_y = material.shape
    area = size_x * size_y
    for mat, density, long_side, short_side, h_range in _FEATURES:
        # At least one of each so every material shows up on small maps too.
        n = max(1, int(rng.poisson(density * area / 10_000.0)))
        long_len = rng.integers(long_side[0], long_side[1] + 1, size=n)
        short_len = rng.integers(short_side[0], short_side[1] + 1, size=n)
        along_x = rng.random(n) < 0.5
        w = np.where(along_x, long_len, short_len)
        h = np.where(along_x, short_len, long_len)
        x0 = rng.integers(0, size_x - w + 1)
        y0 = rng.integers(0, size_y - h + 1)
        z = rng.uniform(h_range[0], h_range[1], size=n).astype(np.float32)
        for k in range(n):
            sl = (slice(x0[k], x0[k] + w[k]), slice(y0[k], y0[k] + h[k]))
            material[sl] = mat
            height[sl] = z[k]


def _clear_rect(height: np.ndarray, material: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> None:
    """Set cells overlapping ``[x0, x1) x [y0, y1)`` (metres, clipped to the map) to open ground."""
    sx, sy = material.shape
    i0, i1 = max(0, int(np.floor(x0))), min(sx, int(np.ceil(x1)))
    j0, j1 = max(0, int(np.floor(y0))), min(sy, int(np.ceil(y1)))
    material[i0:i1, j0:j1] = GROUND
    height[i0:i1, j0:j1] = 0.0


def _place_zone(
    rng: np.random.Generator, cfg: EnvConfig, size: np.ndarray, spawns: np.ndarray, half: float
) -> tuple[np.ndarray, float]:
    """Pick the zone centre [2] (m) and radius (m) clear of both spawn squares on a map of
    ``size [2]`` (m, float64).

    The centre is drawn in a random quadrant; if no candidate there keeps the circle off the
    spawns (the spawn quadrants of small maps with a large radius), candidates over the whole
    map are tried, then the radius shrinks to the best candidate's clearance (never below
    ``zone_radius_min`` unless the map cannot hold it).
    """
    radius = float(rng.uniform(cfg.zone_radius_min, cfg.zone_radius_max))
    quadrant = rng.integers(0, 2, size=2)
    n = 64
    u = rng.random((2, n, 2))
    # Candidates: first half in the chosen quadrant, second half anywhere on the map.
    lo_q = quadrant * size / 2
    cand_q = lo_q + u[0] * size / 2
    cand_any = u[1] * size
    cand = np.concatenate([cand_q, cand_any])
    # Distance from each candidate to each spawn square (0 inside): [2n, 2].
    gap = np.maximum(np.abs(cand[:, None, :] - spawns[None, :, :]) - half, 0.0)
    spawn_clear = np.sqrt((gap**2).sum(-1)).min(axis=1) - 1.0
    edge_clear = np.minimum(cand, size - cand).min(axis=1)
    clearance = np.minimum(spawn_clear, edge_clear)
    ok = np.flatnonzero(clearance >= radius)
    if ok.size:
        return cand[ok[0]].astype(np.float32), radius
    best = int(np.argmax(clearance))
    radius = float(max(min(radius, clearance[best]), min(cfg.zone_radius_min, clearance[best])))
    return cand[best].astype(np.float32), radius


def _clear_lane(
    rng: np.random.Generator, height: np.ndarray, material: np.ndarray, a: np.ndarray, b: np.ndarray
) -> None:
    """Clear an L-shaped lane ``LANE_WIDTH`` cells wide from point ``a`` to ``b`` (m)."""
    w = LANE_WIDTH / 2.0
    corner = np.array([b[0], a[1]]) if rng.random() < 0.5 else np.array([a[0], b[1]])
    for p, q in ((a, corner), (corner, b)):
        _clear_rect(
            height, material,
            min(p[0], q[0]) - w, max(p[0], q[0]) + w,
            min(p[1], q[1]) - w, max(p[1], q[1]) + w,
        )


def _candidate(rng: np.random.Generator, cfg: EnvConfig, size_x: int, size_y: int) -> MapData:
    shape = (size_x, size_y)
    height = np.zeros(shape, dtype=np.float32)
    material = np.zeros(shape, dtype=np.uint8)
    _paint_features(rng, height, material)

    half = cfg.spawn_size / 2.0
    # One metre from the map edge so the spawn square is fully on the map.
    spawn_blue = np.array([1.0 + half, 1.0 + half], dtype=np.float32)
    spawn_red = np.array([size_x - 1.0 - half, size_y - 1.0 - half], dtype=np.float32)
    spawns = np.stack([spawn_blue, spawn_red]).astype(np.float64)
    zone_center, zone_radius = _place_zone(rng, cfg, np.array(shape, dtype=np.float64), spawns, half)

    for s in spawns:
        _clear_rect(height, material, s[0] - half, s[0] + half, s[1] - half, s[1] + half)
    # Zone disc: every cell whose centre lies within radius + 0.5 m (covers the rim cells).
    cx, cy = float(zone_center[0]), float(zone_center[1])
    r = zone_radius + 0.5
    i0, i1 = max(0, int(cx - r)), min(size_x, int(np.ceil(cx + r)) + 1)
    j0, j1 = max(0, int(cy - r)), min(size_y, int(np.ceil(cy + r)) + 1)
    di = np.arange(i0, i1) + 0.5 - cx
    dj = np.arange(j0, j1) + 0.5 - cy
    disc = di[:, None] ** 2 + dj[None, :] ** 2 <= r * r
    material[i0:i1, j0:j1][disc] = GROUND
    height[i0:i1, j0:j1][disc] = 0.0
    for s in spawns:
        _clear_lane(rng, height, material, s, zone_center.astype(np.float64))

    building_hp = np.where(material == BUILDING, height * BUILDING_HP_PER_M, 0.0).astype(np.float32)
    return MapData(
        height=height,
        material=material,
        building_hp=building_hp,
        spawn_blue=spawn_blue,
        spawn_red=spawn_red,
        spawn_half=half,
        zone_center=zone_center,
        zone_radius=zone_radius,
    )


def generate_map(rng: np.random.Generator, cfg: EnvConfig, size: tuple[int, int] | None = None) -> MapData:
    """Generate a map from ``rng`` for ``cfg`` (``spawn_size``, zone radii) of ``size = (x, y)``
    cells (default ``(cfg.size_x, cfg.size_y)``; a per-match curriculum size passes its own).

    Deterministic given the generator state. Candidates failing :func:`has_path` are discarded
    (``MapData.regenerations`` counts them); raises ``RuntimeError`` after ``MAX_ATTEMPTS``.
    """
    size_x, size_y = (cfg.size_x, cfg.size_y) if size is None else (int(size[0]), int(size[1]))
    if min(size_x, size_y) < cfg.min_side:
        raise ValueError(f"map size {size_x} x {size_y} is below the smallest side {cfg.min_side} m that holds "
                         f"two {cfg.spawn_size} m spawn areas and a zone")
    for attempt in range(MAX_ATTEMPTS):
        mapdata = _candidate(rng, cfg, size_x, size_y)
        if has_path(mapdata):
            mapdata.regenerations = attempt
            return mapdata
    raise RuntimeError(
        f"map generation found no walkable spawn-to-zone path in {MAX_ATTEMPTS} attempts "
        f"for a {size_x} x {size_y} map with spawn_size={cfg.spawn_size}"
    )


def benchmark(size: int, count: int, seed: int) -> dict:
    """Time ``count`` generations of ``size x size`` maps from ``seed``.

    Returns ``{size, count, mean_ms, p50_ms, p99_ms, max_ms, regenerations}`` (wall-clock
    milliseconds per map; regenerations summed over all maps).
    """
    cfg = EnvConfig(size_x=size, size_y=size)
    rng = np.random.default_rng(seed)
    times = np.empty(count, dtype=np.float64)
    regenerations = 0
    for k in range(count):
        t0 = time.perf_counter()
        mapdata = generate_map(rng, cfg)
        times[k] = (time.perf_counter() - t0) * 1e3
        regenerations += mapdata.regenerations
    return {
        "size": size,
        "count": count,
        "mean_ms": round(float(times.mean()), 4),
        "p50_ms": round(float(np.percentile(times, 50)), 4),
        "p99_ms": round(float(np.percentile(times, 99)), 4),
        "max_ms": round(float(times.max()), 4),
        "regenerations": regenerations,
    }
