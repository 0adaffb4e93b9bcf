"""Observation content: partial-visibility rules, contact slots and the target action."""

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions
from echelon.env.observations import HEAT_CLIP, POS_SCALE, VEL_SCALE, observe
from echelon.env.obs_layout import (
    BLOCK_SLICES, CONTACT_IDX, EGO_IDX, MAX_CONTACTS, SQUAD_IDX, flat_obs_to_suite_obs,
)
from helpers import BH, BM1, BS, RH, RL, RM1, RM2, RS, open_sim, place


def walled_scene():
    sim = open_sim(obs_mode="partial", size=100)
    place(sim, BM1, 20.0, 50.0)
    place(sim, RM1, 36.0, 50.0, yaw=np.pi)  # 16 m: beyond radar (14 m), inside sight range
    for m in (RH, RM2, RL, RS):
        place(sim, m, 90.0, 5.0 + 5 * m)  # far away
    return sim


def test_partial_visibility_rules():
    sim = walled_scene()
    observe(sim)
    assert sim.visible[0, BM1, RM1]  # line of sight
    sim.height[0, 27:29, 40:60] = 8.0
    sim.material[0, 27:29, 40:60] = 1
    sim.terrain_changed(0)
    observe(sim)
    assert not sim.visible[0, BM1, RM1] and not sim.los[0, BM1, RM1]
    assert sim.visible[0, BM1, 2]  # pack mates are always seen
    sim.heat[0, RM1] = 0.85 * 100.0  # running hot
    observe(sim)
    assert sim.visible[0, BM1, RM1]
    sim.heat[0, RM1] = 0.0
    sim.paint_t[0, RM1, sim.pack[BM1]] = 3.0  # painted by my pack, quality 1 >= 0.7
    observe(sim)
    assert sim.visible[0, BM1, RM1]
    sim.paint_t[0, RM1] = 0.0
    place(sim, RM1, 33.0, 50.0, yaw=np.pi)  # 13 m: radar range 14 m x quality 1
    observe(sim)
    assert sim.visible[0, BM1, RM1]
    sim.ewar[0, RS] = 1  # an emitting scout is seen from anywhere
    observe(sim)
    assert sim.visible[0, BM1, RS]


def test_full_mode_sees_every_living_mech():
    sim = open_sim()
    sim.alive[0, RS] = False
    observe(sim)
    assert sim.visible[0, BM1].sum() == 8  # 9 others, one dead


def test_contact_features_ego_frame_and_target_action():
    sim = open_sim()
    place(sim, BM1, 20.0, 30.0, yaw=np.pi / 2)  # facing +y
    place(sim, RM1, 20.0, 35.0, yaw=0.0)  # 5 m straight ahead
    observe(sim)
    suite = flat_obs_to_suite_obs(sim.obs[0])
    c = suite.contacts[BM1]
    assert suite.contact_mask[BM1].sum() == min(MAX_CONTACTS, 9)
    first = c[0]
    assert sim.contact_ids[0, BM1, 0] == RM1  # sorted by distance
    # Ahead; offsets read tanh(length / POS_SCALE) along their direction.
    assert first[CONTACT_IDX["rel_x"]] == pytest.approx(np.tanh(5.0 / POS_SCALE), abs=1e-6)
    assert first[CONTACT_IDX["dist"]] == pytest.approx(np.tanh(5.0 / POS_SCALE), abs=1e-6)
    assert first[CONTACT_IDX["rel_y"]] == pytest.approx(0.0, abs=1e-6)
    assert first[CONTACT_IDX["hostile"]] == 1.0 and first[CONTACT_IDX["cls_medium"]] == 1.0
    # hostile_only + "most damaged" sort.
    sim.hostile_only[0, BM1] = 1
    sim.sort_mode[0, BM1] = 2
    sim.hp[0, RH] = 20.0
    observe(sim)
    ids = sim.contact_ids[0, BM1]
    assert ids[0] == RH and all(sim.team[i] == 1 for i in ids[ids >= 0])
    # target action k picks contact slot k of the obs the agent acted on.
    sim.act_target[0, BM1] = 2
    sim.step()
    assert sim.focus[0, BM1] == ids[1]


def test_dead_agents_observe_zeros_and_ego_fields():
    sim = open_sim()
    sim.alive[0, BS] = False
    sim.heat[0, BM1] = 50.0
    observe(sim)
    assert np.all(sim.obs[0, BS] == 0.0)
    ego = sim.obs[0, BM1, BLOCK_SLICES["ego"]]
    assert ego[EGO_IDX["alive"]] == 1.0 and ego[EGO_IDX["heat"]] == pytest.approx(0.5)
    assert ego[EGO_IDX["sensor_quality"]] == pytest.approx(1.0)
    assert np.isfinite(sim.obs).all()


@pytest.mark.parametrize("obs_mode", ["full", "partial"])
def test_observations_bounded_and_finite_in_play(obs_mode):
    # Random blue vs heuristic red on the default 100 x 100 10v10 map, where full-mode contacts
    # and the zone can be 140 m away: every value stays within [-1.5, 1.5] and finite.
    env = EchelonVecEnv(EnvConfig(obs_mode=obs_mode), num_envs=3)
    obs = env.reset(seed=5)
    rng = np.random.default_rng(0)
    worst = float(np.abs(obs).max())
    for _ in range(250):
        obs, _, _, _, info = env.step(random_actions(rng, env.num_rows))
        sim_obs = env.sim.obs  # heuristic red rows too
        assert np.isfinite(sim_obs).all() and np.isfinite(info["final_obs"]).all()
        worst = max(worst, float(np.abs(sim_obs).max()), float(np.abs(info["final_obs"]).max()))
    assert worst <= 1.5


def test_far_offsets_saturate_and_heat_is_clipped():
    sim = open_sim(size=100)
    place(sim, BM1, 5.0, 5.0, yaw=0.0)
    place(sim, RH, 95.0, 95.0)  # 127 m away
    sim.zone_center[0] = (95.0, 5.0)  # 90 m straight ahead
    sim.heat[0, RH] = 10 * 130.0
    sim.vel[0, BM1] = (30.0, 0.0, -15.0)  # a collision push and a fall
    observe(sim)
    suite = flat_obs_to_suite_obs(sim.obs[0])
    slot = int(np.nonzero(sim.contact_ids[0, BM1] == RH)[0][0])
    c = suite.contacts[BM1, slot]
    d = np.hypot(90.0, 90.0)
    assert c[CONTACT_IDX["dist"]] == pytest.approx(np.tanh(d / POS_SCALE), abs=1e-6)
    assert c[CONTACT_IDX["rel_x"]] == pytest.approx(np.tanh(d / POS_SCALE) / np.sqrt(2), abs=1e-6)
    assert c[CONTACT_IDX["rel_y"]] == pytest.approx(np.tanh(d / POS_SCALE) / np.sqrt(2), abs=1e-6)
    assert c[CONTACT_IDX["heat"]] == HEAT_CLIP
    ego = suite.ego[BM1]
    assert ego[EGO_IDX["zone_x"]] == pytest.approx(np.tanh(90.0 / POS_SCALE), abs=1e-6)
    assert ego[EGO_IDX["zone_y"]] == pytest.approx(0.0, abs=1e-6)
    assert ego[EGO_IDX["vel_fwd"]] == pytest.approx(np.tanh(30.0 / VEL_SCALE), abs=1e-6)
    assert ego[EGO_IDX["vel_z"]] == pytest.approx(np.tanh(-15.0 / VEL_SCALE), abs=1e-6)
    sq = suite.squad[BM1]
    assert np.all(np.abs(sq[:, SQUAD_IDX["rel_x"]]) <= 1.0)


@pytest.mark.parametrize("obs_mode", ["full", "partial"])
def test_same_scene_on_40_and_100_maps_observes_the_same(obs_mode):
    # Same mechs, same zone (absolute metres) on a 40 x 40 and a 100 x 100 map: every block is
    # identical, zone vector included (metres over a fixed scale, never the map size).
    obs = []
    for size in (40, 100):
        sim = open_sim(size=size, obs_mode=obs_mode)
        for m in range(10):
            place(sim, m, 10.0 + 4.0 * (m % 5), 12.0 + 6.0 * (m // 5), yaw=0.3 * m)
        sim.heat[0, RH] = 60.0
        sim.hp[0, BH] = 120.0
        sim.vel[0, BM1] = (2.0, -1.0, 0.0)
        sim.zone_center[0] = (30.0, 28.0)
        sim.zone_radius[0] = 6.0
        observe(sim)
        obs.append(sim.obs.copy())
    np.testing.assert_array_equal(obs[0], obs[1])
    assert np.abs(obs[0][0, BM1, BLOCK_SLICES["contacts"]]).max() > 0
