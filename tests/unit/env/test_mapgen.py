"""Map generation: walkable paths, determinism, spawns, zone, materials, flood-fill twin."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import mapgen
from echelon.env.mapgen import (
    BLOCKS_MOVE,
    BLOCKS_SIGHT,
    BUILDING,
    GLASS,
    GROUND,
    LAVA,
    MATERIAL_NAMES,
    REINFORCED,
    WATER,
    FOLIAGE,
    MapData,
    flood_fill,
    generate_map,
    has_path,
    walkable,
)


def _cfg(size: int) -> EnvConfig:
    return EnvConfig(size_x=size, size_y=size)


def _bfs_reference(passable: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Plain 4-connected BFS, the slow twin of :func:`flood_fill`."""
    reach = np.zeros_like(passable)
    queue = deque()
    for i, j in zip(*np.nonzero(seeds & passable), strict=False):
        reach[i, j] = True
        queue.append((i, j))
    while queue:
        i, j = queue.popleft()
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            a, b = i + di, j + dj
            if 0 <= a < passable.shape[0] and 0 <= b < passable.shape[1] and passable[a, b] and not reach[a, b]:
                reach[a, b] = True
                queue.append((a, b))
    return reach


def test_material_tables():
    assert MATERIAL_NAMES == ("ground", "building", "reinforced", "glass", "foliage", "water", "lava")
    assert (GROUND, BUILDING, REINFORCED, GLASS, FOLIAGE, WATER, LAVA) == (0, 1, 2, 3, 4, 5, 6)
    assert BLOCKS_MOVE.tolist() == [False, True, True, True, False, False, False]
    assert BLOCKS_SIGHT.tolist() == [False, True, True, False, True, False, False]
    material = np.arange(7, dtype=np.uint8)[:, None]
    assert walkable(material, np.zeros((7, 1), np.float32))[:, 0].tolist() == [
        True, False, False, False, True, True, False,
    ]


@pytest.mark.parametrize("seed", range(20))
def test_flood_fill_matches_bfs(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 30)), int(rng.integers(1, 30)))
    passable = rng.random(shape) < rng.uniform(0.3, 0.8)
    seeds = rng.random(shape) < 0.02
    np.testing.assert_array_equal(flood_fill(passable, seeds), _bfs_reference(passable, seeds))


def test_flood_fill_winding_corridor():
    # A serpentine corridor: many turns, one path.
    passable = np.zeros((21, 21), dtype=bool)
    passable[::2, :] = True
    for k, i in enumerate(range(1, 21, 2)):
        passable[i, 20 if k % 2 == 0 else 0] = True
    seeds = np.zeros_like(passable)
    seeds[0, 0] = True
    reach = flood_fill(passable, seeds)
    np.testing.assert_array_equal(reach, passable)
    np.testing.assert_array_equal(reach, _bfs_reference(passable, seeds))


def test_has_path_detects_a_wall():
    m = generate_map(np.random.default_rng(0), _cfg(40))
    assert has_path(m)
    # A reinforced wall around the zone centre cuts every path.
    cx, cy = (int(v) for v in m.zone_center)
    blocked = m.material.copy()
    blocked[cx - 2 : cx + 3, cy - 2 : cy + 3] = REINFORCED
    blocked[cx - 1 : cx + 2, cy - 1 : cy + 2] = GROUND
    cut = MapData(
        height=m.height, material=blocked, building_hp=m.building_hp, spawn_blue=m.spawn_blue,
        spawn_red=m.spawn_red, spawn_half=m.spawn_half, zone_center=m.zone_center, zone_radius=m.zone_radius,
    )
    assert not has_path(cut)


@pytest.mark.parametrize("size", [40, 100])
def test_every_seed_has_a_path(size):
    cfg = _cfg(size)
    for seed in range(1000):
        m = generate_map(np.random.default_rng(seed), cfg)
        assert has_path(m), f"seed {seed} at {size} x {size} has no spawn-to-zone path"
        if seed < 20:
            # Independent check with the BFS twin from the zone centre.
            seeds = np.zeros(m.material.shape, dtype=bool)
            seeds[int(m.zone_center[0]), int(m.zone_center[1])] = True
            reach = _bfs_reference(walkable(m.material, m.height), seeds)
            assert reach[int(m.spawn_blue[0]), int(m.spawn_blue[1])]
            assert reach[int(m.spawn_red[0]), int(m.spawn_red[1])]


@pytest.mark.parametrize("size", [40, 100])
def test_shapes_dtypes_and_invariants(size):
    cfg = _cfg(size)
    materials_seen = np.zeros(len(MATERIAL_NAMES), dtype=bool)
    for seed in range(200):
        m = generate_map(np.random.default_rng(seed), cfg)
        assert m.height.shape == m.material.shape == m.building_hp.shape == (size, size)
        assert m.height.dtype == np.float32 and m.building_hp.dtype == np.float32
        assert m.material.dtype == np.uint8
        assert m.spawn_blue.shape == m.spawn_red.shape == m.zone_center.shape == (2,)
        assert m.spawn_blue.dtype == m.spawn_red.dtype == m.zone_center.dtype == np.float32
        assert m.spawn_half == cfg.spawn_size / 2
        assert cfg.zone_radius_min <= m.zone_radius <= cfg.zone_radius_max
        # Blue bottom-left, red top-right.
        assert m.spawn_blue[0] < size / 2 and m.spawn_blue[1] < size / 2
        assert m.spawn_red[0] > size / 2 and m.spawn_red[1] > size / 2
        # Spawn squares are open ground, fully on the map.
        h = int(m.spawn_half)
        for s in (m.spawn_blue, m.spawn_red):
            x0, y0 = int(s[0]) - h, int(s[1]) - h
            assert x0 >= 0 and y0 >= 0 and x0 + 2 * h <= size and y0 + 2 * h <= size
            assert (m.material[x0 : x0 + 2 * h, y0 : y0 + 2 * h] == GROUND).all()
            assert (m.height[x0 : x0 + 2 * h, y0 : y0 + 2 * h] == 0).all()
        # Zone circle on the map, off both spawn squares, and cleared.
        c, r = m.zone_center.astype(np.float64), m.zone_radius
        assert r <= c[0] <= size - r and r <= c[1] <= size - r
        for s in (m.spawn_blue, m.spawn_red):
            gap = np.maximum(np.abs(c - s) - m.spawn_half, 0.0)
            assert np.hypot(*gap) >= r
        ii, jj = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="ij")
        inside = (ii - c[0]) ** 2 + (jj - c[1]) ** 2 <= r * r
        assert (m.material[inside] == GROUND).all()
        # HP only on building columns; low walls are buildings <= 1.5 m.
        assert ((m.building_hp > 0) == (m.material == BUILDING)).all()
        assert (m.height[m.material == WATER] == 0).all() and (m.height[m.material == LAVA] == 0).all()
        assert (m.height[BLOCKS_MOVE[m.material]] > 0).all()
        materials_seen[np.unique(m.material)] = True
    assert materials_seen.all(), f"materials never generated: {np.array(MATERIAL_NAMES)[~materials_seen]}"


def test_low_walls_present():
    cfg = _cfg(100)
    m = generate_map(np.random.default_rng(3), cfg)
    low = (m.material == BUILDING) & (m.height <= mapgen.LOW_WALL_MAX_HEIGHT)
    tall = (m.material == BUILDING) & (m.height >= 3.0)
    assert low.any() and tall.any()


def test_deterministic_per_seed():
    cfg = _cfg(100)
    a = generate_map(np.random.default_rng(123), cfg)
    b = generate_map(np.random.default_rng(123), cfg)
    c = generate_map(np.random.default_rng(124), cfg)
    for name in ("height", "material", "building_hp", "spawn_blue", "spawn_red", "zone_center"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.zone_radius == b.zone_radius
    assert not np.array_equal(a.material, c.material)


def test_zone_quadrants_vary():
    cfg = _cfg(100)
    quadrants = set()
    for seed in range(200):
        m = generate_map(np.random.default_rng(seed), cfg)
        quadrants.add((bool(m.zone_center[0] >= 50), bool(m.zone_center[1] >= 50)))
    assert quadrants == {(False, False), (False, True), (True, False), (True, True)}


def test_benchmark_reports_fields():
    out = mapgen.benchmark(size=40, count=5, seed=0)
    assert set(out) == {"size", "count", "mean_ms", "p50_ms", "p99_ms", "max_ms", "regenerations"}
    assert out["size"] == 40 and out["count"] == 5
    assert 0 < out["p50_ms"] <= out["max_ms"]
    assert out["regenerations"] == 0
