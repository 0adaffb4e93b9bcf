"""Serial loop: log records, checkpoints, resume continues the counters."""

import json
from pathlib import Path

from echelon.checkpoint import list_checkpoints
from echelon.config import load_config
from echelon.ppo.serial import episode_summary, train_serial


def _cfg(total):
    return load_config(
        None,
        [
            "rollout.env=gymnasium:CartPole-v1",
            "rollout.num_envs=2",
            "rollout.fragment_len=16",
            "model.hidden_size=8",
            "model.lstm_size=8",
            "ppo.epochs=1",
            "learner.device=cpu",
            "learner.checkpoint_every=1",
            "learner.keep_checkpoints=2",
            f"learner.total_env_steps={total}",
            "metrics.console=false",
        ],
    )


def test_train_then_resume(tmp_path: Path):
    first = train_serial(_cfg(64), tmp_path)
    assert first["updates"] == 2 and first["env_steps"] == 64
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000001.pt", "ckpt_00000002.pt"]
    second = train_serial(_cfg(128), tmp_path, resume=True)
    assert second["updates"] == 4 and second["env_steps"] == 128
    records = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["type"] for r in records] == ["meta", "update", "update", "meta", "update", "update"]
    assert [r["update"] for r in records if r["type"] == "update"] == [1, 2, 3, 4]
    assert records[3]["resumed_from"].endswith("ckpt_00000002.pt")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000003.pt", "ckpt_00000004.pt"]


def test_episode_summary_win_rate_and_reasons():
    eps = [
        {"return": 1.0, "length": 10, "outcome": {"winner": "blue", "reason": "zone"}},
        {"return": 3.0, "length": 20, "outcome": {"winner": "red", "reason": "elimination"}},
        {"return": 2.0, "length": 30, "outcome": {"winner": "blue", "reason": "zone"}},
        {"return": 0.0, "length": 40, "outcome": {"winner": "draw", "reason": "time"}},
    ]
    s = episode_summary(eps)
    assert s["episode_return_mean"] == 1.5 and s["episode_length_mean"] == 25
    assert s["win_rate"] == 0.5 and s["draw_rate"] == 0.25
    assert (s["outcome_zone"], s["outcome_elimination"], s["outcome_time"]) == (0.5, 0.25, 0.25)
    empty = episode_summary([], echelon=True)
    assert empty["win_rate"] is None and empty["episode_return_mean"] is None
    assert "win_rate" not in episode_summary([{"return": 1.0, "length": 3}])
