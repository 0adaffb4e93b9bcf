"""Cost of the metric families (``scripts/bench_metrics.py``): training throughput with every
family on (``metrics.level: full``, the config's own strides, W&B offline) against
``metrics.level: minimal`` (train/, policy/ and the window's returns only, W&B offline too).

Both arms run the real :class:`~echelon.actors.orchestrator.Orchestrator` on one local Ray
instance, in ABBA order over ``pairs`` pairs (full, minimal, minimal, full, ...), so slow drift
of a shared machine's load hits both arms alike; throughput of a run is taken after its warm-up
updates (see :func:`echelon.actors.bench._training`). The figure of merit is the median over
pairs of ``full / minimal`` env-steps/s, measured in the same run; beside it, the same ratio at
equal CPU (``cpu_ratio``: minimal's over full's CPU seconds per env step of every process of the
Ray session), which the load of other processes on a shared machine moves far less.
"""

from __future__ import annotations

import os
import platform
import statistics
from typing import Optional, Sequence

import ray

from echelon.actors.bench import _training
from echelon.config import load_config

LEVELS = ("full", "minimal")


def order(pairs: int) -> list[str]:
    """ABBA arm order: ``full, minimal, minimal, full, full, minimal, ...`` (``2 * pairs`` runs)."""
    out: list[str] = []
    for i in range(pairs):
        out += list(LEVELS) if i % 2 == 0 else list(reversed(LEVELS))
    return out


def metrics_cost(config: str, overrides: Sequence[str] = (), pairs: int = 3, updates: int = 20, warmup: int = 3,
                 num_cpus: Optional[int] = None) -> dict:
    """Alternate full and minimal training runs; JSON-ready result with the per-pair ratios."""
    # Evaluations are not a metric family: off in both arms, so they add no noise.
    base = [*overrides, "metrics.wandb_mode=offline", "metrics.console=false", "eval.every=0",
            f"learner.total_env_steps={10**12}"]
    cfgs = {lvl: load_config(config, [*base, f"metrics.level={lvl}"]) for lvl in LEVELS}
    runs: dict[str, list[float]] = {lvl: [] for lvl in LEVELS}
    cpu: dict[str, list[float]] = {lvl: [] for lvl in LEVELS}
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="warning")
    try:
        for lvl in order(pairs):
            res = _training(cfgs[lvl], updates, warmup)
            runs[lvl].append(res["env_steps_per_s"])
            cpu[lvl].append(res["cpu_s_per_kstep"])
    finally:
        ray.shutdown()
    ratios = [f / m for f, m in zip(runs["full"], runs["minimal"], strict=True)]
    # Throughput at equal CPU: minimal's CPU per env step over full's (1.0 = the families cost nothing).
    cpu_ratios = [m / f for f, m in zip(cpu["full"], cpu["minimal"], strict=True)]
    cfg = cfgs["full"]
    return {
        "config": config,
        "overrides": list(overrides),
        "workers": cfg.ray.num_workers,
        "envs_per_worker": cfg.rollout.num_envs,
        "strides": {k: getattr(cfg.metrics, k) for k in
                    ("coordination_every", "histogram_every", "spatial_every", "table_every")},
        "cpus": num_cpus or os.cpu_count(),
        "machine": platform.machine(),
        "pairs": pairs,
        "timed_updates": updates,
        "full_env_steps_per_s": [round(x, 1) for x in runs["full"]],
        "minimal_env_steps_per_s": [round(x, 1) for x in runs["minimal"]],
        "ratio_per_pair": [round(r, 3) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_of_medians": round(statistics.median(runs["full"]) / statistics.median(runs["minimal"]), 3),
        "full_cpu_s_per_kstep": [round(x, 3) for x in cpu["full"]],
        "minimal_cpu_s_per_kstep": [round(x, 3) for x in cpu["minimal"]],
        "cpu_ratio_per_pair": [round(r, 3) for r in cpu_ratios],
        "cpu_ratio_median": round(statistics.median(cpu_ratios), 3),
    }
