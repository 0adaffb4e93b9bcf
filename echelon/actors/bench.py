"""Throughput benchmark of the actor-learner pipeline (``scripts/bench_throughput.py``).

Two phases on one local Ray instance with the same worker shells and resources:

1. sampling only: N :class:`RolloutWorker` actors sample back to back (one ``sample`` in flight
   per worker, collected with ``ray.wait``), no learner;
2. training: the real :class:`Orchestrator` for ``warmup + updates`` updates; throughput is
   taken between the end of the warm-up and the last update, so actor start-up and the first
   (slow) updates do not count.

``pipeline_efficiency = training env-steps/s / sampling-only env-steps/s``: 1.0 means learning
costs the samplers nothing (fully overlapped), 0.5 that half their time is lost to waiting.
With ``repeats > 1`` the two phases alternate that many times and the medians are reported
(on a small shared machine other processes' load drifts; alternating keeps both phases exposed
to the same drift). ``worker_busy_frac`` (share of training wall time the workers spent inside
``sample``) separates the pipeline's own waiting from CPU contention: a busy fraction near 1
with an efficiency below it means the samplers were slowed by sharing cores, not kept idle.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from typing import Any, Optional, Sequence

import ray

from echelon.actors.orchestrator import Orchestrator
from echelon.actors.rollout_worker import RolloutWorker
from echelon.config import load_config
from echelon.metrics import names as N


def _sampling_only(cfg: Any, workers: int, warmup: int, seconds: float) -> dict:
    import torch

    from echelon.model.actor_critic import build_policy

    cls = ray.remote(RolloutWorker).options(num_cpus=cfg.ray.num_cpus_per_worker, max_restarts=0)
    handles = [cls.remote(cfg, i, 0, None) for i in range(workers)]
    obs_space, act_space = ray.get(handles[0].spaces.remote())
    torch.manual_seed(cfg.seed)
    ref = ray.put(build_policy(cfg, obs_space, act_space).state_dict())
    ray.get([h.set_weights.remote(0, ref) for h in handles])
    for _ in range(warmup):
        ray.get([h.sample.options(num_returns=2).remote()[0] for h in handles])
    inflight = {h.sample.options(num_returns=2).remote()[0]: h for h in handles}
    steps = agent_steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ready, _ = ray.wait(list(inflight), num_returns=1)
        for r in ready:
            h = inflight.pop(r)
            header = ray.get(r)
            steps += header["env_steps"]
            agent_steps += header["agent_steps"]
            inflight[h.sample.options(num_returns=2).remote()[0]] = h
    dt = time.perf_counter() - t0
    for h in handles:
        ray.kill(h, no_restart=True)
    return {"env_steps_per_s": steps / dt, "agent_steps_per_s": agent_steps / dt, "seconds": dt}


def _training(cfg: Any, updates: int, warmup: int) -> dict:
    marks: list[tuple[float, int, int]] = []
    learner_sps: list[float] = []
    lags: list[int] = []

    busy: list[float] = []

    def on_update(orch: Orchestrator, record: dict) -> None:
        marks.append((time.perf_counter(), record[N.TRAIN_ENV_STEPS], record[N.TRAIN_AGENT_STEPS]))
        busy.append(orch.sample_s_total)
        if record[N.TRAIN_UPDATE] > warmup:
            learner_sps.append(record[N.PERF_LEARNER_SAMPLES_PER_S])
            lags.append(record[N.SYSTEM_POLICY_LAG_MAX])

    with tempfile.TemporaryDirectory(prefix="echelon-bench-") as run_dir:
        res = Orchestrator(cfg, run_dir, stop_at_update=warmup + updates, on_update=on_update).run()
    (t0, s0, a0), (t1, s1, a1) = marks[warmup - 1], marks[-1]
    return {
        "env_steps_per_s": (s1 - s0) / (t1 - t0),
        "agent_steps_per_s": (a1 - a0) / (t1 - t0),
        "learner_samples_per_s": statistics.median(learner_sps),
        "seconds": t1 - t0,
        "dropped_fragments": res.counters["dropped_fragments"],
        "lag_max": max(lags),
        # Share of wall time the workers spent sampling (1.0 = never waiting for weights).
        "worker_busy_frac": (busy[-1] - busy[warmup - 1]) / ((t1 - t0) * cfg.ray.num_workers),
    }


def run_benchmark(
    config: str,
    overrides: Sequence[str] = (),
    workers: int = 1,
    envs_per_worker: Optional[int] = None,
    updates: int = 20,
    warmup: int = 3,
    sample_seconds: float = 15.0,
    num_cpus: Optional[int] = None,
    repeats: int = 1,
) -> dict:
    """Both phases (``repeats`` times, alternating) on a fresh local Ray; JSON-ready result."""
    extra = [f"ray.num_workers={workers}", "metrics.wandb_mode=disabled", "metrics.console=false"]
    if envs_per_worker is not None:
        extra.append(f"rollout.num_envs={envs_per_worker}")
    cfg = load_config(config, [*overrides, *extra, f"learner.total_env_steps={10**12}"])
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="warning")
    rounds = []
    try:
        for _ in range(repeats):
            train = _training(cfg, updates, warmup)
            sample = _sampling_only(cfg, workers, warmup, sample_seconds)
            rounds.append((train, sample))
    finally:
        ray.shutdown()

    def med(phase: int, key: str) -> float:
        return statistics.median(r[phase][key] for r in rounds)

    effs = [t["env_steps_per_s"] / s["env_steps_per_s"] for t, s in rounds]
    return {
        "config": config,
        "overrides": list(overrides),
        "env": cfg.rollout.env,
        "workers": workers,
        "envs_per_worker": cfg.rollout.num_envs,
        "fragment_len": cfg.rollout.fragment_len,
        "cpus": num_cpus or os.cpu_count(),
        "machine": platform.machine(),
        "repeats": repeats,
        "training_env_steps_per_s": round(med(0, "env_steps_per_s"), 1),
        "training_agent_steps_per_s": round(med(0, "agent_steps_per_s"), 1),
        "sampling_env_steps_per_s": round(med(1, "env_steps_per_s"), 1),
        "sampling_agent_steps_per_s": round(med(1, "agent_steps_per_s"), 1),
        "learner_samples_per_s": round(med(0, "learner_samples_per_s"), 1),
        "pipeline_efficiency": round(statistics.median(effs), 3),
        "pipeline_efficiency_rounds": [round(e, 3) for e in effs],
        "worker_busy_frac": round(med(0, "worker_busy_frac"), 3),
        "timed_updates": updates,
        "dropped_fragments": sum(t["dropped_fragments"] for t, _ in rounds),
        "lag_max": max(t["lag_max"] for t, _ in rounds),
        "training_seconds": round(sum(t["seconds"] for t, _ in rounds), 1),
        "sampling_seconds": round(sum(s["seconds"] for _, s in rounds), 1),
    }
