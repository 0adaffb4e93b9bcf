"""Fast learning check inside ``make test``: serial PPO solves CartPole-v1 to >= 195 (seeded)."""

import json
import time
from pathlib import Path

import torch

from echelon.config import load_config
from echelon.ppo.serial import train_serial

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
    lines = (tmp_path / "train_log.jsonl").read_text().splitlines()
    meta, records = json.loads(lines[0]), [json.loads(x) for x in lines[1:]]
    assert meta["type"] == "meta" and meta["seed"] == cfg.seed
    assert len(records) == summary["updates"]
    for key in ("update", "env_steps", "episode_return_mean", "episode_length_mean", "policy_loss", "value_loss",
                "entropy", "approx_kl", "clipfrac", "explained_variance", "grad_norm", "lr", "sps"):
        assert key in records[-1], key
    assert (tmp_path / "checkpoints" / f"ckpt_{summary['updates']:08d}.pt").is_file()
