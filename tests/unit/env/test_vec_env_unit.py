"""EchelonVecEnv: rows, action validation, dead-agent rows, auto-reset, outcome, events."""

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions, stack_agent_actions
from echelon.env.obs_layout import EGO_IDX, FLAT_OBS_DIM
from echelon.env.sim import EVENT_DTYPE, ST

SMALL = dict(packs_per_team=1, size_x=40, size_y=40)


def test_rows_spaces_and_shapes():
    env = EchelonVecEnv(EnvConfig(**SMALL), num_envs=3)
    assert env.num_rows == 15 and env.single_observation_space.shape == (FLAT_OBS_DIM,)
    obs = env.reset(seed=1)
    assert obs.shape == (15, FLAT_OBS_DIM) and obs.dtype == np.float32
    o, r, te, tr, info = env.step(random_actions(np.random.default_rng(0), 15))
    assert r.shape == (15,) and te.dtype == bool and tr.dtype == bool
    for k in ("final_obs", "valid", "episode_start", "alive"):
        assert info[k].shape[0] == 15
    assert set(info["reward_components"]) == {"zone", "approach", "damage", "kill", "assist", "death", "outcome"}
    assert info["events"].dtype == EVENT_DTYPE
    assert env.single_action_space.contains({k: v[0] for k, v in random_actions(np.random.default_rng(1), 1).items()})
    selfplay = EchelonVecEnv(EnvConfig(**SMALL, red="policy"), num_envs=2)
    assert selfplay.num_rows == 20
    assert selfplay.row_team.tolist() == ([0] * 5 + [1] * 5) * 2


def test_bad_actions_are_clipped_and_counted():
    env = EchelonVecEnv(EnvConfig(**SMALL), num_envs=1)
    env.reset(0)
    act = random_actions(np.random.default_rng(0), 5)
    act["move"][0, 0] = np.nan
    act["move"][1, 1] = 7.0
    act["comm"][2, 0] = np.inf
    act["target"][3] = 99
    act["ewar"][4] = -1
    env.step(act)
    assert env.sim.stats[0, ST["bad_actions_blue"]] == 5
    assert env.sim.act_move[0, 0, 0] == 0.0 and env.sim.act_move[0, 1, 1] == 1.0
    assert env.sim.act_target[0, 3] == 10 and env.sim.act_ewar[0, 4] == 0


def test_missing_key_and_wrong_shape_raise():
    env = EchelonVecEnv(EnvConfig(**SMALL), num_envs=1)
    env.reset(0)
    act = random_actions(np.random.default_rng(0), 5)
    del act["ewar"]
    with pytest.raises(ValueError, match="'ewar'"):
        env.step(act)
    act = random_actions(np.random.default_rng(0), 5)
    act["move"] = act["move"][:, :3]
    with pytest.raises(ValueError, match="'move'.*shape"):
        env.step(act)
    one = {k: v[0] for k, v in random_actions(np.random.default_rng(0), 1).items()}
    bad = dict(one)
    bad.pop("comm")
    with pytest.raises(ValueError, match="blue_2.*'comm'"):
        stack_agent_actions(["blue_1", "blue_2"], {"blue_1": one, "blue_2": bad})


def idle(rows):
    a = random_actions(np.random.default_rng(0), rows)
    for k in a:
        a[k][...] = 0
    return a


def test_dead_agent_rows_and_outcome_reward():
    env = EchelonVecEnv(EnvConfig(**SMALL), num_envs=1)
    env.reset(0)
    sim = env.sim
    sim.hp[0, 1] = -1.0  # dies in the next damage check
    o, r, te, tr, info = env.step(idle(5))
    assert te[1] and info["valid"][1] and not info["alive"][1]
    assert info["reward_components"]["death"][1] == -1.0
    assert np.all(o[1] == 0.0) and o[1, EGO_IDX["alive"]] == 0.0
    assert o[0, EGO_IDX["alive"]] == 1.0
    o, r, te, tr, info = env.step(idle(5))
    assert not te[1] and not info["valid"][1] and r[1] == 0.0
    # End the match by elimination of red: blue wins; dead blue 1 gets the outcome, still invalid.
    sim.hp[0, 5:] = -1.0
    o, r, te, tr, info = env.step(idle(5))
    assert len(info["episodes"]) == 1
    out = info["episodes"][0]["outcome"]
    assert out["reason"] == "elimination" and out["winner"] == "blue"
    assert info["reward_components"]["outcome"].tolist() == [5.0] * 5
    assert r[1] == 5.0 and not info["valid"][1]
    assert r[0] == pytest.approx(info["reward_components"]["outcome"][0] + sum(
        info["reward_components"][k][0] for k in ("zone", "approach", "damage", "kill", "assist", "death")))
    assert te[[0, 2, 3, 4]].all() and not te[1] and not tr.any()
    assert info["episode_start"].all()
    assert np.all(info["final_obs"][1] == 0.0) and info["final_obs"][0, EGO_IDX["alive"]] == 1.0
    assert o[1, EGO_IDX["alive"]] == 1.0  # first obs of the next match
    assert out["agents"][1]["alive"] is False and len(out["death_positions"]) == 6
    for key in ("damage_blue", "kills_red", "assists_blue", "deaths_red", "paints_blue", "missile_launches_red",
                "ams_intercepts_blue", "knockdowns_red", "shutdowns_blue", "bad_actions_blue", "zone_ticks_red",
                "contested_ticks", "first_zone_entry_step", "pack_dispersion_sum_blue", "pack_dispersion_count_red",
                "centroid_zone_dist_sum_blue", "focus_fire_concentration_blue", "visible_contacts_sum_blue",
                "visible_contacts_count_red", "hostile_filter_on_count_blue", "ecm_on_ticks_red",
                "eccm_on_ticks_blue", "scout_ticks_red"):
        assert key in out["stats"], key
    assert out["stats"]["deaths_red"] == 5 and out["stats"]["deaths_blue"] == 1


@pytest.mark.parametrize("loser_team, outcome", [(1, 5.0), (0, -5.0)])
def test_dead_agent_reward_zero_until_match_end_then_outcome(loser_team, outcome):
    # Blue 3 dies at step 0, the match goes on for 4 steps, then one team is eliminated.
    env = EchelonVecEnv(EnvConfig(**SMALL), num_envs=1)
    env.reset(0)
    sim = env.sim
    sim.hp[0, 3] = -1.0
    o, r, te, tr, info = env.step(idle(5))
    assert te[3] and info["valid"][3] and r[3] == pytest.approx(-1.0 + info["reward_components"]["approach"][3])
    total = float(r[3])
    for _ in range(4):
        o, r, te, tr, info = env.step(idle(5))
        assert r[3] == 0.0 and not info["valid"][3] and not te[3] and not tr[3]
        assert not info["episodes"]
        total += float(r[3])
    sim.hp[0, 5 * loser_team:5 * loser_team + 5] = -1.0
    o, r, te, tr, info = env.step(idle(5))
    assert info["episodes"][0]["outcome"]["reason"] == "elimination"
    assert r[3] == outcome and not info["valid"][3] and not te[3] and not tr[3]
    total += float(r[3])
    # The row sums to the agent's reward total in the outcome (death step + outcome).
    assert info["episodes"][0]["outcome"]["agents"][3]["reward"] == pytest.approx(total, abs=1e-5)


def test_time_limit_truncation_flags():
    env = EchelonVecEnv(EnvConfig(**SMALL, episode_seconds=1.0), num_envs=2)
    env.reset(3)
    for _ in range(4):
        o, r, te, tr, info = env.step(idle(10))
    assert tr.all() and not te.any() and info["episode_start"].all()
    assert [e["outcome"]["reason"] for e in info["episodes"]] == ["time", "time"]
    assert all(e["length"] == 4 for e in info["episodes"])
    o, r, te, tr, info = env.step(idle(10))
    assert not info["episode_start"].any() and not tr.any()
