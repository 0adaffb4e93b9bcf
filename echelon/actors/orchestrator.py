"""The driver loop of the Ray actor-learner: read this file top to bottom to follow a run.

Roles (thin Ray shells around plain classes):

- ``RolloutWorker`` x N sample fragments ``[T, R, ...]`` with the weights version they hold;
- ``LearnerActor`` runs one PPO update per batch of fragments and publishes new weights once
  per version with ``ray.put``;
- ``MetricsActor`` (named, pinned to this node) writes ``RUN_DIR/train_log.jsonl``.

Overlap: each worker is re-armed with ``sample`` the moment its fragment arrives, so workers
keep sampling with version v while the learner trains on earlier fragments. Delivery: the driver
``ray.wait``s on the fragments themselves, so a fragment counts as arrived once Ray has pulled it
to the driver's node; a fragment sampled on another node is then copied into this node's object
store (``ray.get``, zero-copy, then one ``ray.put`` of a few MB) and the learner gets that ref. A
delivered fragment therefore no longer depends on the node that sampled it.

Policy lag of a fragment consumed by the update that turns learner version V into V + 1 is
``V - fragment.version``. Fragments with lag > ``ray.max_policy_lag`` are dropped (and counted)
both on arrival and when a batch is formed; the learner re-measures the lag from the fragments'
own stamps and that measurement goes into the log (``policy/lag_max``).

Faults: a worker that dies (node lost, OOM) is restarted by Ray (``ray.max_restarts``,
``max_task_retries=0``): the driver counts it, re-sends the current weights and re-arms it, so
only that worker's in-flight fragment is lost: fragments it delivered live on the driver's node.
A learner or driver crash is recovered with
``--resume RUN_DIR`` from the last atomic checkpoint. SIGINT/SIGTERM finish the update in
flight, write a final checkpoint and flush the log.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import ray
from ray.exceptions import ObjectLostError, RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from echelon.actors.learner_actor import LearnerActor, learner_resources
from echelon.actors.metrics_actor import MetricsActor
from echelon.actors.rollout_worker import RolloutWorker
from echelon.checkpoint import (
    capture_rng_state,
    restore_rng_state,
    save_checkpoint,
)
from echelon.config import TrainConfig, config_to_dict
from echelon.metrics import names as N
from echelon.metrics.records import LEARNER_KEYS, learner_stats_to_record, run_provenance  # noqa: F401  (re-exported)

CHECKPOINT_FORMAT = "echelon-actor-learner-v1"
PROBE_BACKOFF_S = 1.0  # between re-sends of weights to a restarting worker
PROBE_ATTEMPTS = 120  # about two minutes for a worker (and, on a cluster, a new node) to come back


def _lost_object(exc: BaseException) -> bool:
    """True when a task failed because an argument object was lost with its node."""
    return isinstance(exc, ObjectLostError) or isinstance(getattr(exc, "cause", None), ObjectLostError)

# --- pure pieces (tested in-process) --------------------------------------------------------


def resolve_num_workers(requested: int, cluster_cpus: float, cpus_per_worker: float) -> int:
    """``ray.num_workers``; 0 = auto: one per CPU left after the learner's, at least 1."""
    if requested > 0:
        return requested
    per = cpus_per_worker if cpus_per_worker > 0 else 1.0
    return max(1, int((cluster_cpus - 1) // per))


def linear_ramp(progress: float, start: float, end: float, fraction: float) -> float:
    """Value ramped linearly from ``start`` to ``end`` over the first ``fraction`` of progress."""
    t = min(1.0, max(0.0, progress / fraction))
    return start + (end - start) * t


@dataclass
class FragmentPool:
    """Fragments that arrived and wait for an update, with the policy-lag bound applied.

    Items are ``(version, payload)``; the lag of an item against learner version V is
    ``V - version``. :meth:`take` returns the freshest items, so under back-pressure the
    learner trains on the newest data and the oldest fall out of the bound and are dropped.
    """

    max_lag: int
    items: list = field(default_factory=list)
    dropped: int = 0
    _seq: int = 0

    def fresh(self, version: int, learner_version: int) -> bool:
        """Whether a fragment of ``version`` is within the lag bound against ``learner_version``."""
        return learner_version - version <= self.max_lag

    def add(self, version: int, payload: Any, learner_version: int) -> bool:
        """Keep the fragment unless already too stale; returns whether it was kept."""
        if not self.fresh(version, learner_version):
            self.dropped += 1
            return False
        self.items.append((version, self._seq, payload))
        self._seq += 1
        return True

    def prune(self, learner_version: int) -> int:
        """Drop items that became too stale; returns how many."""
        keep = [it for it in self.items if learner_version - it[0] <= self.max_lag]
        gone = len(self.items) - len(keep)
        self.items = keep
        self.dropped += gone
        return gone

    def take(self, n: int, learner_version: int) -> Optional[list[tuple[int, Any]]]:
        """``n`` freshest ``(version, payload)`` within the bound, oldest first, or None."""
        self.prune(learner_version)
        if len(self.items) < n:
            return None
        chosen = sorted(self.items, key=lambda it: (-it[0], it[1]))[:n]
        ids = {it[1] for it in chosen}
        self.items = [it for it in self.items if it[1] not in ids]
        return [(v, p) for v, _, p in sorted(chosen, key=lambda it: it[1])]

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class Counters:
    """Run progress, saved in checkpoints and continued on resume."""

    update: int = 0
    env_steps: int = 0
    agent_steps: int = 0
    episodes: int = 0
    dropped_fragments: int = 0
    worker_restarts: int = 0
    lost_fragments: int = 0  # delivered fragments lost before the learner got them (0 by design)


def steps_per_update(cfg: TrainConfig, fragments_per_update: int) -> int:
    """Env steps one update consumes: fragments x fragment_len x env copies per worker."""
    return fragments_per_update * cfg.rollout.fragment_len * cfg.rollout.num_envs


def target_updates(cfg: TrainConfig, fragments_per_update: int) -> int:
    """Updates a full run makes: enough to consume ``learner.total_env_steps``."""
    return math.ceil(cfg.learner.total_env_steps / steps_per_update(cfg, fragments_per_update))


def env_spaces(cfg: TrainConfig) -> tuple[Any, Any]:
    """``(single_observation_space, single_action_space)`` of one row of ``cfg.rollout.env``."""
    from echelon.env.adapters import make_vector_env

    env = make_vector_env(cfg, 1, cfg.seed)
    try:
        return env.single_observation_space, env.single_action_space
    finally:
        env.close()


# --- the driver ------------------------------------------------------------------------------


class LearnerDiedError(RuntimeError):
    """The learner actor died; the run can continue with ``--resume RUN_DIR``."""


@dataclass
class RunResult:
    """What a finished (or stopped) run leaves behind."""

    run_dir: str
    log_path: str
    checkpoint: Optional[str]
    wandb: Optional[str]
    counters: dict
    stopped_by: str  # "done" | "stop_at_update" | "signal"
    elapsed_s: float
    last_record: dict


@dataclass
class _Worker:
    handle: Any
    version: int = -1  # weights version last sent
    curriculum: Optional[float] = None  # fire prob last sent
    failures: int = 0  # consecutive RayActorErrors
    alive: bool = True
    incarnation: Optional[str] = None  # the actor process last heard from (None: not yet / restarting)


class Orchestrator:
    """Runs the actor-learner loop on an initialised Ray connection.

    Args:
        cfg: run config (already merged with overrides; on resume, the checkpoint's).
        run_dir: where the log and checkpoints go (created).
        resume_from: ``(path, payload, skipped)`` from :func:`echelon.checkpoint.find_latest_checkpoint`.
        stop_at_update: stop cleanly (final checkpoint) once this many updates are done.
        on_update: called after each update with ``(orchestrator, record)``; tests use it to
            remove a node mid-run, benchmarks to time updates.
        progress: object with ``start(orchestrator)``, ``update(record)``, ``stop()``; None = quiet.
        console: let the metrics actor print a plain line per update.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: str | Path,
        resume_from: Optional[tuple[Path, dict, list]] = None,
        stop_at_update: Optional[int] = None,
        on_update: Optional[Callable[["Orchestrator", dict], None]] = None,
        progress: Any = None,
        console: bool = False,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.resume_from = resume_from
        self.stop_at_update = stop_at_update
        self.on_update = on_update
        self.progress = progress
        self.console = console
        self.counters = Counters()
        self.stop_requested: Optional[str] = None
        self.workers: list[_Worker] = []
        self.inflight: dict[Any, tuple[int, Any]] = {}  # fragment ref -> (worker index, header ref)
        self.parked: set[int] = set()  # workers waiting for fresher weights (see _arm)
        self.probes: dict[Any, tuple[int, int]] = {}  # set_weights ref -> (worker, version) after a failure
        self.retry_at: dict[int, float] = {}  # worker -> monotonic time of its next probe
        self.pending_update: Any = None
        self.pending_batch: list[dict] = []  # headers of the fragments the pending update consumes
        self.updates_submitted = 0
        self.learner_version = 0
        self.weights_ref: Any = None
        self.last_checkpoint: Optional[Path] = None
        self.last_checkpoint_update = -1
        self.last_record: dict = {}
        self.curriculum: Optional[float] = None
        self._wait_s = 0.0
        self._metrics_closed = False
        self.sample_s_total = 0.0  # seconds workers spent inside collector.sample (all workers)

    # -- set-up ------------------------------------------------------------------------------

    def _start(self) -> None:
        cfg = self.cfg
        resources = ray.cluster_resources()
        self.num_workers = resolve_num_workers(
            cfg.ray.num_workers, resources.get("CPU", 1.0), cfg.ray.num_cpus_per_worker
        )
        self.fragments_per_update = cfg.ray.fragments_per_update or self.num_workers
        self.pool = FragmentPool(cfg.ray.max_policy_lag)
        self.target_updates = target_updates(cfg, self.fragments_per_update)

        self.driver_node = driver_node = ray.get_runtime_context().get_node_id()
        self.metrics_name = f"echelon-metrics-{os.getpid()}-{id(self):x}"
        self.metrics = (
            ray.remote(MetricsActor)
            .options(
                name=self.metrics_name,
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(driver_node, soft=False),
            )
            .remote(cfg, str(self.run_dir), console=self.console, dashboard=cfg.metrics.dashboard)
        )
        payload = self.resume_from[1] if self.resume_from else None
        learner_state = None
        if payload is not None:
            self.counters, learner_state, driver_rng = self._resume_state(payload)
            if driver_rng is not None:
                restore_rng_state(driver_rng)
            ray.get(self.metrics.set_episode_count.remote(self.counters.episodes))

        worker_cls = ray.remote(RolloutWorker)
        opts: dict[str, Any] = dict(
            num_cpus=cfg.ray.num_cpus_per_worker, max_restarts=cfg.ray.max_restarts, max_task_retries=0
        )
        if cfg.ray.worker_resource:
            opts["resources"] = {cfg.ray.worker_resource: 1}
        if cfg.ray.spread_workers:
            opts["scheduling_strategy"] = "SPREAD"
        for i in range(self.num_workers):
            handle = worker_cls.options(**opts).remote(cfg, i, self.counters.update, self.metrics_name)
            self.workers.append(_Worker(handle))
        # Spaces from a one-copy env built here, so the learner starts alongside the workers
        # instead of after the first of them.
        obs_space, action_space = env_spaces(cfg)

        res = learner_resources(cfg, resources.get("GPU", 0.0))
        self.learner = ray.remote(LearnerActor).options(max_restarts=0, **res).remote(cfg, obs_space, action_space)
        if learner_state is not None:
            self.learner_version = ray.get(self.learner.load_state_dict.remote(learner_state))
        version, (ref,) = self._wait_for(self.learner.weights.remote(), "learner")
        self.learner_version, self.weights_ref = version, ref
        self.learner_device = ray.get(self.learner.device.remote())

        records = [self._meta_record()]
        if self.resume_from is not None:
            path, _, skipped = self.resume_from
            self._set_aside(skipped)
            records.append(
                {
                    N.KIND: N.KIND_RESUME,
                    N.RESUME_FROM: str(path),
                    N.RESUME_SKIPPED: [str(p) for p, _ in skipped],
                    **self._counter_fields(),
                }
            )
            self.last_checkpoint, self.last_checkpoint_update = Path(path), self.counters.update
        ray.get(self.metrics.log.remote(records))
        self.updates_submitted = self.counters.update
        self.t_start = time.time()
        self.steps_at_start = self.counters.env_steps
        self.agent_steps_at_start = self.counters.agent_steps
        for i in range(self.num_workers):
            self._arm(i)

    @staticmethod
    def _set_aside(skipped: list[tuple[Path, str]]) -> None:
        # A newer, unusable checkpoint keeps its bytes for inspection under a name the
        # checkpoint list ignores, so neither a later save of the same update nor keep-last-K
        # pruning can overwrite or delete it.
        for path, reason in skipped:
            path = Path(path)
            if path.exists():
                target = path.with_name(path.name + ".unusable")
                n = 1
                while target.exists():
                    target = path.with_name(f"{path.name}.unusable{n}")
                    n += 1
                os.replace(path, target)
                warnings.warn(f"set aside unusable checkpoint {path} as {target.name}: {reason}", RuntimeWarning, stacklevel=2)

    def _wait_for(self, ref: Any, what: str) -> Any:
        # Actors pend until the cluster has their resources (or the autoscaler adds a node);
        # say so instead of hanging silently.
        waited = 0.0
        while True:
            ready, _ = ray.wait([ref], timeout=30.0)
            if ready:
                return ray.get(ref)
            waited += 30.0
            warnings.warn(
                f"{what} not ready after {waited:.0f} s: the cluster may lack the resources it asks "
                f"for (cluster: {ray.cluster_resources()}, available: {ray.available_resources()})",
                RuntimeWarning,
                stacklevel=2,
            )
            if self.stop_requested:
                raise KeyboardInterrupt(f"stopped while waiting for {what}")

    @staticmethod
    def _resume_state(payload: dict) -> tuple[Counters, dict, Optional[dict]]:
        """``(counters, learner-actor state, driver RNG state or None)`` from a checkpoint.

        Serial-mode checkpoints (``{"learner", "config", "update", "agent_steps", "episodes"}``)
        resume too: their counters come from the learner's own and the payload's, and the RNGs
        start fresh.
        """
        if payload.get("format") == CHECKPOINT_FORMAT:
            return Counters(**payload["counters"]), payload["learner"], payload["driver_rng"]
        if "learner" in payload and "counters" in payload["learner"]:
            lc = payload["learner"]["counters"]
            counters = Counters(
                update=int(lc["updates"]),
                env_steps=int(lc["env_steps"]),
                agent_steps=int(payload.get("agent_steps", 0)),
                episodes=int(payload.get("episodes", 0)),
            )
            return counters, {"learner": payload["learner"], "rng": None}, None
        raise ValueError(
            f"checkpoint keys {sorted(payload)} are neither a distributed ({CHECKPOINT_FORMAT}) nor a "
            "serial-mode checkpoint"
        )

    def _meta_record(self) -> dict:
        return {
            N.KIND: N.KIND_META,
            "mode": "ray",
            "config": config_to_dict(self.cfg),
            "seed": self.cfg.seed,
            **run_provenance(),
            "num_workers": self.num_workers,
            "fragments_per_update": self.fragments_per_update,
            "target_updates": self.target_updates,
            "learner_device": self.learner_device,
            "cluster_resources": ray.cluster_resources(),
            "resumed": self.resume_from is not None,
        }

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Train until ``learner.total_env_steps`` are consumed, ``stop_at_update`` or a signal."""
        old_handlers = self._install_signal_handlers()
        t0 = time.time()
        try:
            self._start()
            if self.progress is not None:
                self.progress.start(self)
            while not self._done():
                self._step()
            while self.pending_update is not None:
                self._step()
            if self.counters.update != self.last_checkpoint_update:
                self._save_checkpoint(ray.get(self.learner.state_dict.remote()))
            stopped_by = self._stopped_by()
            summary = {
                N.KIND: N.KIND_SUMMARY,
                "stopped_by": stopped_by,
                "checkpoint": str(self.last_checkpoint) if self.last_checkpoint else None,
                **self._counter_fields(),
                N.PERF_ELAPSED_S: time.time() - self.t_start,
            }
            ray.get(self.metrics.log.remote([summary]))
            wandb_where = ray.get(self.metrics.close.remote())
            self._metrics_closed = True
            return RunResult(
                run_dir=str(self.run_dir),
                log_path=str(self.run_dir / "train_log.jsonl"),
                checkpoint=str(self.last_checkpoint) if self.last_checkpoint else None,
                wandb=wandb_where,
                counters=asdict(self.counters),
                stopped_by=stopped_by,
                elapsed_s=time.time() - t0,
                last_record=self.last_record,
            )
        finally:
            if self.progress is not None:
                self.progress.stop()
            self._restore_signal_handlers(old_handlers)
            self._release_actors()

    def _done(self) -> bool:
        if self.stop_requested:
            return True
        if self.stop_at_update is not None and self.counters.update >= self.stop_at_update:
            return True
        return self.counters.update >= self.target_updates

    def _stopped_by(self) -> str:
        if self.stop_requested:
            return "signal"
        if self.counters.update >= self.target_updates:
            return "done"
        return "stop_at_update"

    def _update_budget(self) -> int:
        limit = self.target_updates
        if self.stop_at_update is not None:
            limit = min(limit, self.stop_at_update)
        return limit

    def _step(self) -> None:
        self._due_retries()
        refs = list(self.inflight) + list(self.probes)
        if self.pending_update is not None:
            refs.append(self.pending_update)
        if not refs and self.retry_at:
            time.sleep(PROBE_BACKOFF_S / 4)
            return
        if not refs:
            if not any(w.alive for w in self.workers):
                raise RuntimeError("every rollout worker is gone (restarts exhausted); nothing left to sample")
            if self.stop_requested or self.updates_submitted >= self._update_budget():
                return
            # Everyone parked and nothing in flight or training: no event would ever wake a
            # worker, so sample regardless of the predicted lag (the pool bound still applies).
            for i in sorted(self.parked):
                self._arm(i, force=True)
            return
        t0 = time.perf_counter()
        ready, _ = ray.wait(refs, num_returns=1, timeout=0.5)
        self._wait_s += time.perf_counter() - t0
        for ref in ready:
            if ref is self.pending_update:
                self._on_update_done(ref)
            elif ref in self.probes:
                self._on_probe(ref)
            else:
                self._on_fragment(ref)
        self._maybe_submit_update()

    def predicted_lag(self) -> int:
        """Lag a fragment sampled from now on would have when consumed.

        It waits behind the update in flight and the fragments already pooled, each batch of
        which costs one version.
        """
        return int(self.pending_update is not None) + len(self.pool) // self.fragments_per_update

    def _arm(self, i: int, force: bool = False) -> None:
        """Send weights/curriculum if stale, then queue the next ``sample`` (actor calls run in order).

        A worker whose next fragment would already be too stale when consumed is parked until
        new weights arrive: sampling it would only feed the drop counter and steal CPU from
        the learner.
        """
        w = self.workers[i]
        if not w.alive or self.updates_submitted >= self._update_budget() or self.stop_requested:
            return
        if not force and self.predicted_lag() > self.cfg.ray.max_policy_lag:
            self.parked.add(i)
            return
        self.parked.discard(i)
        if w.version != self.learner_version:
            w.handle.set_weights.remote(self.learner_version, self.weights_ref)
            w.version = self.learner_version
        fire_prob = self._curriculum_value()
        if fire_prob is not None and (w.curriculum is None or abs(fire_prob - w.curriculum) >= 0.01):
            w.handle.set_curriculum.remote(fire_prob)
            w.curriculum = fire_prob
        header_ref, frag_ref = w.handle.sample.options(num_returns=2).remote()
        # Keyed by the fragment: ray.wait (fetch_local) reports it ready once it is on this node.
        self.inflight[frag_ref] = (i, header_ref)

    def _curriculum_value(self) -> Optional[float]:
        rcfg = self.cfg.ray
        if rcfg.curriculum_fire_prob_start is None or self.cfg.rollout.env != "echelon":
            return None
        progress = self.counters.env_steps / self.cfg.learner.total_env_steps
        self.curriculum = linear_ramp(
            progress, rcfg.curriculum_fire_prob_start, self.cfg.env.heuristic_weapon_fire_prob, rcfg.curriculum_fraction
        )
        return self.curriculum

    def _on_fragment(self, frag_ref: Any) -> None:
        """Take a fragment that reached this node: keep it on this node, pool it, re-arm its worker.

        A task's return value is owned by its caller (this driver) but stored on the node that
        produced it. A fragment sampled on this node is therefore already safe. One sampled on
        another node has been pulled here by ``ray.wait``, so ``ray.get`` maps it without a
        transfer and ``ray.put`` stores a copy in this node's object store; the ref to the
        worker node's copy is dropped, so losing that node from now on cannot take the fragment
        with it.
        """
        i, header_ref = self.inflight.pop(frag_ref)
        w = self.workers[i]
        try:
            header = ray.get(header_ref)
            fresh = header["version"] >= 0 and self.pool.fresh(header["version"], self.learner_version)
            local = header["node"] == self.driver_node
            fragment = ray.get(frag_ref) if fresh and not local else None
        except RayActorError as exc:
            self._on_worker_error(i, exc)
            return
        except ObjectLostError as exc:
            # The sample finished but its node went before the fragment reached this node: that
            # was the worker's in-flight fragment, and the worker went with the node.
            self._on_worker_error(i, exc)
            return
        w.failures = 0
        self._note_incarnation(i, header)
        if header["version"] < 0:
            # A restarted instance without weights sampled nothing; _arm sends them first.
            self._arm(i)
            return
        self.sample_s_total += header["sample_s"]
        if not fresh:
            owned = None
        elif local:
            owned = frag_ref
        else:
            owned = ray.put(fragment)
        del fragment  # release the zero-copy view so the fetched copy can be freed
        self.pool.add(header["version"], (owned, header), self.learner_version)
        self._arm(i)

    def _note_incarnation(self, i: int, header: dict) -> None:
        """Count a restart that no failed call reported (Ray restarted the actor between calls).

        The new process starts without weights and with the config's curriculum, so both are
        marked unsent and go out with the next ``_arm``.
        """
        w = self.workers[i]
        if w.incarnation is not None and header["incarnation"] != w.incarnation:
            self.counters.worker_restarts += 1
            print(f"[echelon] rollout worker {i} was restarted by Ray; re-sending weights", file=sys.stderr, flush=True)
            w.version = header["version"]
            w.curriculum = None
        w.incarnation = header["incarnation"]

    def _on_worker_error(self, i: int, exc: Exception) -> None:
        # One incident = one restart counted. Ray restarts the actor (ray.max_restarts); its
        # in-flight fragment is lost. The new process has no weights, so recovery starts with
        # a probe that re-sends them; sampling resumes once the probe succeeds.
        w = self.workers[i]
        self.counters.worker_restarts += 1
        w.version = -1
        w.curriculum = None
        w.incarnation = None  # the restart is counted here, not again at the new process's first header
        w.failures = 0
        self.parked.discard(i)
        print(f"[echelon] rollout worker {i} lost ({type(exc).__name__}); re-sending weights once it is back",
              file=sys.stderr, flush=True)
        self._probe(i)

    def _probe(self, i: int) -> None:
        ref = self.workers[i].handle.set_weights.remote(self.learner_version, self.weights_ref)
        self.probes[ref] = (i, self.learner_version)

    def _on_probe(self, ref: Any) -> None:
        i, version = self.probes.pop(ref)
        w = self.workers[i]
        try:
            ray.get(ref)
        except RayActorError as exc:
            # Still restarting (ActorUnavailableError), or gone for good once Ray's
            # max_restarts are spent (ActorDiedError from then on): retry with a back-off,
            # and give the worker up after PROBE_ATTEMPTS tries.
            w.failures += 1
            if w.failures >= PROBE_ATTEMPTS:
                w.alive = False
                warnings.warn(
                    f"rollout worker {i} did not come back after {w.failures} tries; continuing without it "
                    f"({type(exc).__name__})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return
            self.retry_at[i] = time.monotonic() + PROBE_BACKOFF_S
            return
        w.failures = 0
        w.version = version
        self._arm(i)

    def _due_retries(self) -> None:
        now = time.monotonic()
        for i, when in list(self.retry_at.items()):
            if when <= now:
                del self.retry_at[i]
                self._probe(i)

    def _maybe_submit_update(self) -> None:
        if self.pending_update is not None or self.updates_submitted >= self._update_budget():
            return
        if self.stop_requested:
            return
        batch = self.pool.take(self.fragments_per_update, self.learner_version)
        if batch is None:
            return
        frag_refs = [payload[0] for _, payload in batch]
        self.pending_update = self.learner.update.remote(*frag_refs)
        self.pending_batch = [payload[1] for _, payload in batch]
        self.updates_submitted += 1

    def _on_update_done(self, ref: Any) -> None:
        try:
            stats, version, (weights_ref,) = ray.get(ref)
        except RayActorError as exc:
            raise LearnerDiedError(
                f"the learner actor died ({type(exc).__name__}); continue the run with "
                f"--resume {self.run_dir}"
            ) from exc
        except RayTaskError as exc:
            if not _lost_object(exc):
                raise
            # Pooled fragments are owned by this driver and stored on its node (_on_fragment), so
            # a worker node's loss cannot reach them; should one still be lost (e.g. a spill
            # file removed under Ray), the update never ran. Count the batch as lost and train
            # on the next one; the learner's version is unchanged.
            self.pending_update = None
            self.updates_submitted -= 1
            self.counters.lost_fragments += len(self.pending_batch)
            print(f"[echelon] {len(self.pending_batch)} fragment(s) lost; skipping that batch",
                  file=sys.stderr, flush=True)
            self.pending_batch = []
            return
        self.pending_update = None
        self.pending_batch = []
        self.learner_version, self.weights_ref = version, weights_ref
        c = self.counters
        c.update += 1
        c.env_steps += int(stats["env_steps"])
        c.agent_steps += int(stats["agent_steps"])
        c.dropped_fragments = self.pool.dropped
        # Ask for the state before queueing the next update: actor calls run in order, so this
        # is the state right after update c.update.
        state_ref = None
        if c.update % self.cfg.learner.checkpoint_every == 0:
            state_ref = self.learner.state_dict.remote()
        self._maybe_submit_update()
        for i in sorted(self.parked):
            self._arm(i)

        elapsed = max(time.time() - self.t_start, 1e-9)
        record = {
            N.TRAIN_UPDATE: c.update,
            N.TRAIN_ENV_STEPS: c.env_steps,
            N.TRAIN_AGENT_STEPS: c.agent_steps,
            N.TRAIN_POLICY_VERSION: version,
            **learner_stats_to_record(stats),
            N.PERF_SPS: (c.env_steps - self.steps_at_start) / elapsed,
            N.PERF_AGENT_SPS: (c.agent_steps - self.agent_steps_at_start) / elapsed,
            N.PERF_WAIT_S: self._wait_s,
            N.PERF_DROPPED_FRAGMENTS: c.dropped_fragments,
            N.PERF_WORKER_RESTARTS: c.worker_restarts,
            N.PERF_LOST_FRAGMENTS: c.lost_fragments,
            N.PERF_NUM_WORKERS: sum(w.alive for w in self.workers),
            N.PERF_ELAPSED_S: elapsed,
        }
        if self.curriculum is not None:
            record[N.TRAIN_CURRICULUM] = self.curriculum
        self._wait_s = 0.0
        full = ray.get(self.metrics.log_update.remote(record))
        c.episodes = int(full.get(N.EPISODE_COUNT, c.episodes))
        self.last_record = full
        if self.progress is not None:
            self.progress.update(full)
        if state_ref is not None:
            self._save_checkpoint(ray.get(state_ref))
        if self.on_update is not None:
            self.on_update(self, full)

    # -- checkpoints -------------------------------------------------------------------------

    def _counter_fields(self) -> dict:
        c = self.counters
        return {
            N.TRAIN_UPDATE: c.update,
            N.TRAIN_ENV_STEPS: c.env_steps,
            N.TRAIN_AGENT_STEPS: c.agent_steps,
            N.EPISODE_COUNT: c.episodes,
            N.PERF_DROPPED_FRAGMENTS: c.dropped_fragments,
            N.PERF_WORKER_RESTARTS: c.worker_restarts,
            N.PERF_LOST_FRAGMENTS: c.lost_fragments,
        }

    def _save_checkpoint(self, learner_state: dict) -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "learner": learner_state,
            "counters": asdict(self.counters),
            "driver_rng": capture_rng_state(),
            "config": config_to_dict(self.cfg),
            "curriculum": self.curriculum,
            "time": time.time(),
        }
        self.last_checkpoint = save_checkpoint(
            self.run_dir, self.counters.update, payload, keep=self.cfg.learner.keep_checkpoints
        )
        self.last_checkpoint_update = self.counters.update

    # -- signals and clean-up ----------------------------------------------------------------

    def _install_signal_handlers(self) -> dict:
        if sys.platform == "win32" or not _in_main_thread():
            return {}
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)
        return old

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stop_requested:
            # Second signal: the user insists; leave without the final checkpoint.
            raise KeyboardInterrupt
        self.stop_requested = signal.Signals(signum).name
        print(
            f"\n[echelon] {self.stop_requested}: finishing the update in flight, then checkpoint and exit "
            "(send again to abort)",
            file=sys.stderr,
        )

    @staticmethod
    def _restore_signal_handlers(old: dict) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    def _release_actors(self) -> None:
        metrics = getattr(self, "metrics", None)
        if metrics is not None and not self._metrics_closed:
            # A run that failed still flushes its log and finishes its W&B run.
            try:
                ray.get(metrics.close.remote(), timeout=30)
            except (ray.exceptions.RayError, TimeoutError) as exc:
                print(f"[echelon] could not close the metrics actor cleanly: {exc}", file=sys.stderr)
        # Actors are owned by this driver and die with it; killing them now frees the CPUs at
        # once for a following run in the same Ray session (tests, benchmarks).
        for w in self.workers:
            ray.kill(w.handle, no_restart=True)
        for name in ("learner", "metrics"):
            handle = getattr(self, name, None)
            if handle is not None:
                ray.kill(handle, no_restart=True)
        self.inflight.clear()


def _in_main_thread() -> bool:
    # signal.signal only works there; a driver run from a thread (a notebook, a test) keeps
    # the default handlers.
    return threading.current_thread() is threading.main_thread()
