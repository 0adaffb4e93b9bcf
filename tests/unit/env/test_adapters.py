"""make_vector_env adapters: Gymnasium (with observation masking) and PettingZoo ParallelEnv."""


import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.test import parallel_api_test

from echelon.config import load_config
from echelon.env.adapters import make_vector_env


OBS_SPACE = spaces.Box(-np.inf, np.inf, (2,), np.float32)
ACTION_SPACE = spaces.Discrete(2)


class CountdownEnv(ParallelEnv):
    """Tiny ParallelEnv: agent ``a_i`` dies (terminated) after ``i + 1`` steps; the episode is
    truncated at step 4 for whoever is left. Observation: [step, agent index]; reward 1 per step."""

    metadata = {"name": "countdown_v0"}

    def __init__(self, num_agents: int = 3):
        self.possible_agents = [f"a_{i}" for i in range(num_agents)]
        self.agents = []
        self.t = 0

    # PettingZoo wants the same space object on every call.
    def observation_space(self, agent):
        return OBS_SPACE

    def action_space(self, agent):
        return ACTION_SPACE

    def _obs(self):
        return {a: np.array([self.t, self.possible_agents.index(a)], np.float32) for a in self.agents}

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        obs = self._obs()
        rew = {a: 1.0 for a in self.agents}
        term = {a: self.t >= self.possible_agents.index(a) + 1 for a in self.agents}
        trunc = {a: self.t >= 4 and not term[a] for a in self.agents}
        infos = {a: {} for a in self.agents}
        self.agents = [a for a in self.agents if not (term[a] or trunc[a])]
        return obs, rew, term, trunc, infos


def parallel_env(num_agents: int = 3):
    return CountdownEnv(num_agents)


def test_countdown_env_is_a_valid_parallel_env():
    parallel_api_test(CountdownEnv(2), num_cycles=10)


def test_pettingzoo_rows_deaths_and_resets():
    cfg = load_config(None, [f"rollout.env=pettingzoo:{__name__}:parallel_env", "rollout.env_kwargs={num_agents: 3}"])
    env = make_vector_env(cfg, num_envs=2, seed=0)
    assert env.num_rows == 6 and env.single_observation_space.shape == (2,)
    obs = env.reset(seed=0)
    np.testing.assert_array_equal(obs[:3, 1], [0, 1, 2])
    acts = np.zeros(6, np.int64)
    # step 1: agent 0 of each copy terminates.
    obs, rew, term, trunc, info = env.step(acts)
    assert term.tolist() == [True, False, False] * 2 and not trunc.any()
    assert info["valid"].all() and rew.tolist() == [1.0] * 6
    # step 2: agent 0 is dead (invalid, zero obs and reward), agent 1 terminates.
    obs, rew, term, trunc, info = env.step(acts)
    assert info["valid"].tolist() == [False, True, True] * 2
    assert rew.tolist() == [0.0, 1.0, 1.0] * 2 and (obs[[0, 3]] == 0).all()
    assert term.tolist() == [False, True, False] * 2
    # step 3: agent 2 terminates; copy is empty → reset in the same step.
    obs, rew, term, trunc, info = env.step(acts)
    assert term.tolist() == [False, False, True] * 2
    assert info["episode_start"].all() and len(info["episodes"]) == 2
    assert info["episodes"][0] == {"return": pytest.approx((1 + 2 + 3) / 3), "length": 3}
    np.testing.assert_array_equal(info["final_obs"][2], [3, 2])
    np.testing.assert_array_equal(obs[:3, 0], [0, 0, 0])


def test_pettingzoo_truncation_reported_once():
    cfg = load_config(None, [f"rollout.env=pettingzoo:{__name__}", "rollout.env_kwargs={num_agents: 6}"])
    env = make_vector_env(cfg, num_envs=1, seed=0)
    env.reset(seed=0)
    for _ in range(3):
        env.step(np.zeros(6, np.int64))
    _, _, term, trunc, info = env.step(np.zeros(6, np.int64))
    assert term.tolist() == [False, False, False, True, False, False]
    assert trunc.tolist() == [False, False, False, False, True, True]
    assert info["episode_start"].all()


def test_gymnasium_mask_obs_and_same_step_autoreset():
    cfg = load_config(None, ["rollout.env=gymnasium:CartPole-v1", "rollout.env_kwargs={mask_obs: [1, 3]}"])
    env = make_vector_env(cfg, num_envs=2, seed=0)
    assert env.single_observation_space.shape == (2,)
    full = make_vector_env(load_config(None, ["rollout.env=gymnasium:CartPole-v1"]), num_envs=2, seed=0)
    np.testing.assert_array_equal(env.reset(seed=3), full.reset(seed=3)[:, [0, 2]])
    ends = 0
    for _ in range(200):
        obs, rew, term, trunc, info = env.step(np.ones(2, np.int64))
        if term.any():
            ends += 1
            i = int(np.flatnonzero(term)[0])
            assert info["episode_start"][i] and abs(info["final_obs"][i, 1]) > 0.2  # pole fell
    assert ends > 0 and info["valid"].all()
