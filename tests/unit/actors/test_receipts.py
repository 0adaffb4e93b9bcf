"""Failure receipts: a NaN in a batch is not trained on, leaves an error record and a receipt, and
the run goes on (or stops cleanly after learner.max_bad_updates in a row)."""

import json
from pathlib import Path

import torch

from echelon.actors.serial import train_serial
from echelon.config import load_config
from echelon.env.adapters import make_vector_env
from echelon.metrics import names as N
from echelon.metrics.logread import read_log
from echelon.metrics.validate import validate_log
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner
from echelon.ppo.rollout import RolloutCollector

REPO = Path(__file__).resolve().parents[3]
CARTPOLE = ["rollout.env=gymnasium:CartPole-v1", "rollout.num_envs=2", "rollout.fragment_len=16",
            "model.hidden_size=8", "model.lstm_size=8", "ppo.epochs=1", "learner.device=cpu",
            "learner.checkpoint_every=2", "metrics.console=false"]


def test_a_nonfinite_batch_leaves_the_weights_as_they_were():
    cfg = load_config(None, CARTPOLE + ["learner.debug_nan_update=2"])
    env = make_vector_env(cfg, 2, 0)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, build_policy(cfg, env.single_observation_space, env.single_action_space))
    collector.set_weights(*learner.get_weights())
    first = learner.update([collector.sample()])
    assert "nonfinite" not in first and learner.version == 1
    before = {k: v.clone() for k, v in learner.policy.state_dict().items()}
    opt_before = [s["exp_avg"].clone() for s in learner.optimizer.state_dict()["state"].values()]
    stats = learner.update([collector.sample()])  # update 2: one NaN observation injected
    assert stats["nonfinite"] == 1.0 and learner.version == 1 and learner.updates == 2
    report = stats["report"]
    assert report["where"] == "batch" and report["rows"] == [{"fragment": 0, "array": "obs", "row": 0, "steps": [0]}]
    assert report["batch"]["obs"]["nonfinite"] == 1
    assert len(report["param_norms"]) == len(list(learner.policy.parameters()))
    assert all(v > 0 for v in report["param_norms"].values())
    for k, v in learner.policy.state_dict().items():
        assert torch.equal(v, before[k]), k  # normalisers included
    opt_after = [s["exp_avg"] for s in learner.optimizer.state_dict()["state"].values()]
    assert all(torch.equal(a, b) for a, b in zip(opt_before, opt_after, strict=True))
    assert "nonfinite" not in learner.update([collector.sample()]) and learner.version == 2


def test_serial_run_with_a_nan_batch_completes_with_a_receipt(tmp_path):
    smoke = REPO / "ray_configs" / "smoke.yaml"
    cfg = load_config(smoke, ["learner.total_env_steps=512", "learner.debug_nan_update=2", "model.hidden_size=16",
                              "model.lstm_size=16", "metrics.console=false"])
    out = train_serial(cfg, tmp_path)
    assert out["stopped_by"] == "done" and out["updates"] == 4 and out["env_steps"] == 512
    records = read_log(tmp_path / "train_log.jsonl")
    assert [r[N.TRAIN_UPDATE] for r in records if r[N.KIND] == N.KIND_UPDATE] == [1, 3, 4]
    (err,) = [r for r in records if r[N.KIND] == N.KIND_ERROR]
    assert err[N.ERROR_KIND] == "nonfinite_update" and err[N.TRAIN_UPDATE] == 2
    assert err[N.TRACE_ID] == f"{records[0][N.RUN_ID]}:2" and "obs" in err[N.ERROR_MESSAGE]
    receipt = Path(err[N.ERROR_RECEIPT])
    assert receipt == tmp_path / "receipts" / err[N.TRACE_ID].replace(":", "-")
    names = sorted(p.name for p in receipt.iterdir())
    assert names[:2] == ["config.json", "frame_00.png"] and "report.json" in names and len(names) == 2 + 8
    report = json.loads((receipt / "report.json").read_text())
    assert report["rows"][0]["array"] == "obs" and report["batch"]["obs"]["nonfinite"] == 1
    assert json.loads((receipt / "config.json").read_text())["learner"]["debug_nan_update"] == 2
    result = validate_log(tmp_path / "train_log.jsonl")
    assert result.ok, result.errors
    assert [e["update"] for e in result.summary["error_records"]] == [2]


def test_bad_updates_in_a_row_stop_the_run_cleanly(tmp_path):
    cfg = load_config(None, CARTPOLE + ["learner.total_env_steps=320", "learner.debug_nan_update=3",
                                        "learner.debug_nan_count=5", "learner.max_bad_updates=2"])
    out = train_serial(cfg, tmp_path)
    assert out["stopped_by"] == "bad_updates" and out["updates"] == 4
    records = read_log(tmp_path / "train_log.jsonl")
    assert [r[N.TRAIN_UPDATE] for r in records if r[N.KIND] == N.KIND_ERROR] == [3, 4]
    assert records[-1][N.KIND] == N.KIND_SUMMARY and records[-1]["stopped_by"] == "bad_updates"
    assert records[-1]["checkpoint"].endswith("ckpt_00000004.pt")
    assert validate_log(tmp_path / "train_log.jsonl").ok
