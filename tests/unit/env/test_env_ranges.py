"""Curriculum over the match: set/get_curriculum, range validation, when changes apply, config
validation, and the per-match layout (walls, clamps, parked absent mechs, draw ids)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from echelon.config import ConfigError, EnvConfig, config_from_dict, config_to_dict, load_config
from echelon.env import EchelonVecEnv, random_actions
from echelon.env.mapgen import REINFORCED, generate_map
from echelon.env.reset import PARK_AT, WALL_HEIGHT

RANGED = dict(packs_per_team=2, size_x=48, size_y=48, size_range=[32, 48], packs_range=[1, 2], episode_seconds=5.0)


def _env(num_envs: int = 2, **kw) -> EchelonVecEnv:
    env = EchelonVecEnv(EnvConfig(**{**RANGED, **kw}), num_envs)
    env.reset(seed=0)
    return env


def test_get_reports_the_config_and_round_trips_through_json():
    env = _env()
    cur = env.get_curriculum()
    assert cur == {"weapon_fire_prob": 1.0, "size_range": [32, 48], "packs_range": [1, 2]}
    assert json.loads(json.dumps(cur)) == cur
    env.set_curriculum(**cur)
    assert env.get_curriculum() == cur
    env.set_curriculum(weapon_fire_prob=0.25, size_range=(36, 40), packs_range=[2, 2])
    assert env.get_curriculum() == {"weapon_fire_prob": 0.25, "size_range": [36, 40], "packs_range": [2, 2]}
    env.set_curriculum()  # all None: nothing changes
    assert env.get_curriculum()["size_range"] == [36, 40]
    env.set_heuristic_weapon_fire_prob(0.5)
    assert env.get_curriculum()["weapon_fire_prob"] == 0.5 and env.heuristic.fire_prob == 0.5


def test_without_ranges_the_fixed_layout_is_reported():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40), 1)
    assert env.get_curriculum() == {"weapon_fire_prob": 1.0, "size_range": [40, 40], "packs_range": [1, 1]}
    flat = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=50), 1)
    assert flat.get_curriculum()["size_range"] is None  # non-square: every match is 40 x 50
    flat.set_curriculum(size_range=[32, 40])  # squares that fit the 40 x 50 allocation
    with pytest.raises(ValueError, match=r"size_range=\[32, 41\]: hi must be <= 40"):
        flat.set_curriculum(size_range=[32, 41])


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(size_range=[20, 40]), "lo must be >= 32 m (two 12 m spawn areas"),
    (dict(size_range=[32, 64]), "hi must be <= 48 m, the largest the batch was allocated for"),
    (dict(size_range=[40, 36]), "lo must be <= hi"),
    (dict(size_range=[40]), "size_range must be [lo, hi]"),
    (dict(size_range=[32.5, 40]), "two integers"),
    (dict(packs_range=[0, 1]), "lo must be >= 1 packs"),
    (dict(packs_range=[1, 3]), "hi must be <= 2 packs"),
    (dict(weapon_fire_prob=1.5), "weapon_fire_prob must be in [0, 1]"),
    (dict(weapon_fire_prob=float("nan")), "weapon_fire_prob must be in [0, 1]"),
])
def test_bad_curriculum_raises_and_changes_nothing(kwargs, fragment):
    env = _env()
    before = env.get_curriculum()
    # A good value beside the bad one must not be applied either.
    good = {"packs_range": [2, 2]} if "packs_range" not in kwargs else {"size_range": [40, 40]}
    with pytest.raises(ValueError) as err:
        env.set_curriculum(**kwargs, **good)
    assert fragment in str(err.value)
    assert env.get_curriculum() == before


def test_ranges_apply_at_each_match_next_reset():
    env = _env(num_envs=3)
    sim = env.sim
    old = (sim.match_x.copy(), sim.match_packs.copy())
    env.set_curriculum(size_range=[33, 33], packs_range=[1, 1])
    rng = np.random.default_rng(0)
    moved = set()
    for _ in range(2 * env.cfg.max_steps):
        for e in range(3):  # a match keeps its layout until it ends
            if e not in moved:
                assert (sim.match_x[e], sim.match_packs[e]) == (old[0][e], old[1][e])
        for ep in env.step(random_actions(rng, env.num_rows))[4]["episodes"]:
            e = ep["env"]
            first = (old[0][e], old[1][e]) if e not in moved else (33, 1)
            assert (ep["size"], ep["packs_per_team"]) == first  # the ended match's layout
            moved.add(e)
            assert (sim.match_x[e], sim.match_y[e], sim.match_packs[e]) == (33, 33, 1)  # the next one's
    assert moved == {0, 1, 2}
    env.reset(seed=4)
    assert (sim.match_x == 33).all() and (sim.match_packs == 1).all()


def test_layout_walls_clamps_parking_and_draw_ids():
    env = EchelonVecEnv(EnvConfig(**{**RANGED, "episode_seconds": 30.0}), 1)
    env.set_curriculum(size_range=[34, 34], packs_range=[1, 1], weapon_fire_prob=0.0)
    env.reset(seed=1)
    sim = env.sim
    T, s = sim.T, 34
    assert (sim.material[0, s:] == REINFORCED).all() and (sim.material[0, :s, s:] == REINFORCED).all()
    assert (sim.solid_h[0, s:] == WALL_HEIGHT).all() and (sim.sight_h[0, :, s:] == WALL_HEIGHT).all()
    np.testing.assert_array_equal(sim.controls.x_max[0], s - sim.radius)
    present = np.r_[np.arange(5), T + np.arange(5)]
    assert sim.present[0].nonzero()[0].tolist() == present.tolist()
    assert not sim.alive[0, ~sim.present[0]].any() and (sim.hp[0, ~sim.present[0]] == 0).all()
    assert (sim.pos[0, ~sim.present[0], :2] <= PARK_AT).all()
    # Red mech T + j draws as mech 5 + j of a one-pack match.
    np.testing.assert_array_equal(sim.draw_id[0, present], np.arange(10))
    assert sim.p_cap[0] == 40 and not sim.full_size and not sim.all_present
    # Cell lookups stop at the match's own edge.
    assert sim._cells(np.array([47.0]), np.array([47.0]), np.array([0]))[0] == (s - 1) * sim.Y + s - 1
    # On open ground, a scout that runs east for 5 s (35 m) stops at the edge of its 34 m map.
    sim.material[0, :s, :s] = 0
    sim.height[0, :s, :s] = 0.0
    sim.terrain_changed(0)
    scout = 4
    sim.pos[0, scout] = (20.0, 28.0, 0.0)
    sim.yaw[0, scout] = 0.0
    a = random_actions(np.random.default_rng(0), env.num_rows)
    a["move"][:] = 0.0
    a["move"][scout] = (1.0, 0.0, 0.0, 0.0)
    a["trigger"][:] = 0
    for _ in range(20):
        env.step(a)
        assert sim.pos[0, scout, 0] <= s - sim.radius[scout]
    assert sim.step_count[0] == 20 and sim.pos[0, scout, 0] == s - sim.radius[scout]


def test_mapgen_size_argument_equals_a_config_of_that_size():
    big = EnvConfig(size_x=80, size_y=80)
    a = generate_map(np.random.default_rng(5), big, size=(40, 40))
    b = generate_map(np.random.default_rng(5), EnvConfig(size_x=40, size_y=40))
    for f in ("height", "material", "building_hp", "spawn_blue", "spawn_red", "zone_center"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert a.zone_radius == b.zone_radius and a.material.shape == (40, 40)
    with pytest.raises(ValueError, match="below the smallest side 32"):
        generate_map(np.random.default_rng(5), big, size=(30, 30))


def test_episodes_report_size_and_packs_without_ranges_too():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=1.0), 1)
    env.reset(seed=0)
    eps = []
    while not eps:
        eps = env.step(random_actions(np.random.default_rng(0), env.num_rows))[4]["episodes"]
    assert (eps[0]["size"], eps[0]["packs_per_team"]) == (40, 1)


@pytest.mark.parametrize("override, fragment", [
    (["env.size_range=[40,80]"], "env.size_x and env.size_y must both equal hi=80, got 100 x 100; "
                                 "set env.size_x=80 env.size_y=80"),
    (["env.size_range=[20,100]"], "lo must be >= 32 m"),
    (["env.size_range=[100,40]"], "lo must be <= hi"),
    (["env.packs_range=[1,3]"], "env.packs_per_team must equal hi=3, got 2; set env.packs_per_team=3"),
    (["env.packs_range=[0,2]"], "lo must be >= 1 packs"),
    (["env.packs_range=[1,2,3]"], "env.packs_range must be [lo, hi]"),
    (["env.size_range=[40.5,100]"], "size_range"),
])
def test_config_ranges_are_validated(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, override)
    assert fragment in str(err.value)


def test_config_ranges_load_and_round_trip():
    cfg = load_config(None, ["env.size_range=[40,100]", "env.packs_range=[1,2]"])
    assert cfg.env.size_range == [40, 100] and cfg.env.packs_range == [1, 2]
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert load_config(None).env.size_range is None and load_config(None).env.packs_range is None
