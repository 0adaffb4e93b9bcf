"""The driver's side of the metrics actor: logging that survives the actor's restart or its loss.

The metrics actor is restarted by Ray (``METRICS_MAX_RESTARTS``); its new process appends to the
same JSONL and continues the same W&B run. Metrics never stop training: a call that fails has its
records written by the driver itself to the same JSONL (the file is on the driver's node), unless
the actor wrote them before it died, and the driver then waits for the restart and restores the
episode counter. When the actor cannot come back, :attr:`MetricsLink.lost` turns true and the
driver stops the run cleanly; every record from then on is written by the driver.

Update records are sent without waiting (:meth:`MetricsLink.submit_update`): the actor's work on
one (the episode window, strided renders, the W&B call) overlaps the driver's next events, and
the completed record comes back through :meth:`MetricsLink.collect`. Actor calls run in the order
they were sent, so records stay in order; every other call first collects what is pending.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from collections import deque
from typing import Any, Optional

import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

from echelon.metrics import names as N
from echelon.metrics.hub import LOG_NAME, MetricsHub

log = logging.getLogger(__name__)

METRICS_MAX_RESTARTS = 3
RESTART_WAIT_S = 60.0  # how long a restart may take before the actor counts as lost


class MetricsLink:
    """Calls to the metrics actor with a fallback writer; see the module docstring.

    Args:
        handle: the metrics actor.
        run_dir: the run directory (the JSONL is ``run_dir/train_log.jsonl``).
        run_id: stamped on records the driver writes itself.
        window: episodes in the rolling window of the fallback writer.
    """

    def __init__(self, handle: Any, run_dir: Path, run_id: str, window: int = 100) -> None:
        self.handle = handle
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.window = window
        self.lost = False
        self.failures = 0  # calls that failed (each one an actor death or restart seen)
        # Seconds the driver has spent blocked on update records (collect(block=True) and the
        # read of a finished call); bench_metrics reports its share of wall time.
        self.update_wait_s = 0.0
        self._fallback: Optional[MetricsHub] = None
        # Update records sent and not yet collected: (call ref, record, episode count, number),
        # oldest first. Calls numbered below _recovered were sent before the last restart was
        # handled: their failure is that same failure, not another one to count and recover from.
        self._pending: deque[tuple[Any, dict, int, int]] = deque()
        self._sent = 0
        self._recovered = 0
        self._done: list[dict] = []  # written by the fallback on submit, returned by the next collect

    def log(self, records: list[dict]) -> None:
        """Records of any kind (meta, resume, error, summary); pending update records go first."""
        self._finish_pending()
        try:
            self._call("log", records)
        except _Failed:
            for rec in records:
                self._write_once(rec, episodes=None)

    def submit_update(self, record: dict, episodes: int) -> None:
        """Send update record ``record`` to be logged without waiting; :meth:`collect` returns it
        completed with the episode window. ``episodes`` is the driver's count so far (restored
        into a restarted actor)."""
        if self.lost:
            self._done.append(self._write_once(record, episodes=episodes))
            return
        self._pending.append((self.handle.log_update.remote(record), record, episodes, self._sent))
        self._sent += 1

    def pending_ref(self) -> Any:
        """The oldest update call in flight (for the driver's ``ray.wait``), or None."""
        return self._pending[0][0] if self._pending else None

    def collect(self, block: bool = False) -> list[dict]:
        """The update records logged since the last call, completed, oldest first.

        Without ``block`` only calls that already finished are read; with it, every pending one.
        """
        t0 = time.perf_counter()
        try:
            while self._pending:
                ref, record, episodes, number = self._pending[0]
                if not block and not ray.wait([ref], timeout=0, fetch_local=True)[0]:
                    break
                self._pending.popleft()
                try:
                    self._done.append(self._get("log_update", ref, episodes, handled=number < self._recovered))
                except _Failed:
                    self._done.append(self._write_once(record, episodes=episodes))
        finally:
            self.update_wait_s += time.perf_counter() - t0
        done, self._done = self._done, []
        return done

    def _finish_pending(self) -> None:
        """Wait for the update records in flight, keeping them for the next :meth:`collect`."""
        if self._pending:
            self._done = self._done + self.collect(block=True)

    def set_episode_count(self, count: int) -> None:
        self._finish_pending()
        try:
            self._call("set_episode_count", count)
        except _Failed:
            pass

    def close(self, checkpoint: Optional[str | Path] = None) -> Optional[str]:
        """Flush and close every sink (``checkpoint``, the newest, goes to W&B as an artifact);
        where the W&B run lives (None when disabled, failed or lost)."""
        where = None
        self._finish_pending()
        try:
            where = self._call("close", str(checkpoint) if checkpoint else None)
        except _Failed:
            pass
        if self._fallback is not None:
            self._fallback.close()
            self._fallback = None
        return where

    # -- failures ------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, episodes: Optional[int] = None) -> Any:
        if self.lost:
            raise _Failed
        try:
            ref = getattr(self.handle, method).remote(*args)
        except RayActorError as exc:
            self._failed(method, exc, episodes)
        return self._get(method, ref, episodes)

    def _get(self, method: str, ref: Any, episodes: Optional[int], handled: bool = False) -> Any:
        """The result of call ``ref``; on the actor's failure wait for its restart and raise _Failed.

        ``handled``: the call was sent before the last restart was dealt with, so its failure
        only means its record is the driver's to write.
        """
        if self.lost:  # an earlier call found it gone; this one failed with it
            raise _Failed
        try:
            return ray.get(ref)
        except RayActorError as exc:
            if handled:
                raise _Failed from None
            self._failed(method, exc, episodes)

    def _failed(self, method: str, exc: Exception, episodes: Optional[int]) -> None:
        """Count a failed call, wait for the actor's restart (or mark it lost), raise _Failed."""
        self.failures += 1
        self._recovered = self._sent
        log.warning("the metrics actor failed during %s (%s); the driver writes those records itself",
                    method, type(exc).__name__)
        self._await_restart(episodes)
        raise _Failed from None

    def _await_restart(self, episodes: Optional[int]) -> None:
        """Block until the restarted actor answers; mark it lost when it cannot come back.

        The new process counts episodes from 0; ``episodes`` (the count before the failure) is
        added back so ``train/episodes`` stays cumulative (episodes sent while it was down are lost).
        """
        try:
            ray.get(self.handle.ping.remote(), timeout=RESTART_WAIT_S)
            if episodes is not None:
                ray.get(self.handle.restore_episode_count.remote(episodes), timeout=RESTART_WAIT_S)
        except (ActorDiedError, GetTimeoutError, RayActorError) as exc:
            self.lost = True
            log.error("the metrics actor is gone for good (%s); stopping the run cleanly", type(exc).__name__)
            return
        log.warning("the metrics actor was restarted; logging continues in the same files")

    def _write_once(self, record: dict, episodes: Optional[int]) -> dict:
        """Write ``record`` with the driver's own JSONL writer, unless the actor already wrote it."""
        if self._fallback is None:
            self._fallback = MetricsHub(self.run_dir, window=self.window, run_id=self.run_id)
        if episodes is not None:
            self._fallback.set_episode_count(episodes)
        kind = record.get(N.KIND, N.KIND_UPDATE)
        if kind == N.KIND_UPDATE:
            if self._logged(N.TRAIN_UPDATE, record[N.TRAIN_UPDATE]):
                return dict(record)
            return self._fallback.log_update(record)
        self._fallback.log([record])
        return dict(record)

    def _logged(self, key: str, value: Any) -> bool:
        """Whether this process already logged an update record with ``key == value``.

        Looks at the last records only, after the last ``meta`` record among them (each process
        start writes one), so an abandoned record of the same number from before a resume does
        not count.
        """
        path = self.run_dir / LOG_NAME
        if not path.is_file():
            return False
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 256 * 1024))
            tail = fh.read().decode("utf-8", errors="replace").splitlines()[-20:]
        found = False
        for line in tail:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get(N.KIND) == N.KIND_META:
                found = False
            elif rec.get(N.KIND) == N.KIND_UPDATE and rec.get(key) == value:
                found = True
        return found


class _Failed(Exception):
    """A call to the metrics actor did not complete."""
