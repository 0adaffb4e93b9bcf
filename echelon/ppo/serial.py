"""Serial mode: the whole training loop in one process, no Ray (debugging, tests, learning checks).

Read top to bottom: build env, learner and collector; optionally resume; then repeat
``collector.sample() → learner.update()``, log one JSON record per update to
``RUN_DIR/train_log.jsonl`` and checkpoint every ``learner.checkpoint_every`` updates.
"""

from __future__ import annotations

import collections
import json
import math
import platform
import subprocess
import time
from pathlib import Path

import gymnasium
import numpy as np
import torch

from echelon.checkpoint import load_latest_checkpoint, save_checkpoint
from echelon.config import TrainConfig, config_to_dict
from echelon.env.adapters import make_vector_env
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner
from echelon.ppo.rollout import RolloutCollector

LOG_NAME = "train_log.jsonl"


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _mean(xs) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def episode_summary(episodes, echelon: bool = False) -> dict:
    """Window stats of finished-episode dicts: mean return and length; for Echelon (``echelon``
    or episodes with an ``outcome``) the blue win rate vs the heuristic, the draw rate and the
    share of each end reason (null while the window holds no finished match)."""
    out = {
        "episode_return_mean": _mean([e["return"] for e in episodes]),
        "episode_length_mean": _mean([e["length"] for e in episodes]),
        "episodes_in_window": len(episodes),
    }
    outcomes = [e["outcome"] for e in episodes if isinstance(e.get("outcome"), dict)]
    if outcomes or echelon:
        out["win_rate"] = _mean([o.get("winner") == "blue" for o in outcomes])
        out["draw_rate"] = _mean([o.get("winner") == "draw" for o in outcomes])
        for reason in ("zone", "elimination", "time"):
            out[f"outcome_{reason}"] = _mean([o.get("reason") == reason for o in outcomes])
    return out


def _clean(x):
    # JSON has no NaN/inf: write null instead.
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def train_serial(cfg: TrainConfig, run_dir: Path, resume: bool = False) -> dict:
    """Train ``cfg`` in this process until ``learner.total_env_steps``; return a summary dict.

    Writes ``run_dir/train_log.jsonl`` (a ``meta`` record, then one ``update`` record per
    update) and ``run_dir/checkpoints/ckpt_<update>.pt``. With ``resume`` the newest usable
    checkpoint is loaded and the log is appended to.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    # Env, learner, and the collector's CPU policy copy.
    env = make_vector_env(cfg, cfg.rollout.num_envs, cfg.seed)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    if resume:
        ckpt_path, payload = load_latest_checkpoint(run_dir)
        learner.load_state_dict(payload["learner"])
    policy = build_policy(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, policy, seed=cfg.seed + 1000 * learner.updates)

    log = open(run_dir / LOG_NAME, "a" if resume else "w", buffering=1)
    meta = {
        "type": "meta",
        "config": config_to_dict(cfg),
        "seed": cfg.seed,
        "resumed_from": str(ckpt_path) if resume else None,
        "versions": {
            "git_sha": _git_sha(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "gymnasium": gymnasium.__version__,
        },
        "device": str(learner.device),
        "obs_dim": int(env.single_observation_space.shape[0]),
        "action_space": repr(env.single_action_space),
        "num_rows": int(env.num_rows),
    }
    log.write(json.dumps(meta) + "\n")

    window = collections.deque(maxlen=cfg.metrics.window)
    record: dict = {}
    t0, steps0 = time.perf_counter(), learner.env_steps
    while learner.env_steps < cfg.learner.total_env_steps:
        t_iter = time.perf_counter()
        collector.set_weights(*learner.get_weights())
        fragment = collector.sample()
        stats = learner.update([fragment])
        window.extend(fragment.episodes)

        dt = time.perf_counter() - t_iter
        record = {
            "type": "update",
            "update": learner.updates,
            "env_steps": learner.env_steps,
            "wall_s": time.perf_counter() - t0,
            "sps": fragment.env_steps / dt,
            **episode_summary(window, echelon=cfg.rollout.env == "echelon"),
            **stats,
        }
        log.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
        if cfg.metrics.console and learner.updates % 10 == 0:
            print(
                f"update {learner.updates} steps {learner.env_steps} return {record['episode_return_mean']} "
                f"sps {record['sps']:.0f}",
                flush=True,
            )
        if learner.updates % cfg.learner.checkpoint_every == 0:
            _checkpoint(run_dir, cfg, learner)

    _checkpoint(run_dir, cfg, learner)
    log.close()
    env.close()
    wall = time.perf_counter() - t0
    return {
        "updates": learner.updates,
        "env_steps": learner.env_steps,
        "wall_s": wall,
        "sps": (learner.env_steps - steps0) / max(wall, 1e-9),
        "episode_return_mean": record.get("episode_return_mean"),
        "episode_length_mean": record.get("episode_length_mean"),
        "win_rate": record.get("win_rate"),
        "run_dir": str(run_dir),
    }


def _checkpoint(run_dir: Path, cfg: TrainConfig, learner: Learner) -> Path:
    payload = {"learner": learner.state_dict(), "config": config_to_dict(cfg), "update": learner.updates}
    return save_checkpoint(run_dir, learner.updates, payload, keep=cfg.learner.keep_checkpoints)
