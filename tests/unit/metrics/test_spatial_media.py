"""The spatial grid mapping, heat-map accumulation, histograms and the action-sample bound."""

import numpy as np
import pytest
from gymnasium import spaces

from echelon.config import load_config
from echelon.env.actions import build_action_space
from echelon.metrics.actions import BINARY, BOX, DISCRETE, action_columns, column_histogram, sample_actions
from echelon.metrics.media import Histogram, subsample
from echelon.metrics.spatial import SpatialAccumulator, points_to_grid, render_heatmap, world_to_cell


def test_world_to_cell_corners_centre_and_clipping():
    x = np.array([0.0, 40.0, 39.99, 20.0, 2.5, -5.0, 100.0, np.nan])
    y = np.array([0.0, 40.0, 0.0, 20.0, 2.49, 100.0, -1.0, 3.0])
    ix, iy = world_to_cell(x, y, 40.0, 40.0, 16)  # 2.5 m cells
    assert ix.tolist() == [0, 15, 15, 8, 1, 0, 15, -1]
    assert iy.tolist() == [0, 15, 0, 8, 0, 15, 0, -1]
    # Non-square maps scale each axis on its own.
    assert [int(v) for v in world_to_cell(50.0, 50.0, 100.0, 200.0, 4)] == [2, 1]


def test_points_to_grid_sums_and_drops_nan():
    grid = points_to_grid([(0.0, 0.0), (1.0, 1.0), (39.0, 1.0), (np.nan, 5.0)], 40.0, 40.0, 4, weights=[1, 2, 3, 9])
    expected = np.zeros((4, 4))
    expected[0, 0] = 3.0
    expected[3, 0] = 3.0
    np.testing.assert_array_equal(grid, expected)
    assert points_to_grid([], 40.0, 40.0, 4).sum() == 0.0


def test_spatial_accumulator_deaths_damage_movement(tmp_path):
    acc = SpatialAccumulator(bins=4)
    occ = np.zeros((2, 8, 8), np.float32)
    occ[0, 0, 0] = occ[0, 1, 1] = 2.0  # one 2x2 block of the 8-bin grid -> cell (0, 0) of 4 bins
    occ[1, 7, 7] = 5.0
    damage = np.zeros((4, 4))
    damage[2, 3] = 12.5
    acc.add({"map_size": [40, 40], "deaths": [[1.0, 1.0, "blue"], [39.0, 39.0, "red"], [39.5, 38.0, "red"]],
             "damage_grid": damage, "occupancy": occ})
    acc.add({"return": 1.0})  # no map: ignored
    assert acc.matches == 1 and acc.deaths[0, 0, 0] == 1 and acc.deaths[1, 3, 3] == 2
    assert acc.damage[2, 3] == 12.5 and acc.movement[0, 0, 0] == 4.0 and acc.movement[1, 3, 3] == 5.0
    out = render_heatmap(tmp_path / "m.png", list(acc.deaths), ["blue", "red"], "deaths", (40.0, 40.0), "deaths")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc.reset()
    assert acc.matches == 0 and acc.deaths.sum() == 0 and acc.map_size is None


def test_accumulator_axes_follow_the_largest_map_of_a_curriculum():
    acc = SpatialAccumulator(bins=4)
    # Each match is binned over its own map: the far corner of a 32 m and of a 40 m map share a cell.
    acc.add({"map_size": [40, 40], "deaths": [[39.0, 39.0, "red"]]})
    acc.add({"map_size": [32, 36], "deaths": [[31.0, 35.0, "red"]]})
    assert acc.map_size == (40.0, 40.0) and acc.deaths[1, 3, 3] == 2
    acc.reset()
    acc.add({"map_size": [32, 36], "deaths": []})
    assert acc.map_size == (32.0, 36.0)


def test_histogram_values_and_edge_cases():
    h = Histogram.of([0.0, 1.0, 1.0, 2.0, np.nan], bins=2)
    assert h.counts.tolist() == [1, 3] and h.edges.tolist() == [0.0, 1.0, 2.0]
    assert (h.n, h.mean, h.min, h.max) == (4, 1.0, 0.0, 2.0)
    const = Histogram.of([5.0, 5.0], bins=4)
    assert const.edges[0] == 4.5 and const.edges[-1] == 5.5 and const.counts.sum() == 2
    assert Histogram.of([]) is None and Histogram.of([np.nan]) is None
    # Fixed range: values outside land in the border bins.
    h = Histogram.of([-3.0, 0.1, 3.0], bins=2, value_range=(-1.0, 1.0))
    assert h.counts.tolist() == [1, 2]
    d = column_histogram(DISCRETE, 3, [0, 2, 2, 1], bins=32)
    assert d.edges.tolist() == [-0.5, 0.5, 1.5, 2.5] and d.counts.tolist() == [1, 1, 2]


def test_subsample_bound_and_order():
    rng = np.random.default_rng(0)
    v = np.arange(100)
    s = subsample(v, 10, rng)
    assert len(s) == 10 and len(set(s.tolist())) == 10 and (np.diff(s) > 0).all()
    assert subsample(v[:5], 10, rng) is not None and len(subsample(v[:5], 10, rng)) == 5


def test_echelon_action_columns_are_the_named_dims():
    cols = action_columns(build_action_space())
    names = {c.name: c for c in cols}
    assert set(names) == {"forward", "strafe", "vertical", "yaw", "primary", "vent", "secondary", "tertiary",
                          "special", "target", "ewar", "sort", "hostile_only"}
    assert names["yaw"].kind == BOX and names["vent"].kind == BINARY and names["ewar"].n == 3
    assert [c.name for c in action_columns(spaces.Discrete(2))] == ["action"]
    assert [c.name for c in action_columns(spaces.Box(-1, 1, (2,)))] == ["action_0", "action_1"]


def test_action_sample_bound_valid_rows_only():
    space = build_action_space()
    cols = action_columns(space)
    T, R = 16, 40
    rng = np.random.default_rng(1)
    actions = {k: np.zeros((T, R, *s.shape), np.float32 if isinstance(s, spaces.Box) else np.int64)
               for k, s in space.spaces.items()}
    actions["trigger"] = np.ones((T, R, 5), np.float32)
    valid = np.ones((T, R), bool)
    valid[:, ::2] = False
    actions["move"][valid] = 0.5
    actions["move"][~valid] = 9.0  # garbage of dead rows must not be sampled
    budget = 100
    sample = sample_actions(actions, valid, cols, budget, rng)
    total = sum(len(c["values"]) for c in sample.values())
    assert total <= budget and total == (budget // len(cols)) * len(cols)
    assert set(sample) == {c.name for c in cols}
    assert np.all(sample["forward"]["values"] == 0.5) and np.all(sample["primary"]["values"] == 1.0)
    # A budget larger than the valid rows sends each valid row once; too small a budget sends nothing.
    big = sample_actions(actions, valid, cols, 10**6, rng)
    assert len(big["yaw"]["values"]) == valid.sum()
    assert sample_actions(actions, valid, cols, len(cols) - 1, rng) is None
    assert sample_actions(actions, np.zeros((T, R), bool), cols, budget, rng) is None


@pytest.mark.parametrize("bins", [16, 32])
def test_action_histogram_uses_unit_range_for_box(bins):
    h = column_histogram(BOX, 0, [-1.0, 0.0, 1.0], bins)
    assert h.edges[0] == -1.0 and h.edges[-1] == 1.0 and len(h.counts) == bins


def test_reporter_sends_an_action_sample_every_histogram_stride():
    from types import SimpleNamespace

    from echelon.metrics.episodes import EpisodeReporter

    cfg = load_config(None, ["metrics.histogram_every=3", "metrics.action_sample_values=64"])
    reporter = EpisodeReporter(cfg, seed=0)
    space = build_action_space()
    reporter.columns = action_columns(space)
    T, R = 4, 6
    frag = SimpleNamespace(
        episodes=[],
        actions={k: np.zeros((T, R, *s.shape), np.float32 if isinstance(s, spaces.Box) else np.int64)
                 for k, s in space.spaces.items()},
        valid=np.ones((T, R), bool),
    )
    sent = [reporter.report(frag)[1] is not None for _ in range(7)]
    assert sent == [True, False, False, True, False, False, True]
    for sample in (reporter.report(frag)[1] for _ in range(3)):
        assert sample is None or sum(len(c["values"]) for c in sample.values()) <= 64
    minimal = EpisodeReporter(load_config(None, ["metrics.level=minimal"]), seed=0)
    minimal.columns = reporter.columns
    assert minimal.report(frag)[1] is None


def test_world_to_cell_matches_cell_by_cell_floor_and_clip():
    """Against the definition, one point at a time: finite points floor-and-clip, any non-finite
    coordinate (NaN, inf) gives -1 on both axes; per-match map sizes broadcast ``[E, 1]``."""
    rng = np.random.default_rng(3)
    x = rng.normal(20.0, 30.0, size=(4, 10))
    y = rng.normal(20.0, 30.0, size=(4, 10))
    x[0, 1], y[1, 2], x[2, 3], y[3, 4] = np.nan, np.inf, -np.inf, np.nan
    sx = np.array([[40.0], [32.0], [33.5], [40.0]])
    sy = np.full((4, 1), 36.0)
    ix, iy = world_to_cell(x, y, sx, sy, 16)
    assert ix.dtype == iy.dtype == np.int64 and ix.shape == iy.shape == (4, 10)
    for e in range(4):
        for m in range(10):
            px, py = x[e, m], y[e, m]
            if not (np.isfinite(px) and np.isfinite(py)):
                assert ix[e, m] == iy[e, m] == -1
                continue
            assert ix[e, m] == min(max(int(np.floor(px * 16 / sx[e, 0])), 0), 15)
            assert iy[e, m] == min(max(int(np.floor(py * 16 / sy[e, 0])), 0), 15)
    # Scalars stay 0-d.
    cx, cy = world_to_cell(20.0, float("nan"), 40.0, 40.0, 16)
    assert cx.shape == () and int(cx) == -1 and int(cy) == -1
