"""Incidents of a run, shared by both loops: skipped updates and worker exceptions.

Each writes a receipt (:mod:`echelon.metrics.receipts`) and an ``error`` record; skipped updates
in a row are counted, and the run stops cleanly once ``learner.max_bad_updates`` are reached.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from echelon.config import TrainConfig, config_to_dict
from echelon.metrics.receipts import (
    NONFINITE_UPDATE,
    WORKER_EXCEPTION,
    describe_skip,
    error_record,
    write_receipt,
)
from echelon.metrics.schema import make_trace_id

log = logging.getLogger(__name__)


class Incidents:
    """Receipts, error records and the bad-update streak of one run.

    Args:
        cfg: the run config (saved in every receipt).
        run_dir: receipts go under ``run_dir/receipts/``.
        run_id: for the trace ids.
        emit: writes log records (the metrics actor's or the hub's ``log``).
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, run_id: str, emit: Callable[[list[dict]], None]) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.emit = emit
        self.bad_in_a_row = 0
        self.bad_total = 0

    def good_update(self) -> None:
        self.bad_in_a_row = 0

    def bad_update(self, update: int, report: dict[str, Any], frames: Sequence[np.ndarray] = ()) -> bool:
        """Record a skipped update; True when the streak reached ``learner.max_bad_updates`` (stop)."""
        self.bad_in_a_row += 1
        self.bad_total += 1
        trace = make_trace_id(self.run_id, update)
        path = write_receipt(self.run_dir, trace, config_to_dict(self.cfg), report, frames)
        message = describe_skip(report)
        self.emit([error_record(NONFINITE_UPDATE, message, update, trace, path)])
        log.warning("update %d: %s; receipt in %s", update, message, path)
        limit = self.cfg.learner.max_bad_updates
        if self.bad_in_a_row >= limit:
            log.error("%d updates in a row had non-finite numbers (learner.max_bad_updates=%d); stopping. "
                      "See the receipts under %s", self.bad_in_a_row, limit, self.run_dir / "receipts")
            return True
        return False

    def worker_failed(self, update: int, worker: int, traceback: str, seed: int,
                      frames: Sequence[np.ndarray] = ()) -> None:
        """Record an exception raised while a worker sampled (the worker has rebuilt its env)."""
        trace = make_trace_id(self.run_id, update)
        report = {"worker": worker, "env_seed": seed, "traceback": traceback}
        path = write_receipt(self.run_dir, f"{trace}-worker{worker}", config_to_dict(self.cfg), report, frames)
        last = traceback.strip().splitlines()[-1] if traceback.strip() else "exception"
        self.emit([error_record(WORKER_EXCEPTION, f"rollout worker {worker}: {last}", update, trace, path)])
        log.warning("rollout worker %d raised %s; it rebuilt its env; receipt in %s", worker, last, path)
