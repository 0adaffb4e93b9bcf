"""Learning checks (``make learn``): does PPO reach each task's bar, on every seed, and stay there?

Each check trains one task's config from ``ray_configs/`` in serial mode (CPU, one torch thread,
seeded), reads the run's ``train_log.jsonl`` and measures, from the update records' windowed
score (``episode/return_mean``; Echelon: ``episode/win_rate``):

- ``first_at_bar``: the first env step at which the windowed score reached the task's bar;
- ``final10``: the mean windowed score over the last 10% of update records (where training
  ended, not one noisy window);
- ``best``: the best mean windowed score over any span of consecutive update records as long as
  that final 10% (like compared with like: a single window's maximum is biased up by its noise);
- ``late_drop``: ``(best - final10) / (hi - lo)``, the fall from the best span to the end as a
  share of the task's score range ``[lo, hi]`` (random level to solved);
- ``warnings``: the collapse alarms the run raised (:mod:`echelon.metrics.alarms`).

A seed passes when it reached the bar (the control task: when its best window stayed below its
bound) and ``late_drop <= MAX_LATE_DROP`` (no late collapse). Seeds of all tasks run as Ray tasks,
``jobs`` at a time (one CPU each), longest first.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from echelon.metrics import names as N
from echelon.metrics.logread import is_finite_number, read_log

ROOT = Path(__file__).resolve().parents[2]

# A seed's end-of-run score may sit at most this share of the task's range below its best span.
MAX_LATE_DROP = 0.10


@dataclass(frozen=True)
class Task:
    """One learning check.

    ``bar``: the windowed score to reach (None for the control); ``below``: the bound the control's
    best window must stay under; ``lo``, ``hi``: the score range (random level, solved) that
    scales the late-drop criterion; ``score``: the update-record key read; ``est_s``: rough wall
    seconds per seed on one core of the 2-core dev VM (orders the queue, longest first); ``long``:
    only in ``make learn-long``, not in ``make learn``.
    """

    config: str
    bar: Optional[float]
    lo: float
    hi: float
    below: Optional[float] = None
    score: str = N.RETURNS_MEAN
    est_s: float = 60.0
    long: bool = False


TASKS: dict[str, Task] = {
    "cartpole": Task("cartpole_learn.yaml", bar=475.0, lo=20.0, hi=500.0, est_s=40),
    "cartpole_memory": Task("cartpole_memory.yaml", bar=450.0, lo=20.0, hi=500.0, est_s=250),
    "cartpole_memory_nolstm": Task("cartpole_memory_nolstm.yaml", bar=None, below=300.0, lo=20.0, hi=500.0,
                                   est_s=50),
    "pendulum": Task("pendulum.yaml", bar=-250.0, lo=-1400.0, hi=-150.0, est_s=110),
    "spread": Task("spread_learn.yaml", bar=-16.5, lo=-21.0, hi=-14.0, est_s=250),
    "echelon": Task("echelon_learn.yaml", bar=0.3, lo=0.0, hi=1.0, score=N.RETURNS_WIN_RATE, est_s=600),
    # The long check (make learn-long): the kind of run that motivated the KL guard.
    "pendulum_memory": Task("pendulum_memory.yaml", bar=-400.0, lo=-1400.0, hi=-150.0, est_s=600, long=True),
}
DEFAULT_TASKS = [name for name, task in TASKS.items() if not task.long]


def score_series(records: Sequence[dict], key: str) -> list[tuple[int, float]]:
    """``(env_steps, score)`` of the update records that carry a finite ``key``."""
    return [
        (int(r[N.TRAIN_ENV_STEPS]), float(r[key]))
        for r in records
        if r.get(N.KIND) == N.KIND_UPDATE and is_finite_number(r.get(key))
    ]


def summarize(series: Sequence[tuple[int, float]], task: Task, bar: Optional[float] = None) -> dict[str, Any]:
    """The check's figures for one run's score series (module docstring); pure.

    ``bar`` overrides ``task.bar`` (Echelon's bar is a gain over the run's first window).
    """
    bar = task.bar if bar is None else bar
    scores = [s for _, s in series]
    out: dict[str, Any] = {"records": len(scores), "first_score": scores[0] if scores else None}
    if not scores:
        return {**out, "first_at_bar": None, "final10": None, "best": None, "best_window": None,
                "late_drop": None, "reached": False, "no_collapse": False}
    n = max(1, len(scores) // 10)
    final10 = statistics.fmean(scores[-n:])
    best = max(statistics.fmean(scores[i:i + n]) for i in range(len(scores) - n + 1))
    late_drop = max(0.0, best - final10) / (task.hi - task.lo)
    first = next((steps for steps, s in series if bar is not None and s >= bar), None)
    reached = first is not None if bar is not None else max(scores) < (task.below or float("inf"))
    return {
        **out,
        "first_at_bar": first,
        "final10": final10,
        "best": best,
        "best_window": max(scores),
        "late_drop": late_drop,
        "reached": reached,
        "no_collapse": late_drop <= MAX_LATE_DROP,
    }


def run_check(name: str, seed: int, run_root: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Train task ``name`` with ``seed`` in this process; the :func:`summarize` figures and more."""
    import torch

    from echelon.actors.serial import train_serial
    from echelon.config import load_config

    torch.set_num_threads(1)  # learning runs share a small machine; one thread is also the fastest here
    task = TASKS[name]
    cfg = load_config(ROOT / "ray_configs" / task.config,
                      ["metrics.console=false", f"seed={seed}", *overrides])
    run_dir = Path(run_root) / f"{name}_seed{seed}"
    t0 = time.perf_counter()
    train_serial(cfg, run_dir)
    wall = time.perf_counter() - t0
    records = read_log(run_dir / "train_log.jsonl")
    series = score_series(records, task.score)
    bar = task.bar
    if name == "echelon" and series:
        bar = series[0][1] + task.bar  # a win-rate gain over the first window with finished matches
    out = {"task": name, "seed": seed, "config": f"ray_configs/{task.config}", "overrides": list(overrides),
           "env_steps": int(cfg.learner.total_env_steps), "wall_s": round(wall, 1), "bar": bar,
           "below": task.below, "range": [task.lo, task.hi], **summarize(series, task, bar)}
    returns = score_series(records, N.RETURNS_MEAN)
    if task.score != N.RETURNS_MEAN and returns:
        n = max(1, len(returns) // 10)
        out.update(first_return=returns[0][1], final10_return=statistics.fmean(s for _, s in returns[-n:]))
    out["warnings"] = [f"{r[N.WARNING_ALARM]}@{r.get(N.TRAIN_ENV_STEPS)}"
                       for r in records if r.get(N.KIND) == N.KIND_WARNING]
    out["passed"] = bool(out["reached"] and (task.bar is None or out["no_collapse"]))
    return out


def aggregate(results: Sequence[dict]) -> list[dict[str, Any]]:
    """Per task: the mean and worst seed's first step at the bar and final-10% score, the best."""
    out = []
    for name in dict.fromkeys(r["task"] for r in results):
        rs = [r for r in results if r["task"] == name]
        firsts = [r["first_at_bar"] for r in rs]
        finals = [r["final10"] for r in rs if r["final10"] is not None]
        reached = [f for f in firsts if f is not None]
        out.append({
            "task": name,
            "seeds": [r["seed"] for r in rs],
            "first_at_bar_mean": statistics.fmean(reached) if reached and len(reached) == len(rs) else None,
            "first_at_bar_worst": max(reached) if reached and len(reached) == len(rs) else None,
            "final10_mean": statistics.fmean(finals) if finals else None,
            "final10_worst": min(finals) if finals else None,
            "best": max((r["best"] for r in rs if r["best"] is not None), default=None),
            "late_drop_worst": max((r["late_drop"] for r in rs if r["late_drop"] is not None), default=None),
            "warnings": sum(len(r["warnings"]) for r in rs),
            "wall_s_max": max(r["wall_s"] for r in rs),
            "passed": all(r["passed"] for r in rs),
        })
    return out


def run_checks(
    tasks: Sequence[str], seeds: Sequence[int], jobs: int = 2, run_root: Optional[str | Path] = None,
    overrides: Sequence[str] = (), on_result: Optional[Callable[[dict], None]] = None,
) -> list[dict[str, Any]]:
    """Every (task, seed), ``jobs`` at a time as Ray tasks (in this process when ``jobs == 1``).

    Returns the per-seed results in task, seed order; ``on_result`` sees each as it finishes.
    """
    run_root = Path(run_root or tempfile.mkdtemp(prefix="echelon_learn_"))
    todo = sorted(((t, s) for t in tasks for s in seeds), key=lambda ts: -TASKS[ts[0]].est_s)
    results: list[dict] = []
    if jobs <= 1:
        for t, s in todo:
            results.append(run_check(t, s, run_root, overrides))
            if on_result:
                on_result(results[-1])
    else:
        import ray

        ray.init(address="local", num_cpus=jobs, include_dashboard=False, logging_level="warning")
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(run_check)
            pending = [remote.remote(t, s, str(run_root), list(overrides)) for t, s in todo]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                results.append(ray.get(done[0]))
                if on_result:
                    on_result(results[-1])
        finally:
            ray.shutdown()
    order = {(t, s): i for i, (t, s) in enumerate((t, s) for t in tasks for s in seeds)}
    return sorted(results, key=lambda r: order[(r["task"], r["seed"])])


def task_table() -> dict[str, dict]:
    """The task table as plain dicts (for the results JSON)."""
    return {name: asdict(task) for name, task in TASKS.items()}
