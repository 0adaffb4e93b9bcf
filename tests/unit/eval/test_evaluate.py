"""Evaluation: the Wilson interval, seeded reproducibility, alternated sides, a checkpoint opponent."""

from pathlib import Path

import pytest

from echelon.checkpoint import Counters, TrainingState, build_payload, save_checkpoint
from echelon.config import EnvConfig, config_to_dict, load_config
from echelon.env.vec_env import EchelonVecEnv
from echelon.eval.evaluate import eval_env_config, evaluate, summarize, wilson_interval
from echelon.ppo.learner import Learner

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("wins,n,low,high", [
    (0, 10, 0.0, 0.2775),   # published Wilson 95% bounds
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_interval_against_known_values(wins, n, low, high):
    lo, hi = wilson_interval(wins, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def _checkpoint(run_dir: Path, seed: int) -> Path:
    cfg = load_config(REPO / "ray_configs" / "smoke.yaml", ["model.hidden_size=16", "model.lstm_size=16",
                                                           "learner.device=cpu", f"seed={seed}",
                                                           "env.episode_seconds=6.0"])
    env = EchelonVecEnv(cfg.env, 1)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    state = TrainingState(learner=learner.state_dict(), counters=Counters(), config=config_to_dict(cfg),
                          run_id=f"r{seed}", trace_id=f"r{seed}:0")
    return save_checkpoint(run_dir, 0, build_payload(state))


def test_same_checkpoint_and_seed_give_the_same_result(tmp_path):
    ckpt = _checkpoint(tmp_path / "a", seed=0)
    first = evaluate(ckpt, matches=6, seed=3, greedy=False)
    again = evaluate(ckpt, matches=6, seed=3, greedy=False)
    keys = ("wins", "draws", "losses", "reasons", "mean_length", "mean_damage_dealt", "by_side")
    assert {k: first[k] for k in keys} == {k: again[k] for k in keys}
    assert first["matches"] == 6 and first["by_side"]["blue"]["matches"] == first["by_side"]["red"]["matches"] == 3
    assert first["wins"] + first["draws"] + first["losses"] == 6
    other = evaluate(ckpt, matches=6, seed=4, greedy=False)
    assert (other["mean_damage_dealt"], other["mean_length"]) != (first["mean_damage_dealt"], first["mean_length"])


def test_a_checkpoint_opponent_and_greedy_play(tmp_path):
    out = evaluate(_checkpoint(tmp_path / "a", 0), opponent=str(_checkpoint(tmp_path / "b", 1)), matches=4,
                   seed=0, greedy=True, fire_prob=0.5)
    assert out["matches"] == 4 and out["opponent"].endswith("ckpt_00000000.pt") and out["greedy"]
    assert set(out["reasons"]) <= {"zone", "elimination", "time"}


def test_summarize_counts_from_the_policys_side():
    rows = [dict(match=i, side=("blue", "red")[i % 2], result=r, reason="zone", length=10, damage_dealt=1.0,
                 damage_taken=2.0, kills=0, deaths=1, enemy_deaths=0, **{"return": float(i)})
            for i, r in enumerate(["win", "loss", "win", "draw"])]
    out = summarize(rows)
    assert (out["wins"], out["draws"], out["losses"]) == (2, 1, 1) and out["win_rate"] == 0.5
    assert out["by_side"] == {"blue": {"matches": 2, "wins": 2, "win_rate": 1.0},
                              "red": {"matches": 2, "wins": 0, "win_rate": 0.0}}
    assert out["mean_return"] == 1.5  # (0 + 1 + 2 + 3) / 4
    assert summarize([])["win_rate"] == 0.0


def test_evaluation_matches_have_one_layout_even_from_a_curriculum_config():
    trained = EnvConfig(packs_per_team=2, size_x=100, size_y=100, size_range=[40, 100], packs_range=[1, 2])
    cfg = eval_env_config(trained, "blue", False, packs_per_team=1, size=40)
    assert (cfg.size_x, cfg.size_y, cfg.packs_per_team, cfg.size_range, cfg.packs_range) == (40, 40, 1, None, None)
    full = eval_env_config(trained, "red", False)
    assert (full.size_x, full.packs_per_team, full.size_range, full.red) == (100, 2, None, "policy")
