"""The driver loop of the Ray actor-learner: read :meth:`Orchestrator.run` top to bottom.

One fragment's way through the loop:
  :meth:`~Orchestrator._arm` queues ``worker.sample`` → the fragment arrives
  (:meth:`~Orchestrator._on_fragment`) → it joins the lag-bounded pool →
  :meth:`~Orchestrator._maybe_submit_update` sends a batch to ``learner.update`` → the update is
  done (:meth:`~Orchestrator._on_update_done`) → the new weights are published and idle workers
  are armed with them; the update record goes to the metrics actor, every
  ``learner.checkpoint_every`` updates a checkpoint is written.

Roles: ``RolloutWorker`` x N sample fragments ``[T, R, ...]`` stamped with their weights version
(their health is :class:`~echelon.actors.worker_set.WorkerSet`'s job); ``LearnerActor`` runs one
PPO update per batch and publishes new weights once per version; ``MetricsActor`` writes the log.
Fragments staler than ``ray.max_policy_lag`` versions are dropped and counted. The match
curriculum (:class:`~echelon.curriculum.Curriculum`) advances after each update and goes out to
the workers with their next sample; evaluations of the new weights run on their own actor
(:class:`~echelon.actors.evaluation.PeriodicEvaluator`) and reach the first record after they end.

Delivery: the driver ``ray.wait``s on the fragments themselves, so a fragment counts as arrived
once Ray has pulled it to the driver's node; one sampled on another node is copied into this
node's object store, so losing that node later cannot take it. A learner or driver crash is
recovered with ``--resume RUN_DIR`` from the last atomic checkpoint; SIGINT/SIGTERM finish the
update in flight, write a final checkpoint and flush the log.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import ray
from ray.exceptions import ObjectLostError, RayActorError, RayTaskError

from echelon.actors.evaluation import PeriodicEvaluator
from echelon.actors.graceful import GracefulStop
from echelon.actors.incidents import Incidents
from echelon.actors.league_link import LeagueLink
from echelon.actors.metrics_link import MetricsLink
from echelon.actors.schedule import FragmentPool, resolve_num_workers, updates_left
from echelon.actors.spawn import env_spaces, report_placement, spawn_learner, spawn_metrics, spawn_workers
from echelon.actors.spawn import wait_ready
from echelon.actors.worker_set import PROBE_BACKOFF_S, WorkerSet, fragment_timings
from echelon.checkpoint import (
    Counters,
    ResumePoint,
    TrainingState,
    build_payload,
    capture_rng_state,
    restore_rng_state,
    save_checkpoint,
    set_aside,
)
from echelon.config import TrainConfig, config_to_dict
from echelon.curriculum import Curriculum
from echelon.league.league import resolve_run_league
from echelon.metrics import names as N
from echelon.metrics.records import (
    abandoned_updates,
    meta_record,
    resume_record,
    summary_record,
    update_record,
)
from echelon.metrics.schema import make_trace_id, new_run_id
from echelon.ppo.learner import bc_weight

log = logging.getLogger(__name__)


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
    stopped_by: str  # "done" | "stop_at_update" | "signal" | "metrics_lost" | "bad_updates"
    elapsed_s: float
    last_record: dict


class Orchestrator:
    """Runs the actor-learner loop on an initialised Ray connection.

    Args:
        cfg: run config (already merged with overrides; on resume, the checkpoint's).
        run_dir: where the log and checkpoints go (created).
        resume_from: the checkpoint to continue, from :func:`echelon.checkpoint.find_latest_checkpoint`.
        stop_at_update: stop cleanly (final checkpoint) once this many updates are done.
        on_update: called with ``(orchestrator, record)`` once each update's record is logged
            (the metrics actor's completed record; usually before the next update ends); tests
            use it to remove a node mid-run, benchmarks to time updates.
        progress: object with ``start(orchestrator)``, ``update(record)``, ``stop()``; None = quiet.
        console: let the metrics actor print a plain line per update.
        resume_changes: config keys changed on resume (``{key: [old, new]}``), for the resume record.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: str | Path,
        resume_from: Optional[ResumePoint] = None,
        stop_at_update: Optional[int] = None,
        on_update: Optional[Callable[["Orchestrator", dict], None]] = None,
        progress: Any = None,
        console: bool = False,
        resume_changes: Optional[dict] = None,
    ) -> None:
        self.run_dir = Path(run_dir).absolute()  # actors write into it from other working directories
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # league.path: run becomes RUN_DIR/league.json (train_distributed.py resolves it already).
        self.cfg = cfg = resolve_run_league(cfg, self.run_dir)
        self.resume_from = resume_from
        self.stop_at_update = stop_at_update
        self.on_update = on_update
        self.progress = progress
        self.console = console
        self.resume_changes = resume_changes or {}
        state = resume_from.state if resume_from else None
        self.counters = Counters(**asdict(state.counters)) if state else Counters()
        self.run_id = state.run_id if state else new_run_id()
        self.stop = GracefulStop()
        self.halt: Optional[str] = None  # why the run stops early without a signal ("metrics_lost", "bad_updates")
        self.incidents: Optional[Incidents] = None
        self.pool = FragmentPool(cfg.ray.max_policy_lag, dropped=self.counters.dropped_fragments)
        # Actors and sizes, set by _start once Ray's resources are known.
        self.workers = WorkerSet([])
        self.learner: Any = None
        self.metrics: Optional[MetricsLink] = None
        self.metrics_name = f"echelon-metrics-{os.getpid()}-{id(self):x}"
        self.driver_node: Optional[str] = None
        self.num_workers = 0
        self.fragments_per_update = 0
        self.target_updates = 0
        self.learner_device = "cpu"
        self.placement: dict = {}  # role -> Ray node id(s), from spawn.report_placement
        # Loop state.
        self.parked: set[int] = set()  # workers waiting for fresher weights (see _arm)
        self.pending_update: Any = None
        self.pending_batch: list = []  # headers of the fragments the pending update consumes
        self.updates_submitted = self.counters.update
        self.learner_version = 0
        self.weights_ref: Any = None
        # The match curriculum (None: none) continues at the checkpoint's stage; evaluations run
        # beside the loop (echelon/actors/evaluation.py).
        self.curriculum = Curriculum.from_config(cfg, state.curriculum if state else None, self.counters.env_steps)
        self.evaluator = PeriodicEvaluator(cfg, self.run_dir)
        self.league: Optional[LeagueLink] = None  # arena training (league.path set)
        self.last_checkpoint: Optional[Path] = resume_from.path if resume_from else None
        self.last_checkpoint_update = self.counters.update if resume_from else -1
        self.last_record: dict = {}
        self.t_start = time.time()
        self.steps_at_start = self.counters.env_steps
        self.agent_steps_at_start = self.counters.agent_steps
        self.sample_s_total = 0.0  # seconds workers spent inside collector.sample (all workers)
        self._wait_s = 0.0
        self._metrics_closed = False

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Train until ``learner.total_env_steps`` are consumed, ``stop_at_update`` or a signal."""
        t0 = time.time()
        with self.stop:
            try:
                self._start()
                if self.progress is not None:
                    self.progress.start(self)
                while not self._done():
                    self._step()
                while self.pending_update is not None:
                    self._step()
                self._on_logged(self.metrics.collect(block=True))
                self.counters.worker_restarts = self.workers.restarts
                self.counters.dropped_fragments = self.pool.dropped
                if self.counters.update != self.last_checkpoint_update:
                    self._save_checkpoint(*ray.get(self.learner.state_dict.remote()))
                stopped_by = self._stopped_by()
                summary = summary_record(self.counters, stopped_by=stopped_by, checkpoint=self.last_checkpoint,
                                         elapsed_s=time.time() - self.t_start,
                                         episodes_sent=self.workers.episodes_sent())
                self.metrics.log([summary])
                wandb_where = self.metrics.close(self.last_checkpoint)
                self._metrics_closed = True
                if self.halt == "metrics_lost":
                    log.error("stopped after update %d because the metrics actor is gone; its records are in %s; "
                              "continue with --resume %s", self.counters.update, self.run_dir / "train_log.jsonl",
                              self.run_dir)
            finally:
                if self.progress is not None:
                    self.progress.stop()
                self._release_actors()
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

    def _step(self) -> None:
        """Wait for the next event (fragment, probe answer, update done) and handle it."""
        self.workers.due_probes(self.learner_version, self.weights_ref)
        refs = self.workers.refs()
        if self.pending_update is not None:
            refs.append(self.pending_update)
        logging_ref = self.metrics.pending_ref()
        if logging_ref is not None:
            refs.append(logging_ref)
        if not refs:
            self._idle()
            return
        t0 = time.perf_counter()
        ready, _ = ray.wait(refs, num_returns=1, timeout=0.5)
        self._wait_s += time.perf_counter() - t0
        for ref in ready:
            if ref is self.pending_update:
                self._on_update_done(ref)
            elif ref is logging_ref:
                self._on_logged(self.metrics.collect())
            elif self.workers.is_probe(ref):
                i = self.workers.probe_done(ref)
                if i is not None:
                    self._arm(i)
            else:
                self._on_fragment(ref)
        self._maybe_submit_update()

    def _idle(self) -> None:
        if self.workers.waiting_for_retry():
            time.sleep(PROBE_BACKOFF_S / 4)
            return
        if not self.workers.num_alive:
            raise RuntimeError("every rollout worker is gone (restarts exhausted); nothing left to sample")
        if self.stop.requested or self.updates_submitted >= self._update_budget():
            return
        # Everyone parked and nothing in flight or training: no event would ever wake a worker,
        # so sample regardless of the predicted lag (the pool bound still applies).
        for i in sorted(self.parked):
            self._arm(i, force=True)

    def predicted_lag(self) -> int:
        """Lag a fragment sampled from now on would have when consumed.

        It waits behind the update in flight and the fragments already pooled, each batch of
        which costs one version.
        """
        return int(self.pending_update is not None) + len(self.pool) // self.fragments_per_update

    def _arm(self, i: int, force: bool = False) -> None:
        """Queue worker ``i``'s next fragment, or park it while that fragment would arrive too stale.

        Sampling a parked worker would only feed the drop counter and steal CPU from the learner.
        """
        if not self.workers[i].alive or self.updates_submitted >= self._update_budget() or self.stop.requested:
            return
        if not force and self.predicted_lag() > self.cfg.ray.max_policy_lag:
            self.parked.add(i)
            return
        self.parked.discard(i)
        push = self.curriculum.push() if self.curriculum is not None else None
        # The teacher's actions only while the imitation weight has not decayed to 0.
        teacher = bc_weight(self.cfg.ppo, self.counters.env_steps) > 0
        self.workers.sample(i, self.learner_version, self.weights_ref, push, teacher)

    def _on_fragment(self, frag_ref: Any) -> None:
        """Take a fragment that reached this node: keep it on this node, pool it, re-arm its worker.

        A task's return value is owned by its caller (this driver) but stored on the node that
        produced it. A fragment sampled on this node is therefore already safe. One sampled on
        another node has been pulled here by ``ray.wait``, so ``ray.get`` maps it without a
        transfer and ``ray.put`` stores a copy in this node's object store; the ref to the
        worker node's copy is dropped, so losing that node from now on cannot take the fragment.
        """
        arrival = self.workers.receive(frag_ref)
        if arrival is None:
            return  # the worker failed; WorkerSet probes it back
        i, header = arrival
        if header.error is not None:
            self.incidents.worker_failed(self.counters.update, i, header.error, header.seed, self._frames_of(i))
        if header.version < 0:
            self._arm(i)  # a restarted (or rebuilt) instance without weights sampled nothing
            return
        if self.curriculum is not None:  # matches played count for their stage, fresh or not
            self.curriculum.observe(header.curriculum_tag, header.outcomes)
        fresh = self.pool.fresh(header.version, self.learner_version)
        owned = frag_ref if fresh and header.node == self.driver_node else None
        if fresh and owned is None:
            try:
                fragment = ray.get(frag_ref)
            except (RayActorError, ObjectLostError) as exc:
                # The sample finished but its node went before the fragment reached this node.
                self.workers.failed(i, exc)
                return
            owned = ray.put(fragment)
            del fragment  # release the zero-copy view so the fetched copy can be freed
        self.sample_s_total += header.sample_s
        self.pool.add(header.version, (owned, header), self.learner_version)
        self._arm(i)

    def _maybe_submit_update(self) -> None:
        if self.pending_update is not None or self.updates_submitted >= self._update_budget() or self.stop.requested:
            return
        batch = self.pool.take(self.fragments_per_update, self.learner_version)
        if batch is None:
            return
        self.pending_update = self.learner.update.remote(*[payload[0] for _, payload in batch])
        self.pending_batch = [payload[1] for _, payload in batch]
        self.updates_submitted += 1

    def _on_update_done(self, ref: Any) -> None:
        try:
            stats, version, (weights_ref,) = ray.get(ref)
        except RayActorError as exc:
            raise LearnerDiedError(
                f"the learner actor died ({type(exc).__name__}); continue the run with --resume {self.run_dir}"
            ) from exc
        except RayTaskError as exc:
            if not _lost_object(exc):
                raise
            # Pooled fragments are owned by this driver and stored on its node, so a worker node's
            # loss cannot reach them; should one still be lost (e.g. a spill file removed under
            # Ray), the update never ran: count the batch as lost and train on the next one.
            self.pending_update, self.updates_submitted = None, self.updates_submitted - 1
            self.counters.lost_fragments += len(self.pending_batch)
            log.warning("%d fragment(s) lost; skipping that batch", len(self.pending_batch))
            self.pending_batch = []
            return
        batch, self.pending_update, self.pending_batch = self.pending_batch, None, []
        self.learner_version, self.weights_ref = version, weights_ref
        c = self.counters
        c.update += 1
        c.env_steps += int(stats["env_steps"])
        c.agent_steps += int(stats["agent_steps"])
        c.dropped_fragments = self.pool.dropped
        c.worker_restarts = self.workers.restarts
        if self.curriculum is not None:
            self.curriculum.on_update(c.env_steps)  # before re-arming: parked workers get a new stage at once
        self.evaluator.maybe_start(c.update, version, weights_ref)
        # Ask for the state before queueing the next update: actor calls run in order, so this
        # is the state right after update c.update.
        state_ref = self.learner.state_dict.remote() if c.update % self.cfg.learner.checkpoint_every == 0 else None
        self._maybe_submit_update()
        for i in sorted(self.parked):
            self._arm(i)
        if stats.get("nonfinite"):  # not trained on: an error record and a receipt instead of an update record
            if self.incidents.bad_update(c.update, stats["report"], self._frames_of(batch[0].worker)):
                self.halt = "bad_updates"
            return
        self.incidents.good_update()
        record = update_record(
            c, {**stats, **fragment_timings(batch)}, version=version, elapsed_s=time.time() - self.t_start,
            env_steps_at_start=self.steps_at_start, agent_steps_at_start=self.agent_steps_at_start,
            wait_s=self._wait_s, num_workers=self.workers.num_alive, extra=self._record_extras(),
        )
        self._wait_s = 0.0
        if self.league is not None:  # match results, snapshots and rating periods, league/ metrics
            record.update(self.league.after_update(c.update, c.env_steps, batch, weights_ref))
        # Logged without waiting (the metrics actor's work overlaps the next events); the
        # completed record comes back in _on_logged. A checkpoint waits for it, so the episode
        # count it saves is this update's.
        self.metrics.submit_update(record, episodes=c.episodes)
        self._on_logged(self.metrics.collect(block=state_ref is not None))
        if state_ref is not None:
            self._save_checkpoint(*ray.get(state_ref))

    def _on_logged(self, records: list[dict]) -> None:
        """Update records the metrics actor completed (episode window added), oldest first."""
        for full in records:
            if self.metrics.lost:
                self.halt = "metrics_lost"
            self.counters.episodes = int(full.get(N.TRAIN_EPISODES, self.counters.episodes))
            self.last_record = full
            if self.progress is not None:
                self.progress.update(full)
            if self.on_update is not None:
                self.on_update(self, full)

    def _record_extras(self) -> dict:
        """The ``curriculum/`` keys and, when an evaluation finished, the ``eval/`` keys of this update's
        record. The run's last update waits for the evaluation in flight (``eval.timeout_s``); a
        signal does not."""
        out = self.curriculum.record() if self.curriculum is not None else {}
        final = self.counters.update >= self._update_budget() and not self.stop.requested
        out.update(self.evaluator.collect(wait_s=self.cfg.eval.timeout_s if final else 0.0))
        return out

    def _done(self) -> bool:
        return bool(self.halt or self.stop.requested) or self.counters.update >= self._update_budget()

    def _update_budget(self) -> int:
        if self.stop_at_update is None:
            return self.target_updates
        return min(self.target_updates, self.stop_at_update)

    def _stopped_by(self) -> str:
        if self.stop.requested:
            return "signal"
        if self.halt:
            return self.halt
        return "done" if self.counters.update >= self.target_updates else "stop_at_update"

    # -- set-up, checkpoints, clean-up -----------------------------------------------------------

    def _start(self) -> None:
        """Create the actors, restore a resumed run's state, write meta (and resume), arm workers."""
        cfg, state = self.cfg, self.resume_from.state if self.resume_from else None
        resources = ray.cluster_resources()
        self.num_workers = resolve_num_workers(cfg.ray.num_workers, resources.get("CPU", 1.0),
                                               cfg.ray.num_cpus_per_worker)
        self.fragments_per_update = cfg.ray.fragments_per_update or self.num_workers
        self.target_updates = self.counters.update + updates_left(cfg, self.fragments_per_update,
                                                                  self.counters.env_steps)
        self.driver_node = ray.get_runtime_context().get_node_id()
        handle = spawn_metrics(cfg, self.run_dir, self.metrics_name, self.driver_node, self.console, self.run_id)
        self.metrics = MetricsLink(handle, self.run_dir, self.run_id, window=cfg.metrics.window)
        self.incidents = Incidents(cfg, self.run_dir, self.run_id, self.metrics.log)
        if state is not None and state.driver_rng is not None:
            restore_rng_state(state.driver_rng)
        self.workers = WorkerSet(*spawn_workers(cfg, self.num_workers, self.counters.update, self.metrics_name))
        self.workers.restarts = self.counters.worker_restarts
        self.league = LeagueLink.start(cfg, self.run_dir, self.run_id, self.workers)  # before any worker samples
        # Spaces from a one-copy env built here, so the learner starts alongside the workers.
        obs_space, action_space = env_spaces(cfg)
        self.learner = spawn_learner(cfg, resources.get("GPU", 0.0), obs_space, action_space)
        if state is not None:
            ray.get(self.learner.load_state_dict.remote(state.learner, state.learner_rng))
        stopping = lambda: bool(self.stop.requested)  # noqa: E731
        self.learner_version, (self.weights_ref,) = wait_ready(self.learner.weights.remote(), "learner", stopping)
        self.learner_device = ray.get(self.learner.device.remote())
        self.placement = report_placement(self.learner, [w.handle for w in self.workers], handle, self.driver_node)

        records = [meta_record(cfg, mode="ray", device=self.learner_device, resumed=state is not None,
                               obs_space=obs_space, action_space=action_space,
                               num_workers=self.num_workers, fragments_per_update=self.fragments_per_update,
                               target_updates=self.target_updates, cluster_resources=resources)]
        if self.resume_from is not None:
            path, _, skipped = self.resume_from
            set_aside(skipped)
            self.metrics.set_episode_count(self.counters.episodes)
            records.append(resume_record(self.counters, checkpoint=path, skipped=skipped,
                                         abandoned=abandoned_updates(self.run_dir / "train_log.jsonl",
                                                                     self.counters.update),
                                         changed=self.resume_changes))
        self.metrics.log(records)
        self.t_start = time.time()
        for i in range(self.num_workers):
            self._arm(i)

    def _frames_of(self, worker: int) -> list:
        """Worker ``worker``'s last frames of one match for a receipt (none if it cannot answer)."""
        try:
            return ray.get(self.workers[worker].handle.recent_frames.remote(), timeout=30)
        except (RayActorError, ray.exceptions.GetTimeoutError):
            return []

    def _save_checkpoint(self, learner_state: dict, learner_rng: dict) -> None:
        c = self.counters
        state = TrainingState(
            learner=learner_state, counters=Counters(**asdict(c)), config=config_to_dict(self.cfg),
            run_id=self.run_id, trace_id=make_trace_id(self.run_id, c.update), learner_rng=learner_rng,
            driver_rng=capture_rng_state(),
            curriculum=self.curriculum.state_dict() if self.curriculum is not None else None,
        )
        self.last_checkpoint = save_checkpoint(self.run_dir, c.update, build_payload(state),
                                               keep=self.cfg.learner.keep_checkpoints)
        self.last_checkpoint_update = c.update

    def _release_actors(self) -> None:
        if self.metrics is not None and not self._metrics_closed:
            self.metrics.close()  # a run that failed still flushes its log and finishes its W&B run
        # Actors are owned by this driver and die with it; killing them now frees the CPUs at
        # once for a following run in the same Ray session (tests, benchmarks).
        self.evaluator.close()
        self.workers.kill_all()
        for handle in (self.learner, self.metrics.handle if self.metrics else None):
            if handle is not None:
                ray.kill(handle, no_restart=True)


def _lost_object(exc: BaseException) -> bool:
    """True when a task failed because an argument object was lost with its node."""
    return isinstance(exc, ObjectLostError) or isinstance(getattr(exc, "cause", None), ObjectLostError)
