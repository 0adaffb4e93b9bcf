"""Learning checks in serial mode: does PPO reach each task's return within its step budget?

Runs each task's config from ray_configs/ (seeded, CPU, one torch thread), reads the run's
train_log.jsonl and prints one JSON object per task: env steps used, wall seconds, the first
env step at which the windowed mean return reached the threshold, the best and final windowed
mean return, and whether the check passed. ``cartpole_memory_nolstm`` is the control: it
passes when its best return stays below its ``below`` bound. ``echelon`` (5v5 vs the
heuristic) passes when the blue win rate at the end of training (the windowed rate averaged over
the last 10% of update records) is at least ``ECHELON_MIN_WIN_GAIN`` above that of the first
record with finished matches; it also reports the first- and last-window win rates and mean
returns. Every task reports its first-window
mean return.

    python scripts/bench_learning.py [--tasks cartpole pendulum echelon] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from echelon.config import load_config
from echelon.metrics import names as N
from echelon.metrics.logread import is_finite_number, read_log
from echelon.actors.serial import train_serial

ROOT = Path(__file__).resolve().parents[1]

# task -> (config, threshold the windowed mean return must reach, or None; bound it must stay below, or None)
TASKS = {
    "cartpole": ("cartpole_learn.yaml", 475.0, None),
    "cartpole_memory": ("cartpole_memory.yaml", 450.0, None),
    "cartpole_memory_nolstm": ("cartpole_memory_nolstm.yaml", None, 300.0),
    "pendulum": ("pendulum.yaml", -250.0, None),
    "echelon": ("echelon_learn.yaml", None, None),
}
# Echelon: the last window's win rate minus the first window's must reach this.
ECHELON_MIN_WIN_GAIN = 0.3


def run_task(name: str, run_root: Path, overrides: list[str]) -> dict:
    config, threshold, below = TASKS[name]
    cfg = load_config(ROOT / "ray_configs" / config, ["metrics.console=false", *overrides])
    run_dir = run_root / name
    t0 = time.perf_counter()
    summary = train_serial(cfg, run_dir)
    wall = time.perf_counter() - t0
    records = [r for r in read_log(run_dir / "train_log.jsonl") if r[N.KIND] == N.KIND_UPDATE]
    ret_key = N.RETURNS_MEAN
    returns = [(r[N.TRAIN_ENV_STEPS], r[ret_key]) for r in records if is_finite_number(r.get(ret_key))]
    best = max((ret for _, ret in returns), default=None)
    reached = next((steps for steps, ret in returns if threshold is not None and ret >= threshold), None)
    out = {
        "task": name,
        "config": f"ray_configs/{config}",
        "env_steps": summary["env_steps"],
        "wall_s": round(wall, 1),
        "threshold": threshold,
        "below": below,
        "reached_at_env_steps": reached,
        "first_mean_return": returns[0][1] if returns else None,
        "best_mean_return": best,
        "final_mean_return": summary["episode_return_mean"],
    }
    if name == "echelon":
        wins = [
            (r[N.TRAIN_ENV_STEPS], r[N.RETURNS_WIN_RATE], r.get(N.RETURNS_MEAN))
            for r in records
            if r.get(N.RETURNS_WIN_RATE) is not None
        ]
        first, last = (wins[0], wins[-1]) if wins else ((None,) * 3, (None,) * 3)
        # One window of 100 matches has a standard error of ~0.05 on the rate; averaging the
        # windows of the last 10% of updates measures where training ended, not one draw.
        tail = wins[-max(1, len(wins) // 10):]
        end_rate = sum(w for _, w, _ in tail) / len(tail) if wins else None
        gain = end_rate - first[1] if wins else None
        out.update(
            first_window_env_steps=first[0],
            first_win_rate=first[1],
            last_win_rate=last[1],
            end_win_rate=end_rate,
            end_from_env_steps=tail[0][0] if wins else None,
            win_rate_gain=gain,
            min_win_gain=ECHELON_MIN_WIN_GAIN,
        )
        passed = gain is not None and gain >= ECHELON_MIN_WIN_GAIN
    elif threshold is not None:
        passed = reached is not None
    else:
        passed = best is not None and best < below
    out["passed"] = passed
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--run-root", type=Path, default=None, help="where runs go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results JSON here")
    parser.add_argument("--set", action="append", default=[], help="override for every task, e.g. seed=2")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # learning runs share a small machine; one thread is also the fastest here
    run_root = args.run_root or Path(tempfile.mkdtemp(prefix="echelon_learn_"))
    results = []
    for name in args.tasks:
        results.append(run_task(name, run_root, args.set))
        print(json.dumps(results[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
