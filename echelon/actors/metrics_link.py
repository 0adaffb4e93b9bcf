"""The driver's side of the metrics actor: logging that survives the actor's restart or its loss.

The metrics actor is restarted by Ray (``METRICS_MAX_RESTARTS``); its new process appends to the
same JSONL and continues the same W&B run. Metrics never stop training: a call that fails has its
records written by the driver itself to the same JSONL (the file is on the driver's node), unless
the actor wrote them before it died, and the driver then waits for the restart and restores the
episode counter. When the actor cannot come back, :attr:`MetricsLink.lost` turns true and the
driver stops the run cleanly; every record from then on is written by the driver.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
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
        # Seconds the driver has spent waiting in log_update (the call is synchronous: the
        # metrics actor's per-update work, strided renders included, is on the driver's path).
        self.update_wait_s = 0.0
        self._fallback: Optional[MetricsHub] = None

    def log(self, records: list[dict]) -> None:
        """Records of any kind (meta, resume, error, summary)."""
        try:
            self._call("log", records)
        except _Failed:
            for rec in records:
                self._write_once(rec, episodes=None)

    def log_update(self, record: dict, episodes: int) -> dict:
        """An update record completed with the episode window; ``episodes`` is the driver's count so far."""
        t0 = time.perf_counter()
        try:
            return self._call("log_update", record, episodes=episodes)
        except _Failed:
            return self._write_once(record, episodes=episodes)
        finally:
            self.update_wait_s += time.perf_counter() - t0

    def set_episode_count(self, count: int) -> None:
        try:
            self._call("set_episode_count", count)
        except _Failed:
            pass

    def close(self, checkpoint: Optional[str | Path] = None) -> Optional[str]:
        """Flush and close every sink (``checkpoint``, the newest, goes to W&B as an artifact);
        where the W&B run lives (None when disabled, failed or lost)."""
        where = None
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
            return ray.get(getattr(self.handle, method).remote(*args))
        except RayActorError as exc:
            self.failures += 1
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
