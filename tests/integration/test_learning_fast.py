"""Fast learning check inside ``make test``: serial PPO solves CartPole-v1 to >= 195 (seeded)."""

import json
import time
from pathlib import Path

import torch

from echelon.config import load_config
from echelon.metrics import names as N
from echelon.actors.serial import train_serial

ROOT = Path(__file__).resolve().parents[2]


def test_cartpole_reaches_195_fast(tmp_path: Path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = load_config(
            ROOT / "ray_configs" / "cartpole_learn.yaml",
            ["learner.total_env_steps=30000", "metrics.console=false", "learner.checkpoint_every=1000"],
        )
        t0 = time.perf_counter()
        summary = train_serial(cfg, tmp_path)
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    assert summary["episode_return_mean"] >= 195, summary
    assert wall < 90, wall
    records = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    meta, summary_rec = records[0], records[-1]
    ups = [r for r in records if r[N.KIND] == N.KIND_UPDATE]
    assert meta[N.KIND] == N.KIND_META and meta["mode"] == "serial" and meta["seed"] == cfg.seed
    assert summary_rec[N.KIND] == N.KIND_SUMMARY and summary_rec[N.TRAIN_UPDATE] == summary["updates"]
    assert len(ups) == summary["updates"] == len(records) - 2
    assert ups[-1][N.RETURNS_MEAN] == summary["episode_return_mean"]
    for key in (*N.REQUIRED_UPDATE_KEYS, N.RETURNS_MEAN, N.RETURNS_LENGTH_MEAN):
        assert key in ups[-1], key
    assert (tmp_path / "checkpoints" / f"ckpt_{summary['updates']:08d}.pt").is_file()
