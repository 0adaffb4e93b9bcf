"""What EchelonVecEnv adds to a finished episode for the metrics: reward-component sums, team
returns and the movement occupancy grid, checked against per-step reference sums."""

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions
from echelon.env.sim import REWARD_PARTS


@pytest.mark.parametrize("red", ["heuristic", "policy"])
def test_reward_components_and_occupancy_match_step_sums(red):
    cfg = EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=8.0, red=red)
    env = EchelonVecEnv(cfg, num_envs=3)
    env.track_occupancy(True)
    rng = np.random.default_rng(5)
    env.reset(seed=2)
    E, A = env.num_envs, env.agents_per_env
    parts = {k: np.zeros((E, A)) for k in REWARD_PARTS}  # reference: per-step sums of info
    steps = np.zeros(E)
    checked = 0
    for _ in range(80):
        _, _, _, _, info = env.step(random_actions(rng, env.num_rows))
        for k in REWARD_PARTS:
            parts[k] += info["reward_components"][k].reshape(E, A)
        steps += 1
        for ep in info["episodes"]:
            e = ep["env"]
            comp = ep["reward_components"]
            assert set(comp) == set(REWARD_PARTS)
            for k in REWARD_PARTS:
                assert comp[k] == pytest.approx(parts[k][e].mean(), abs=1e-5)
            # The components add up to the episode return (mean over agents of their totals).
            assert sum(comp.values()) == pytest.approx(ep["return"], abs=1e-4)
            teams = ep["team_returns"]
            assert set(teams) == ({"blue", "red"} if red == "policy" else {"blue"})
            assert np.mean(list(teams.values())) == pytest.approx(ep["return"], abs=1e-5)
            occ = ep["occupancy"]
            assert occ.shape == (2, 16, 16) and occ.dtype == np.float32
            # Every living mech counted once per step: at most M mechs x the match's steps.
            assert 0 < occ.sum() <= cfg.num_mechs * steps[e] and occ.sum() <= cfg.num_mechs * ep["length"]
            for k in REWARD_PARTS:
                parts[k][e] = 0.0
            steps[e] = 0
            checked += 1
    assert checked >= E


def test_occupancy_is_off_by_default():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=3.0), num_envs=1)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    eps = []
    for _ in range(20):
        eps += env.step(random_actions(rng, env.num_rows))[4]["episodes"]
    assert eps and all("occupancy" not in ep for ep in eps)
