"""Serial loop: log records (the Ray driver's schema), checkpoints, resume continues the counters."""

import json
from pathlib import Path

from echelon.checkpoint import list_checkpoints
from echelon.config import load_config
from echelon.metrics import names as N
from echelon.metrics.validate import validate_log
from echelon.actors.serial import train_serial


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
    assert [r[N.KIND] for r in records] == [
        "meta", "update", "update", "summary", "meta", "resume", "update", "update", "summary",
    ]
    assert records[0]["mode"] == "serial" and records[0]["resumed"] is False and records[4]["resumed"] is True
    ups = [r for r in records if r[N.KIND] == N.KIND_UPDATE]
    assert [r[N.TRAIN_UPDATE] for r in ups] == [1, 2, 3, 4]
    assert [r[N.TRAIN_ENV_STEPS] for r in ups] == [32, 64, 96, 128]
    # 2 CartPole rows x 16 steps per update; the agent-step counter continues across the resume.
    assert [r[N.TRAIN_AGENT_STEPS] for r in ups] == [32, 64, 96, 128]
    assert all(r[N.SYSTEM_POLICY_LAG_MAX] == 0 and r[N.SYSTEM_NUM_WORKERS] == 1 for r in ups)
    resume = records[5]
    assert resume[N.RESUME_FROM].endswith("ckpt_00000002.pt") and resume[N.RESUME_SKIPPED] == []
    assert resume[N.TRAIN_UPDATE] == 2 and resume[N.TRAIN_ENV_STEPS] == 64
    assert resume[N.TRAIN_EPISODES] == records[3][N.TRAIN_EPISODES] == ups[1][N.TRAIN_EPISODES]
    assert records[-1]["stopped_by"] == "done" and records[-1][N.TRAIN_UPDATE] == 4
    # One run id across the resume; each update's trace id names it and the update.
    assert len({r[N.RUN_ID] for r in records}) == 1
    assert [r[N.TRACE_ID] for r in ups] == [f"{records[0][N.RUN_ID]}:{u}" for u in (1, 2, 3, 4)]
    assert resume[N.RESUME_ABANDONED] is None and resume[N.RESUME_CHANGED] == {}
    result = validate_log(tmp_path / "train_log.jsonl")
    assert result.ok, result.errors
    assert result.summary["counts"] == {"meta": 2, "update": 4, "resume": 1, "summary": 2}
    assert records[-1]["checkpoint"].endswith("ckpt_00000004.pt")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000003.pt", "ckpt_00000004.pt"]


def test_update_records_carry_every_required_key(tmp_path: Path):
    train_serial(_cfg(64), tmp_path)
    records = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    for r in records:
        if r[N.KIND] == N.KIND_UPDATE:
            missing = set(N.REQUIRED_UPDATE_KEYS) - set(r)
            assert not missing, missing
            # Every metric key is a names.py constant or built by its helpers (no serial-only keys).
            plain = {N.KIND, N.TIME, N.RUN_ID, N.TRACE_ID}
            unknown = [k for k in set(r) - plain if not N.is_metric_key(k)]
            assert not unknown, unknown
