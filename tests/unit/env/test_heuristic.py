"""The scripted heuristic beats random play and respects its fire-probability handicap."""

import numpy as np

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions


def test_heuristic_beats_random_in_90_percent_of_50_matches():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40), num_envs=50)
    env.reset(seed=2024)
    rng = np.random.default_rng(0)
    results = {}
    for _ in range(env.cfg.max_steps):
        _, _, _, _, info = env.step(random_actions(rng, env.num_rows))
        for ep in info["episodes"]:
            results.setdefault(ep["env"], ep["outcome"])
        if len(results) == 50:
            break
    assert len(results) == 50
    red_wins = sum(o["winner"] == "red" for o in results.values())
    assert red_wins >= 45, (red_wins, [o["reason"] for o in results.values()])


def test_fire_prob_zero_never_shoots():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40, heuristic_weapon_fire_prob=0.0), num_envs=4)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(120):
        env.step(random_actions(rng, env.num_rows))
    from echelon.env.sim import ST

    assert env.sim.stats[:, ST["shots_red"]].sum() == 0
    assert env.sim.stats[:, ST["zone_ticks_red"]].sum() > 0
