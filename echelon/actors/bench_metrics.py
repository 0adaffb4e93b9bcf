"""Cost of the metric families (``scripts/bench_metrics.py``): training throughput with every
family on (``metrics.level: full``, the config's own strides, W&B offline) against
``metrics.level: minimal`` (train/, policy/ and the window's returns only, W&B offline too).

Both arms run the real :class:`~echelon.actors.orchestrator.Orchestrator` on one local Ray
instance, in ABBA order over ``pairs`` pairs (full, minimal, minimal, full, ...), so slow drift
of a shared machine's load hits both arms alike; throughput of a run is taken after its warm-up
updates (see :func:`echelon.actors.bench._training`; warm-up and timed window stretched by
:func:`cover_strides`). The figure of merit is the geometric mean over pairs of ``full / minimal``
env-steps/s, measured in the same run, with its 95% bootstrap interval
(:func:`geometric_mean_ci`); beside it the median ratio, and the same ratio at
equal CPU (``cpu_ratio``: minimal's over full's CPU seconds per env step of every process of the
Ray session), which the load of other processes on a shared machine moves far less.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from typing import Optional, Sequence

import numpy as np
import ray

from echelon.actors.bench import _training
from echelon.config import load_config

LEVELS = ("full", "minimal")
SETTLE_S = 3.0  # pause after each run: the previous run's actors and W&B service finish exiting


def geometric_mean_ci(ratios: Sequence[float], resamples: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """``(geometric mean, low, high)`` of per-pair ratios: a 95% percentile bootstrap over pairs.

    On a shared VM a single run's throughput moves by 10-20% with the host's load, so the figure
    of merit is the mean over many short ABBA pairs and its interval, not one pair's ratio.
    """
    logs = np.log(np.asarray(ratios, dtype=np.float64))
    if logs.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = logs[rng.integers(0, logs.size, size=(resamples, logs.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(np.exp(logs.mean())), float(np.exp(low)), float(np.exp(high))


def order(pairs: int) -> list[str]:
    """ABBA arm order: ``full, minimal, minimal, full, full, minimal, ...`` (``2 * pairs`` runs)."""
    out: list[str] = []
    for i in range(pairs):
        out += list(LEVELS) if i % 2 == 0 else list(reversed(LEVELS))
    return out


# A learning rate too small to move a float32 weight: the learner does all its work, the policy
# stays the initial one, and every run plays the same matches.
FROZEN = ("ppo.lr=1e-12", "ppo.lr_min=1e-12")


STRIDES = ("coordination_every", "histogram_every", "spatial_every", "table_every")


def cover_strides(mcfg: object, warmup: int, updates: int) -> tuple[int, int]:
    """``(warm-up, timed updates)`` stretched so that the run logs every family in proportion.

    The warm-up reaches the largest stride, so each family's one-time set-up (matplotlib's
    import and cached figure, W&B's media types) has happened before the clock starts; the timed
    updates are a whole number of that stride, so a heat map every 50 updates is in the timed
    window as often as in a long run (a window of 30 updates would hold none).
    """
    top = max(int(getattr(mcfg, k)) for k in STRIDES)
    return max(warmup, top), -(-max(updates, 1) // top) * top


def metrics_cost(config: str, overrides: Sequence[str] = (), pairs: int = 3, updates: int = 20, warmup: int = 3,
                 num_cpus: Optional[int] = None, frozen: bool = True) -> dict:
    """Alternate full and minimal training runs; JSON-ready result with the per-pair ratios.

    ``frozen``: freeze the policy (:data:`FROZEN`). Learning moves a run's own cost per env step
    by up to 50% on the smoke workload (what the policy does changes how long mechs live, how
    much they shoot, when the matches end, and when each worker waits for weights), far more
    than the metrics cost; with the policy frozen both arms play the same matches, so the
    difference between them is the metrics' own.
    """
    # Evaluations are not a metric family: off in both arms, so they add no noise.
    base = [*overrides, "metrics.wandb_mode=offline", "metrics.console=false", "eval.every=0",
            f"learner.total_env_steps={10**12}", *(FROZEN if frozen else ())]
    cfgs = {lvl: load_config(config, [*base, f"metrics.level={lvl}"]) for lvl in LEVELS}
    warmup, updates = cover_strides(cfgs["full"].metrics, warmup, updates)
    runs: dict[str, list[float]] = {lvl: [] for lvl in LEVELS}
    cpu: dict[str, list[float]] = {lvl: [] for lvl in LEVELS}
    wait: dict[str, list[float]] = {lvl: [] for lvl in LEVELS}
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="warning")
    try:
        for lvl in order(pairs):
            res = _training(cfgs[lvl], updates, warmup)
            runs[lvl].append(res["env_steps_per_s"])
            cpu[lvl].append(res["cpu_s_per_kstep"])
            wait[lvl].append(res["driver_metrics_wait_frac"])
            time.sleep(SETTLE_S)
    finally:
        ray.shutdown()
    ratios = [f / m for f, m in zip(runs["full"], runs["minimal"], strict=True)]
    # Throughput at equal CPU: minimal's CPU per env step over full's (1.0 = the families cost nothing).
    cpu_ratios = [m / f for f, m in zip(cpu["full"], cpu["minimal"], strict=True)]
    gmean, low, high = geometric_mean_ci(ratios)
    cfg = cfgs["full"]
    return {
        "config": config,
        "overrides": list(overrides),
        "workers": cfg.ray.num_workers,
        "envs_per_worker": cfg.rollout.num_envs,
        "strides": {k: getattr(cfg.metrics, k) for k in STRIDES},
        "cpus": num_cpus or os.cpu_count(),
        "machine": platform.machine(),
        "pairs": pairs,
        "frozen_policy": frozen,
        "warmup_updates": warmup,
        "timed_updates": updates,
        "full_env_steps_per_s": [round(x, 1) for x in runs["full"]],
        "minimal_env_steps_per_s": [round(x, 1) for x in runs["minimal"]],
        "ratio_per_pair": [round(r, 3) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_geomean": round(gmean, 3),
        "ratio_geomean_ci95": [round(low, 3), round(high, 3)],
        "ratio_of_medians": round(statistics.median(runs["full"]) / statistics.median(runs["minimal"]), 3),
        "full_cpu_s_per_kstep": [round(x, 3) for x in cpu["full"]],
        "minimal_cpu_s_per_kstep": [round(x, 3) for x in cpu["minimal"]],
        "cpu_ratio_per_pair": [round(r, 3) for r in cpu_ratios],
        # Share of each timed window the driver spent blocked on the metrics actor's update records.
        "full_driver_metrics_wait_frac": [round(x, 4) for x in wait["full"]],
        "minimal_driver_metrics_wait_frac": [round(x, 4) for x in wait["minimal"]],
        "cpu_ratio_median": round(statistics.median(cpu_ratios), 3),
    }
