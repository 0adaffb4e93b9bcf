"""CPU cost of the metrics actor's work per update, in one process, without Ray or training
(``scripts/bench_metrics_hub.py``).

On a small machine the metrics actor shares the cores with the rollout workers and the learner,
so every CPU-second it spends is taken from training throughput; the Ray benchmark
(:mod:`echelon.actors.bench_metrics`) measures that end to end but swings by 10-20% per pair.
This harness measures the actor's own share directly and reproducibly:

1. :func:`record_stream` plays a few updates of a config in this process (the real vector env,
   the config's initial policy, the real learner) and keeps, per update, what the metrics actor
   receives: the worker's compact episode records and action sample (as
   :class:`~echelon.metrics.episodes.EpisodeReporter` sends them), the driver's update record
   and the learner's advantage sample. It is recorded with every sample on (histogram stride 1),
   so one stream can be replayed at any strides.
2. :func:`replay` drives a real :class:`~echelon.metrics.hub.MetricsHub` (JSONL sink, W&B in
   offline mode) through ``warmup + updates`` updates cycling over the stream, dropping the
   samples a run at the chosen strides would not send, and times the timed updates with the
   process CPU clock; the W&B service process (a child process) is timed from ``/proc``.
"""

from __future__ import annotations

import cProfile
import io
import os
import pickle
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from echelon.config import load_config
from echelon.metrics import names as N

# The keys of a compact record at metrics.level minimal (echelon.metrics.episodes.compact_episode).
MINIMAL_KEYS = ("compact", "return", "length", "winner", "reason", "team_returns", "size", "packs_per_team")
STRIDES = ("coordination_every", "histogram_every", "spatial_every", "table_every")


def record_stream(config: str, updates: int, overrides: Sequence[str] = (), seed: int = 0) -> list[dict[str, Any]]:
    """``updates`` steps of what the metrics actor receives, from real play of ``config``.

    Each step: ``{"fragments": [(episodes, action_sample), ...], "record": update record
    without the advantage sample, "advantages": float32 [<= 2048]}``; one fragment per update
    per worker as the Ray driver batches them (``ray.num_workers`` fragments of
    ``rollout.num_envs x rollout.fragment_len`` env steps, played one after the other by one
    collector here). The first curriculum stage's match parameters are applied to the env.
    """
    import torch

    from echelon.actors.rollout_worker import build_collector
    from echelon.actors.worker_set import fragment_timings
    from echelon.checkpoint import Counters
    from echelon.curriculum import Curriculum
    from echelon.metrics.episodes import EpisodeReporter
    from echelon.metrics.records import update_record
    from echelon.ppo.learner import Learner, measured_update

    cfg = load_config(config, [*overrides, "metrics.level=full", "metrics.histogram_every=1"])
    torch.manual_seed(seed)
    collector = build_collector(cfg, cfg.rollout.num_envs, seed)
    env = collector.env
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    reporter = EpisodeReporter(cfg, seed)
    reporter.attach(collector)
    curriculum = Curriculum.from_config(cfg)
    if curriculum is not None and hasattr(env, "set_curriculum"):
        env.set_curriculum(**curriculum.params())
    counters, t0, out = Counters(), time.time(), []
    for _ in range(updates):
        collector.set_weights(*learner.get_weights())
        frags, sent, headers = [], [], []
        for _ in range(max(1, cfg.ray.num_workers)):
            t = time.perf_counter()
            frag = collector.sample()
            sample_s = time.perf_counter() - t
            frags.append(frag)
            sent.append(reporter.report(frag))
            tm = collector.last_timings
            headers.append(_Header(sample_s, tm["env_step_s"], tm["inference_s"]))
            counters.episodes += len(frag.episodes)
        stats = measured_update(learner, frags)
        counters.update += 1
        counters.env_steps += int(stats["env_steps"])
        counters.agent_steps += int(stats["agent_steps"])
        extra = curriculum.record() if curriculum is not None else {}
        record = update_record(counters, {**stats, **fragment_timings(headers)}, version=learner.version,
                               elapsed_s=time.time() - t0, env_steps_at_start=0, agent_steps_at_start=0,
                               wait_s=0.0, num_workers=cfg.ray.num_workers, extra=extra)
        advantages = record.pop(N.DIST_ADVANTAGES, None)
        out.append({"fragments": sent, "record": record, "advantages": advantages})
    env.close()
    return out


class _Header:
    """The fields of a worker's fragment header that :func:`fragment_timings` reads."""

    def __init__(self, sample_s: float, env_step_s: float, inference_s: float) -> None:
        self.sample_s, self.env_step_s, self.inference_s = sample_s, env_step_s, inference_s
        self.sent_at = self.received_at = 0.0


def load_or_record(config: str, updates: int, overrides: Sequence[str] = (), cache: Optional[str] = None,
                   seed: int = 0) -> list[dict[str, Any]]:
    """:func:`record_stream`, read from / written to the pickle ``cache`` when given."""
    if cache and Path(cache).is_file():
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    stream = record_stream(config, updates, overrides, seed)
    if cache:
        with open(cache, "wb") as fh:
            pickle.dump(stream, fh)
    return stream


def _descendants_cpu_s(pid: int) -> float:
    """User + system CPU seconds of every live descendant of ``pid`` (from ``/proc``; 0.0 without
    it). Like ``echelon.actors.bench.tree_cpu_seconds`` less ``pid`` itself, without importing Ray."""
    if not os.path.isdir("/proc"):
        return 0.0
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p:
                total += ticks[child]
                todo.append(child)
    return total / os.sysconf("SC_CLK_TCK")


class _Feeder:
    """Passes update ``i`` of the cycled stream to a hub as the actor would receive it."""

    def __init__(self, hub: Any, stream: list[dict[str, Any]], histogram_every: int, full: bool,
                 transport: bool) -> None:
        self.hub, self.stream, self.every, self.full, self.transport = hub, stream, histogram_every, full, transport
        self.fragments_sent = 0

    def _ray(self, value: Any) -> Any:
        return pickle.loads(pickle.dumps(value, protocol=5)) if self.transport else value

    def _fragment(self, episodes: list[dict], actions: Optional[dict]) -> None:
        if not self.full or self.fragments_sent % self.every:
            actions = None
        if not self.full:  # what a worker sends at level minimal (compact_episode is idempotent)
            episodes = [{k: ep[k] for k in MINIMAL_KEYS if k in ep} for ep in episodes]
        self.fragments_sent += 1
        if episodes or actions is not None:  # else a worker sends nothing
            self.hub.add_fragment(*self._ray((episodes, actions)))

    def __call__(self, i: int) -> None:
        step = self.stream[i % len(self.stream)]
        update = i + 1
        for episodes, actions in step["fragments"]:
            self._fragment(episodes, actions)
        record = dict(step["record"])
        steps = int(record[N.TRAIN_ENV_STEPS]) // max(int(record[N.TRAIN_UPDATE]), 1)
        record[N.TRAIN_UPDATE] = record[N.TRAIN_POLICY_VERSION] = update
        record[N.TRAIN_ENV_STEPS] = steps * update
        if self.full and update % self.every == 0 and step["advantages"] is not None:
            record[N.DIST_ADVANTAGES] = step["advantages"]
        self._ray(self.hub.log_update(self._ray(record)))


def replay(stream: list[dict[str, Any]], config: str, overrides: Sequence[str] = (), updates: int = 200,
           warmup: Optional[int] = None, wandb: bool = True, transport: bool = True,
           profile: Optional[str] = None, run_dir: Optional[str] = None, level: str = "full") -> dict[str, Any]:
    """Drive a :class:`MetricsHub` of ``config`` at ``metrics.level`` ``level`` through the stream.

    ``warmup`` untimed updates (default: the largest stride, so every family's one-time set-up is
    done) then ``updates`` timed ones, cycling over ``stream`` with the update counters continued.
    A sample is passed on only where a run at these strides sends one (a worker's action sample
    on every ``histogram_every``-th fragment, the learner's advantages on updates due a
    histogram); at ``minimal`` the episodes are cut to what a worker sends then. ``transport``:
    pickle and unpickle each call's arguments and result, as Ray does on the actor's side.
    ``profile``: write a cProfile of the timed updates there (``.prof``) and return the top
    functions. Returns CPU milliseconds per timed update of this process and of its child
    processes (the W&B service), and the wall time.
    """
    from echelon.metrics.hub import MetricsHub

    base = [*overrides, f"metrics.level={level}", "metrics.console=false",
            f"metrics.wandb_mode={'offline' if wandb else 'disabled'}"]
    cfg = load_config(config, base)
    m = cfg.metrics
    warmup = max(int(getattr(m, k)) for k in STRIDES) if warmup is None else warmup
    tmp = tempfile.TemporaryDirectory(prefix="bench_hub_") if run_dir is None else None
    root = Path(run_dir or tmp.name)
    os.environ.setdefault("WANDB_DIR", str(root))
    (root / "run").mkdir(parents=True, exist_ok=True)  # as the driver does before the actor starts
    hub = MetricsHub.from_config(cfg, root / "run", run_id="benchhub")
    feed = _Feeder(hub, stream, m.histogram_every, level == "full", transport)
    prof = cProfile.Profile() if profile else None
    try:
        for i in range(warmup):
            feed(i)
        pid = os.getpid()
        c0, w0, k0 = time.process_time(), time.perf_counter(), _descendants_cpu_s(pid)
        if prof is not None:
            prof.enable()
        for i in range(warmup, warmup + updates):
            feed(i)
        if prof is not None:
            prof.disable()
        cpu, wall, kids = time.process_time() - c0, time.perf_counter() - w0, _descendants_cpu_s(pid) - k0
    finally:
        hub.close()
        if tmp is not None:
            tmp.cleanup()
    out: dict[str, Any] = {
        "config": config,
        "overrides": list(overrides),
        "strides": {k: getattr(m, k) for k in STRIDES},
        "level": level,
        "wandb": "offline" if wandb else "disabled",
        "transport": transport,
        "stream_updates": len(stream),
        "episodes_per_update": round(sum(len(e) for s in stream for e, _ in s["fragments"]) / len(stream), 3),
        "warmup_updates": warmup,
        "timed_updates": updates,
        "cpu_ms_per_update": round(1e3 * cpu / updates, 3),
        "children_cpu_ms_per_update": round(1e3 * kids / updates, 3),
        "wall_ms_per_update": round(1e3 * wall / updates, 3),
    }
    if prof is not None:
        prof.dump_stats(profile)
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
        out["profile_top_tottime"] = text.getvalue()
    return out


def with_strides(overrides: Sequence[str], strides: Optional[Sequence[int]]) -> list[str]:
    """``overrides`` plus ``metrics.<stride>=<n>`` for the four strides (coordination, histogram,
    spatial, table) when ``strides`` is given."""
    if strides is None:
        return list(overrides)
    return [*overrides, *(f"metrics.{k}={int(v)}" for k, v in zip(STRIDES, strides, strict=True))]


__all__ = ["load_or_record", "record_stream", "replay", "with_strides"]
