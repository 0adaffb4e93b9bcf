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
import pickle
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

    opts: dict[str, Any] = dict(num_cpus=cfg.ray.num_cpus_per_worker, max_restarts=0)
    if cfg.ray.worker_resource and ray.cluster_resources().get(cfg.ray.worker_resource, 0) >= 1:
        opts["resources"] = {cfg.ray.worker_resource: 1}  # on the rollout nodes, as in training
    cls = ray.remote(RolloutWorker).options(**opts)
    handles = [cls.remote(cfg, i, 0, None) for i in range(workers)]
    obs_space, act_space = ray.get(handles[0].spaces.remote())
    torch.manual_seed(cfg.seed)
    ref = ray.put(build_policy(cfg, obs_space, act_space).state_dict())
    ray.get([h.set_weights.remote(0, ref) for h in handles])
    for _ in range(warmup):
        ray.get([h.sample.options(num_returns=2).remote()[0] for h in handles])
    # Serialized size of one fragment: what crosses the network from a rollout node to the driver's;
    # and what the driver pays to keep a fragment from another node (one ray.put into its store).
    fragment = ray.get(handles[0].sample.options(num_returns=2).remote()[1])
    fragment_bytes = len(pickle.dumps(fragment, protocol=5))
    t_put = time.perf_counter()
    put_ref = ray.put(fragment)
    fragment_put_ms = 1000 * (time.perf_counter() - t_put)
    del put_ref, fragment
    inflight = {h.sample.options(num_returns=2).remote()[0]: h for h in handles}
    steps = agent_steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ready, _ = ray.wait(list(inflight), num_returns=1)
        for r in ready:
            h = inflight.pop(r)
            header = ray.get(r)
            steps += header.env_steps
            agent_steps += header.agent_steps
            inflight[h.sample.options(num_returns=2).remote()[0]] = h
    dt = time.perf_counter() - t0
    for h in handles:
        ray.kill(h, no_restart=True)
    return {"env_steps_per_s": steps / dt, "agent_steps_per_s": agent_steps / dt, "seconds": dt,
            "fragment_bytes": fragment_bytes, "fragment_put_ms": fragment_put_ms}


def tree_cpu_seconds(root: Optional[int] = None) -> float:
    """User + system CPU seconds of process ``root`` (default: this one) and all its live
    descendants, from ``/proc`` (Linux): with a local Ray instance started by this process, that
    is the driver, Ray's own daemons and every actor's worker process. 0.0 where ``/proc`` is
    missing."""
    root = os.getpid() if root is None else root
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent pid, CPU ticks)
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        # After the command name: state, ppid, ... utime (11th), stime (12th).
        stats[int(entry.name)] = (int(fields[1]), float(fields[11]) + float(fields[12]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def _training(cfg: Any, updates: int, warmup: int) -> dict:
    marks: list[tuple[float, int, int]] = []
    tree_cpu: list[float] = []  # CPU seconds of every process of this Ray session, at each update
    learner_sps: list[float] = []
    lags: list[int] = []

    busy: list[float] = []
    workers: list[int] = []  # workers alive (num_workers: 0 in a config means one per free CPU)
    cpu: list[float] = []  # this (driver) process's CPU seconds, Ray's threads in it included
    memory: dict[str, float] = {}
    metrics_wait: list[float] = []  # the driver's seconds blocked on update records so far

    def on_update(orch: Orchestrator, record: dict) -> None:
        marks.append((time.perf_counter(), record[N.TRAIN_ENV_STEPS], record[N.TRAIN_AGENT_STEPS]))
        metrics_wait.append(orch.metrics.update_wait_s)
        busy.append(orch.sample_s_total)
        workers.append(int(record[N.SYSTEM_NUM_WORKERS]))
        cpu.append(time.process_time())
        if record[N.TRAIN_UPDATE] in (warmup, warmup + updates):
            tree_cpu.append(tree_cpu_seconds())
        if record[N.TRAIN_UPDATE] > warmup:
            learner_sps.append(record[N.PERF_LEARNER_SAMPLES_PER_S])
            lags.append(record[N.SYSTEM_POLICY_LAG_MAX])
        if record[N.TRAIN_UPDATE] == warmup + updates:
            memory.update(ray.get(orch.learner.peak_memory_mb.remote()))

    with tempfile.TemporaryDirectory(prefix="echelon-bench-") as run_dir:
        res = Orchestrator(cfg, run_dir, stop_at_update=warmup + updates, on_update=on_update).run()
    (t0, s0, a0), (t1, s1, a1) = marks[warmup - 1], marks[-1]
    # The driver's own CPU per fragment after the warm-up (wait, header, copy to its node, re-arm,
    # its share of the update records): what bounds the fragments one driver can take per second.
    fragments = (s1 - s0) / (cfg.rollout.fragment_len * cfg.rollout.num_envs)
    driver_cpu_ms_per_fragment = 1000 * (cpu[-1] - cpu[warmup - 1]) / max(1.0, fragments)
    return {
        "env_steps_per_s": (s1 - s0) / (t1 - t0),
        "agent_steps_per_s": (a1 - a0) / (t1 - t0),
        "learner_samples_per_s": statistics.median(learner_sps),
        "seconds": t1 - t0,
        "dropped_fragments": res.counters["dropped_fragments"],
        "lag_max": max(lags),
        # Share of wall time the workers spent sampling (1.0 = never waiting for weights).
        "worker_busy_frac": (busy[-1] - busy[warmup - 1]) / ((t1 - t0) * max(1, workers[-1])),
        "driver_cpu_ms_per_fragment": driver_cpu_ms_per_fragment,
        # Share of the timed wall time the driver was blocked on the metrics actor's update records.
        "driver_metrics_wait_frac": (metrics_wait[-1] - metrics_wait[warmup - 1]) / (t1 - t0),
        # Every process's CPU (driver, Ray daemons, actors) per 1000 env steps after the warm-up:
        # the run's cost in CPU, which other processes' load on a shared machine barely moves.
        "cpu_s_per_kstep": 1000 * (tree_cpu[-1] - tree_cpu[0]) / (s1 - s0) if len(tree_cpu) == 2 else None,
        "learner_peak_rss_mb": memory.get("rss"),
        "learner_peak_cuda_mb": memory.get("cuda"),
    }


def _start_cluster(nodes: int, workers: int, cpus_per_worker: float) -> Any:
    """A head (1 CPU) and ``nodes`` rollout nodes on this machine; ``ray.init`` connected to it."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    per_node = -(-workers // nodes)  # ceil: every worker finds a slot
    for _ in range(nodes):
        cluster.add_node(num_cpus=per_node * cpus_per_worker, resources={"rollout": per_node})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="warning")
    return cluster


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
    nodes: int = 0,
) -> dict:
    """Both phases (``repeats`` times, alternating) on a fresh local Ray; JSON-ready result.

    ``nodes > 0``: on a ``ray.cluster_utils.Cluster`` on this machine instead, a head with one CPU
    (driver, learner, metrics) and ``nodes`` rollout nodes sharing ``workers`` CPUs and
    advertising ``rollout``; workers go to them in the run's SPREAD placement group.
    """
    extra = [f"ray.num_workers={workers}", "metrics.wandb_mode=disabled", "metrics.console=false"]
    if envs_per_worker is not None:
        extra.append(f"rollout.num_envs={envs_per_worker}")
    if nodes:
        extra += ["ray.worker_resource=rollout", "ray.placement=spread"]
    cfg = load_config(config, [*overrides, *extra, f"learner.total_env_steps={10**12}"])
    cluster = _start_cluster(nodes, workers, cfg.ray.num_cpus_per_worker) if nodes else None
    if cluster is None:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="warning")
    rounds = []
    try:
        for _ in range(repeats):
            train = _training(cfg, updates, warmup)
            sample = _sampling_only(cfg, workers, warmup, sample_seconds)
            rounds.append((train, sample))
    finally:
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()

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
        "nodes": nodes or 1,
        "fragment_bytes": rounds[0][1]["fragment_bytes"],
        "fragment_put_ms": round(med(1, "fragment_put_ms"), 1),
        "driver_cpu_ms_per_fragment": round(med(0, "driver_cpu_ms_per_fragment"), 2),
        "learner_device": cfg.learner.device,
        "learner_amp": cfg.learner.amp,
        "learner_peak_rss_mb": round(max(r[0]["learner_peak_rss_mb"] or 0 for r in rounds), 1),
        "learner_peak_cuda_mb": round(max(r[0]["learner_peak_cuda_mb"] or 0 for r in rounds), 1),
        "timed_updates": updates,
        "dropped_fragments": sum(t["dropped_fragments"] for t, _ in rounds),
        "lag_max": max(t["lag_max"] for t, _ in rounds),
        "training_seconds": round(sum(t["seconds"] for t, _ in rounds), 1),
        "sampling_seconds": round(sum(s["seconds"] for _, s in rounds), 1),
    }


def sample_update_cpu(config: str, iters: int = 20, warmup: int = 3) -> dict:
    """Median process-CPU milliseconds of one ``collector.sample()`` and one ``learner.update()``.

    In one process with one torch thread, the rollout env keeping its receipt frames as a rollout
    worker's does; see ``scripts/bench_update_cpu.py``.
    """
    import numpy as np
    import torch

    from echelon.env.adapters import make_vector_env
    from echelon.metrics.receipts import RECEIPT_FRAMES
    from echelon.model.actor_critic import build_policy
    from echelon.ppo.learner import Learner
    from echelon.ppo.rollout import RolloutCollector

    torch.set_num_threads(1)
    cfg = load_config(config, ["metrics.console=false"])
    env = make_vector_env(cfg, cfg.rollout.num_envs, cfg.seed)
    if hasattr(env, "keep_recent_frames"):
        env.keep_recent_frames(RECEIPT_FRAMES)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    policy = build_policy(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, policy, seed=cfg.seed)
    sample_ms, update_ms = [], []
    for i in range(warmup + iters):
        collector.set_weights(*learner.get_weights())
        t = time.process_time()
        fragment = collector.sample()
        s = time.process_time() - t
        t = time.process_time()
        learner.update([fragment])
        u = time.process_time() - t
        if i >= warmup:
            sample_ms.append(1000 * s)
            update_ms.append(1000 * u)
    return {"config": str(config), "iters": iters, "sample_cpu_ms": float(np.median(sample_ms)),
            "update_cpu_ms": float(np.median(update_ms))}
