"""Rollout workers and their health: what each holds, restarts noticed, probes after a failure.

The driver's loop asks this class which calls are in flight and hands it every result that
concerns a worker; it answers with fragments that arrived and workers that are ready to sample.

Faults: a worker that dies (node lost, OOM) is restarted by Ray (``ray.max_restarts``,
``max_task_retries=0``). A failed call counts one restart and starts a probe: ``set_weights`` is
re-sent until the new process answers (``PROBE_ATTEMPTS`` tries, ``PROBE_BACKOFF_S`` apart), then
the worker samples again. A restart between calls fails no call; the new process's first
fragment header carries a new incarnation id, which counts the restart and marks its weights
unsent. A worker without weights reports version -1 and samples nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import ray
from ray.exceptions import ObjectLostError, RayActorError
from ray.util.placement_group import remove_placement_group

from echelon.actors.rollout_worker import FragmentHeader
from echelon.curriculum import params_differ

log = logging.getLogger(__name__)

PROBE_BACKOFF_S = 1.0  # between re-sends of weights to a restarting worker
PROBE_ATTEMPTS = 120  # about two minutes for a worker (and, on a cluster, a new node) to come back


@dataclass
class WorkerState:
    handle: Any
    version: int = -1  # weights version last sent
    curriculum: Optional[tuple[int, dict]] = None  # (tag, params) last sent; None = not yet / lost
    failures: int = 0  # consecutive failed probes
    alive: bool = True
    incarnation: Optional[str] = None  # the actor process last heard from (None: not yet / restarting)
    league: int = -1  # arena training: version of the opponent set last sent (-1: none)


def fragment_timings(headers: list[FragmentHeader]) -> dict[str, float]:
    """Mean seconds per fragment of an update's batch: in the collector (``worker_sample_s``), of
    which in ``env.step`` and in policy inference, and from the worker's return to the driver
    taking it (``fragment_send_s``: one clock on one node; across nodes it includes their offset)."""
    if not headers:
        return {}
    n = float(len(headers))
    return {
        "worker_sample_s": sum(h.sample_s for h in headers) / n,
        "worker_env_step_s": sum(h.env_step_s for h in headers) / n,
        "worker_inference_s": sum(h.inference_s for h in headers) / n,
        "fragment_send_s": sum(max(0.0, h.received_at - h.sent_at) for h in headers) / n,
    }


class WorkerSet:
    """The rollout worker actors of one run and the calls in flight to them."""

    def __init__(self, handles: list[Any], placement_group: Any = None) -> None:
        self.workers = [WorkerState(h) for h in handles]
        self.placement_group = placement_group  # the workers' (spawn.spawn_workers), removed by kill_all
        self.inflight: dict[Any, tuple[int, Any]] = {}  # fragment ref -> (worker index, header ref)
        self.probes: dict[Any, tuple[int, int]] = {}  # set_weights ref -> (worker, version)
        self.retry_at: dict[int, float] = {}  # worker -> monotonic time of its next probe
        self.restarts = 0
        # Arena training (echelon/actors/league_link.py): (version, ref of a LeagueSet) the workers
        # must hold before they sample; None without a league.
        self.league: Optional[tuple[int, Any]] = None

    def __len__(self) -> int:
        return len(self.workers)

    def __getitem__(self, i: int) -> WorkerState:
        return self.workers[i]

    @property
    def num_alive(self) -> int:
        return sum(w.alive for w in self.workers)

    def refs(self) -> list[Any]:
        """Every call in flight whose result concerns a worker (fragments and probes)."""
        return list(self.inflight) + list(self.probes)

    def is_probe(self, ref: Any) -> bool:
        return ref in self.probes

    def waiting_for_retry(self) -> bool:
        return bool(self.retry_at)

    def sample(self, i: int, version: int, weights_ref: Any, curriculum: Optional[tuple[int, dict]] = None,
               teacher: bool = True) -> None:
        """Send weights / curriculum ``(tag, params)`` if stale, then queue the next ``sample``
        (actor calls run in order, so that fragment is sampled with them); ``teacher``: whether
        that fragment records the teacher's actions."""
        w = self.workers[i]
        if w.version != version:
            w.handle.set_weights.remote(version, weights_ref)
            w.version = version
        if curriculum is not None and (w.curriculum is None or w.curriculum[0] != curriculum[0]
                                       or params_differ(w.curriculum[1], curriculum[1])):
            w.handle.set_curriculum.remote(curriculum[1], curriculum[0])
            w.curriculum = curriculum
        if self.league is not None and w.league != self.league[0]:
            w.handle.set_league.remote(self.league[1])
            w.league = self.league[0]
        header_ref, frag_ref = w.handle.sample.options(num_returns=2).remote(teacher)
        # Keyed by the fragment: ray.wait (fetch_local) reports it ready once it is on this node.
        self.inflight[frag_ref] = (i, header_ref)

    def receive(self, frag_ref: Any) -> Optional[tuple[int, FragmentHeader]]:
        """The header of an arrived fragment, or None when its worker failed (a probe starts)."""
        i, header_ref = self.inflight.pop(frag_ref)
        try:
            header: FragmentHeader = ray.get(header_ref)
        except (RayActorError, ObjectLostError) as exc:
            self.failed(i, exc)
            return None
        self._note_incarnation(i, header)
        if header.error is not None:
            # It rebuilt its env and collector: weights and curriculum go out again.
            self.workers[i].version = -1
            self.workers[i].curriculum = None
            self.workers[i].league = -1
        return i, header._replace(received_at=time.time())

    def episodes_sent(self, timeout_s: float = 60.0) -> Optional[int]:
        """Sum of the episodes each live worker process sent the metrics actor, each count taken once
        its sends have arrived (see ``RolloutWorker.episodes_sent``); None when a worker cannot answer.

        Call it once no more samples are queued: it waits behind the worker's sample in flight.
        """
        refs = [w.handle.episodes_sent.remote() for w in self.workers if w.alive]
        try:
            return int(sum(ray.get(refs, timeout=timeout_s)))
        except ray.exceptions.RayError as exc:  # a worker or the metrics actor gone, or a timeout
            log.warning("could not count the episodes the workers sent (%s)", type(exc).__name__)
            return None

    def _note_incarnation(self, i: int, header: FragmentHeader) -> None:
        """Count a restart that no failed call reported (Ray restarted the actor between calls).

        The new process starts without weights and with the config's curriculum, so both are
        marked unsent and go out with the next :meth:`sample`.
        """
        w = self.workers[i]
        w.failures = 0
        if w.incarnation is not None and header.incarnation != w.incarnation:
            self.restarts += 1
            log.warning("rollout worker %d was restarted by Ray; re-sending weights", i)
            w.version = header.version
            w.curriculum = None
            w.league = -1
        w.incarnation = header.incarnation

    def failed(self, i: int, exc: BaseException) -> None:
        """One incident = one restart counted; its in-flight fragment is lost; probe until it is back."""
        w = self.workers[i]
        self.restarts += 1
        w.version = -1
        w.curriculum = None
        w.league = -1
        w.incarnation = None  # counted here, not again at the new process's first header
        w.failures = 0
        log.warning("rollout worker %d lost (%s); re-sending weights once it is back", i, type(exc).__name__)
        self.retry_at[i] = time.monotonic()

    def due_probes(self, version: int, weights_ref: Any) -> None:
        """Send the probes whose back-off has passed (``set_weights`` of the current version)."""
        now = time.monotonic()
        for i, when in list(self.retry_at.items()):
            if when <= now:
                del self.retry_at[i]
                ref = self.workers[i].handle.set_weights.remote(version, weights_ref)
                self.probes[ref] = (i, version)

    def probe_done(self, ref: Any) -> Optional[int]:
        """The worker that answered a probe and can sample again, or None (retry or given up)."""
        i, version = self.probes.pop(ref)
        w = self.workers[i]
        try:
            ray.get(ref)
        except RayActorError as exc:
            # Still restarting (ActorUnavailableError), or gone for good once Ray's max_restarts
            # are spent (ActorDiedError from then on): retry with a back-off, give up after
            # PROBE_ATTEMPTS tries.
            w.failures += 1
            if w.failures >= PROBE_ATTEMPTS:
                w.alive = False
                log.warning("rollout worker %d did not come back after %d tries; continuing without it (%s)",
                            i, w.failures, type(exc).__name__)
                return None
            self.retry_at[i] = time.monotonic() + PROBE_BACKOFF_S
            return None
        w.failures = 0
        w.version = version
        return i

    def kill_all(self) -> None:
        """Free the workers' CPUs at once (a following run in the same Ray session needs them)."""
        for w in self.workers:
            ray.kill(w.handle, no_restart=True)
        if self.placement_group is not None:
            # Its bundles keep their resources reserved until removed, even with no actor inside.
            remove_placement_group(self.placement_group)
            self.placement_group = None
        self.inflight.clear()
        self.probes.clear()
