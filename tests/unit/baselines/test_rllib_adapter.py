"""The RLlib baseline's env side, in-process (no Ray cluster): the action declaration RLlib can
train passes PettingZoo's API test and reaches the env unchanged; the batch sizes match one of
our updates; RLlib's own EnvRunner steps the env and logs return and win rate per match."""

import math

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from echelon.baselines.rllib import (
    RETURN_MEAN,
    WIN_RATE,
    MatchWindow,
    RLlibActionSpace,
    batch_sizes,
    build_ppo_config,
    team_return,
    env_config_from_dict,
    env_config_to_dict,
)
from echelon.config import EnvConfig, load_config
from echelon.env import EchelonParallelEnv, EchelonVecEnv
from echelon.env.actions import build_action_space

SMOKE = "ray_configs/smoke.yaml"


def _wrapped(seconds=5.0):
    return RLlibActionSpace(EchelonParallelEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40,
                                                         episode_seconds=seconds), render_mode=None))


def test_declared_actions_pass_the_pettingzoo_api_test_and_map_back_exactly():
    env = _wrapped()
    parallel_api_test(env, num_cycles=100)
    space = env.action_space("blue_0")
    assert list(space["discrete"].nvec) == [2, 2, 2, 2, 2, build_action_space()["target"].n, 3, 3, 2]
    space.seed(0)
    echelon_space = build_action_space()
    for _ in range(20):
        declared = space.sample()
        action = env.to_echelon(declared)
        assert echelon_space.contains({k: np.asarray(v, echelon_space[k].dtype) for k, v in action.items()})
        d = declared["discrete"]
        assert list(action["trigger"]) == list(d[:5])
        assert [int(action[k]) for k in ("target", "ewar", "sort", "hostile_only")] == list(d[5:])
        assert action["move"] is declared["move"] and action["comm"] is declared["comm"]


def test_team_return_from_the_pettingzoo_face_equals_the_vec_envs_episode_return():
    """Twin check: the same matches through both faces (same seeds and actions); the return the
    RLlib callback rebuilds from per-agent rewards equals the vec env's own episode return."""
    cfg = EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=20.0)
    pz, vec = EchelonParallelEnv(cfg, render_mode=None), EchelonVecEnv(cfg, num_envs=1)
    winners, paid_counts = set(), []
    for seed in range(4):
        pz.reset(seed=seed)
        vec.reset(seed=seed)
        rng = np.random.default_rng(seed)
        totals = dict.fromkeys(pz.possible_agents, 0.0)
        while True:
            acts = {a: {"move": rng.uniform(-1, 1, 4), "trigger": rng.integers(0, 2, 5), "target": rng.integers(0, 5),
                        "ewar": rng.integers(0, 3), "sort": 0, "hostile_only": 1, "comm": np.zeros(8)}
                    for a in pz.possible_agents}
            _, rewards, _, _, infos = pz.step({a: acts[a] for a in pz.agents})
            batch = {k: np.stack([np.asarray(acts[a][k]) for a in pz.possible_agents]) for k in acts["blue_0"]}
            *_, info = vec.step(batch)
            for a, r in rewards.items():
                totals[a] += r
            if info["episodes"]:
                break
        episode = info["episodes"][0]
        paid = {a for a, i in infos.items() if "outcome" in i}
        winner = episode["outcome"]["winner"]
        winners.add(winner)
        paid_counts.append(len(paid))
        got = team_return(totals, paid, winner, cfg.rewards.outcome, cfg.mechs_per_team)
        assert got == pytest.approx(episode["return"], abs=1e-4), (seed, winner, len(paid))
    assert winners and min(paid_counts) < cfg.mechs_per_team  # some agents had left before the end


def test_env_config_round_trips_through_rllibs_plain_dict():
    cfg = EnvConfig(packs_per_team=1, size_x=40, size_y=40, heuristic_weapon_fire_prob=0.5)
    assert env_config_from_dict(env_config_to_dict(cfg)) == cfg


def test_batch_sizes_equal_one_of_our_updates():
    cfg = load_config(SMOKE, ["ray.num_workers=2", "rollout.num_envs=8", "rollout.fragment_len=32",
                              "ppo.num_minibatches=4"])
    # 2 fragments x 32 steps x 8 matches x 5 learning agents.
    assert batch_sizes(cfg) == (2 * 32 * 8 * 5, 2 * 32 * 8 * 5 // 4)
    assert batch_sizes(load_config(SMOKE, ["ray.fragments_per_update=3", "ray.num_workers=1"]))[0] == 3 * 32 * 4 * 5


def test_rllibs_env_runner_steps_echelon_and_logs_return_and_win_rate():
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

    cfg = load_config(SMOKE, ["env.episode_seconds=3", "rollout.num_envs=2", "rollout.fragment_len=8"])
    runner = MultiAgentEnvRunner(config=build_ppo_config(cfg))
    try:
        episodes = runner.sample(num_episodes=4)
        returns, wins = list(runner.metrics.peek(RETURN_MEAN)), list(runner.metrics.peek(WIN_RATE))
    finally:
        runner.stop()
    done = len([e for e in episodes if e.is_done])
    assert done >= 4
    # One value per finished match (RLlib's item series), windowed by MatchWindow like our hub.
    assert len(returns) == len(wins) == done
    assert all(math.isfinite(r) for r in returns) and set(wins) <= {0.0, 1.0}
    window = MatchWindow(size=3)
    ret, win = window.add({RETURN_MEAN: returns, WIN_RATE: wins})
    assert ret == pytest.approx(float(np.mean(returns[-3:]))) and win == pytest.approx(float(np.mean(wins[-3:])))


@pytest.mark.parametrize("blue, red", [("heuristic", "policy"), ("policy", "policy")])
def test_only_blue_against_the_heuristic_is_supported(blue, red):
    with pytest.raises(ValueError, match="heuristic red team"):
        build_ppo_config(load_config(SMOKE, [f"env.blue={blue}", f"env.red={red}"]))
