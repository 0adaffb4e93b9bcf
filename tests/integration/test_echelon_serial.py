"""Echelon (5v5 on 40 x 40 vs the heuristic) runs through the serial PPO loop; records carry episode/win_rate."""

import json
from pathlib import Path

import pytest

from echelon.config import load_config
from echelon.env.obs_layout import FLAT_OBS_DIM
from echelon.metrics import names as N
from echelon.model.actor_critic import SetEncoder



def test_echelon_serial_tiny_run(tmp_path: Path):
    from echelon.ppo.learner import Learner
    from echelon.actors.serial import train_serial

    cfg = load_config(
        None,
        [
            "rollout.env=echelon",
            "env.packs_per_team=1",
            "env.size_x=40",
            "env.size_y=40",
            "env.episode_seconds=3.0",
            "rollout.num_envs=2",
            "rollout.fragment_len=16",
            "ppo.bptt_len=8",
            "ppo.epochs=1",
            "ppo.num_minibatches=2",
            "model.hidden_size=32",
            "model.lstm_size=32",
            "learner.device=cpu",
            "learner.total_env_steps=96",
            "metrics.console=false",
        ],
    )
    summary = train_serial(cfg, tmp_path)
    assert summary["updates"] == 3 and summary["env_steps"] == 96
    records = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert records[0][N.KIND] == N.KIND_META and records[0]["obs_dim"] == FLAT_OBS_DIM
    ups = [r for r in records if r[N.KIND] == N.KIND_UPDATE]
    assert len(ups) == 3 and all(isinstance(r[N.TRAIN_POLICY_LOSS], float) for r in ups)
    # Episodes of 3 s (12 steps of 0.25 s) end inside the first fragment, so the window has outcomes.
    last = ups[-1]
    assert 0.0 <= last[N.RETURNS_WIN_RATE] <= 1.0
    assert last[N.RETURNS_WIN_RATE] + last[N.RETURNS_DRAW_RATE] + last[N.RETURNS_LOSS_RATE] == pytest.approx(1.0)
    ends = (N.RETURNS_END_ZONE_RATE, N.RETURNS_END_ELIMINATION_RATE, N.RETURNS_END_TIME_RATE)
    assert sum(last[k] for k in ends) == pytest.approx(1.0)
    learner = Learner(cfg, *_spaces(cfg))
    assert isinstance(learner.policy.encoder, SetEncoder)


def _spaces(cfg):
    from echelon.env.adapters import make_vector_env

    env = make_vector_env(cfg, 1, 0)
    try:
        return env.single_observation_space, env.single_action_space
    finally:
        env.close()
