"""PettingZoo face: the official parallel API test, episode flow, action errors, NaN, render."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from echelon.config import EnvConfig
from echelon.env.obs_layout import BLOCK_SLICES, EGO_IDX, FLAT_OBS_DIM
from echelon.env.parallel_env import EchelonParallelEnv
from echelon.env.render import TEAM_RGB
from echelon.env.sim import REWARD_PARTS


def _env(
    packs: int = 1, size: int = 40, obs_mode: str = "full", seconds: float = 20.0, red: str = "heuristic"
) -> EchelonParallelEnv:
    return EchelonParallelEnv(
        EnvConfig(packs_per_team=packs, size_x=size, size_y=size, obs_mode=obs_mode, episode_seconds=seconds, red=red),
        render_scale=4,
    )


def _zero_actions(env: EchelonParallelEnv) -> dict:
    return {
        a: {k: np.zeros(s.shape, s.dtype) for k, s in env.action_space(a).spaces.items()} for a in env.agents
    }


@pytest.mark.parametrize("packs", [1, 2], ids=["5v5", "10v10"])
@pytest.mark.parametrize("obs_mode", ["full", "partial"])
def test_parallel_api(packs, obs_mode):
    # Both teams policy-driven in 5v5 so red agent names go through the API test too.
    env = _env(packs=packs, obs_mode=obs_mode, red="policy" if packs == 1 else "heuristic")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parallel_api_test(env, num_cycles=1000)
    api_warnings = [str(w.message) for w in caught if "pettingzoo" in w.filename]
    assert api_warnings == []


def test_agents_spaces_and_reset():
    env = _env(packs=2, red="policy")
    assert env.possible_agents == [f"blue_{k}" for k in range(10)] + [f"red_{k}" for k in range(10)]
    assert env.metadata == {"render_modes": ["rgb_array"], "name": "echelon_v0"}
    assert env.render_mode == "rgb_array"
    space = env.observation_space("red_3")
    assert space.shape == (FLAT_OBS_DIM,) and space.dtype == np.float32
    keys = {"move", "trigger", "target", "ewar", "sort", "hostile_only", "comm"}
    assert set(env.action_space("blue_0").spaces) == keys
    obs, infos = env.reset(seed=7)
    assert env.agents == env.possible_agents
    assert set(obs) == set(infos) == set(env.possible_agents)
    assert all(o.shape == (FLAT_OBS_DIM,) and o.dtype == np.float32 for o in obs.values())
    again, _ = env.reset(seed=7)
    for a in obs:
        np.testing.assert_array_equal(obs[a], again[a])
    other, _ = env.reset(seed=8)
    assert any(not np.array_equal(obs[a], other[a]) for a in obs)


def test_heuristic_team_is_not_an_agent():
    env = _env(packs=1)
    assert env.possible_agents == ["blue_0", "blue_1", "blue_2", "blue_3", "blue_4"]


def test_dead_agent_terminates_once_then_leaves():
    env = _env(packs=1)
    env.reset(seed=0)
    sim = env.vec.sim
    victim = "blue_3"
    mech = int(env.vec.controlled[env.possible_agents.index(victim)])
    sim.hp[0, mech] = 0.0
    obs, rew, term, trunc, infos = env.step(_zero_actions(env))
    assert set(obs) == set(rew) == set(term) == set(trunc) == set(infos) == set(env.possible_agents)
    assert term[victim] is True and trunc[victim] is False
    assert all(not term[a] and not trunc[a] for a in env.possible_agents if a != victim)
    assert rew[victim] == pytest.approx(sum(infos[victim]["reward_components"].values()))
    assert infos[victim]["reward_components"]["death"] == pytest.approx(env.cfg.rewards.death)
    assert set(infos[victim]["reward_components"]) == set(REWARD_PARTS)
    assert victim not in env.agents and len(env.agents) == 4
    obs, rew, term, trunc, infos = env.step(_zero_actions(env))
    assert victim not in obs and victim not in term and victim not in infos
    assert "outcome" not in infos["blue_0"]


def test_elimination_ends_match_with_outcome():
    env = _env(packs=1)
    env.reset(seed=1)
    sim = env.vec.sim
    sim.hp[0, sim.team == 1] = 0.0
    obs, rew, term, trunc, infos = env.step(_zero_actions(env))
    assert env.agents == []
    assert all(term.values()) and not any(trunc.values())
    outcome = infos["blue_0"]["outcome"]
    assert outcome["reason"] == "elimination" and outcome["winner"] == "blue"
    assert all(infos[a]["outcome"] is outcome for a in infos)
    assert all(infos[a]["reward_components"]["outcome"] == pytest.approx(env.cfg.rewards.outcome) for a in infos)
    # The parallel face does not auto-reset: stepping again returns nothing.
    assert env.step({}) == ({}, {}, {}, {}, {})


def test_time_limit_truncates_everyone_and_keeps_final_obs():
    env = _env(packs=1, seconds=2.5)
    env.reset(seed=2)
    steps = 0
    while env.agents:
        obs, rew, term, trunc, infos = env.step(_zero_actions(env))
        steps += 1
    assert steps == env.cfg.max_steps == 10
    assert all(trunc.values()) and not any(term.values())
    assert infos["blue_0"]["outcome"]["reason"] == "time"
    assert infos["blue_0"]["outcome"]["length"] == 10
    # The returned observations are the ended match's last ones, not the next match's first:
    # the time fraction is near 1, not 0.
    ego = obs["blue_0"][BLOCK_SLICES["ego"]]
    assert ego[EGO_IDX["alive"]] == 1.0
    assert ego[EGO_IDX["time_frac"]] > 0.5


def test_bad_action_structure_names_agent_and_key():
    env = _env(packs=1)
    env.reset(seed=0)
    acts = _zero_actions(env)
    del acts["blue_2"]["trigger"]
    with pytest.raises(ValueError, match=r"blue_2.*'trigger'"):
        env.step(acts)
    acts = _zero_actions(env)
    acts["blue_4"]["move"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"blue_4.*'move'.*\(3,\)"):
        env.step(acts)
    acts = _zero_actions(env)
    del acts["blue_1"]
    with pytest.raises(ValueError, match="blue_1"):
        env.step(acts)
    acts = _zero_actions(env)
    acts["red_9"] = acts["blue_0"]
    with pytest.raises(ValueError, match="red_9"):
        env.step(acts)


def test_nan_actions_are_counted_not_raised():
    env = _env(packs=1, seconds=2.5)
    env.reset(seed=3)
    while env.agents:
        acts = _zero_actions(env)
        acts["blue_0"]["move"] = np.full(4, np.nan, np.float32)
        acts["blue_1"]["comm"][:2] = np.inf
        obs, _, _, _, infos = env.step(acts)
        assert all(np.isfinite(o).all() for o in obs.values())
    stats = infos["blue_0"]["outcome"]["stats"]
    assert stats["bad_actions_blue"] == 10 * (4 + 2)
    assert stats["bad_actions_red"] == 0


def _count(frame: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int((frame == np.array(rgb, np.uint8)).all(axis=-1).sum())


def test_render_frame_has_both_teams():
    env = _env(packs=1, seconds=2.5)
    env.reset(seed=4)
    frame = env.render()
    assert frame.shape == (40 * 4, 40 * 4, 3) and frame.dtype == np.uint8
    assert _count(frame, TEAM_RGB[0]) > 0 and _count(frame, TEAM_RGB[1]) > 0
    while env.agents:
        env.step(_zero_actions(env))
    # The last frame of an ended match still shows it (both teams alive at the time limit).
    last = env.render()
    assert last.shape == frame.shape and _count(last, TEAM_RGB[0]) > 0 and _count(last, TEAM_RGB[1]) > 0


def test_final_frame_draws_the_ended_match_exactly():
    # A 1 s match (4 steps) and a 2 s twin (same seed, so the same map and spawns) driven by the
    # same actions: after 4 steps the twin's live state is the ended match's true last state.
    def make(seconds):
        env = _env(seconds=seconds, red="policy")
        env.reset(seed=9)
        return env

    env, twin = make(1.0), make(2.0)
    for _ in range(4):
        acts = _zero_actions(env)
        for a in acts.values():
            a["move"][:] = (1.0, 0.3, 0.0, 0.5)
        env.step(acts)
        twin.step(acts)
    assert env.agents == [] and twin.agents != []
    final = env.vec.final_state[0]
    ts = twin.vec.sim
    np.testing.assert_array_equal(final["pos"], ts.pos[0])
    np.testing.assert_array_equal(final["yaw"], ts.yaw[0])
    np.testing.assert_array_equal(final["alive"], ts.alive[0])
    # The ended match's slot has already been reset to the next match's spawns.
    assert not np.array_equal(env.vec.sim.pos[0], ts.pos[0])
    np.testing.assert_array_equal(env.render(), twin.render())
