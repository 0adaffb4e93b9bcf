"""The Ray dashboard sink: a few numbers of every update record as ``ray.util.metrics``.

Gauges (the latest value) and counters (cumulative, fed the increase of the log's cumulative
counters) tagged ``run=<run_id>``, so runs sharing a Ray cluster stay apart. Ray's metrics agent
exports them on the node's metrics export port in the Prometheus text format, named
``ray_echelon_<key with / as _>`` (counters add ``_total``); the dashboard's Metrics tab and
Grafana read them from a Prometheus that scrapes that port (docs/observability.md). Only
created inside a Ray worker process (the metrics actor): ``ray.util.metrics`` needs one.
"""

from __future__ import annotations

from typing import Any

from echelon.metrics import names as N
from echelon.metrics.sinks import Sink

GAUGES = (N.TRAIN_SPS, N.RETURNS_MEAN, N.RETURNS_WIN_RATE, N.SYSTEM_POLICY_LAG_MAX, N.SYSTEM_NUM_WORKERS,
          N.TRAIN_UPDATE)
COUNTERS = (N.TRAIN_ENV_STEPS, N.TRAIN_EPISODES, N.SYSTEM_WORKER_RESTARTS, N.SYSTEM_DROPPED_FRAGMENTS)


def prometheus_name(key: str) -> str:
    """``train/env_steps_per_s`` → ``echelon_train_env_steps_per_s`` (Prometheus names allow no ``/``);
    Ray prefixes ``ray_`` on export."""
    return "echelon_" + key.replace("/", "_")


class RayDashboardSink(Sink):
    """Mirrors :data:`GAUGES` and :data:`COUNTERS` of update records to ``ray.util.metrics``."""

    def __init__(self, run_id: str) -> None:
        from ray.util.metrics import Counter, Gauge

        tags = {"run": run_id or "unnamed"}
        self._gauges: dict[str, Any] = {}
        self._counters: dict[str, Any] = {}
        for key in GAUGES:
            self._gauges[key] = Gauge(prometheus_name(key), description=f"Echelon {key}", tag_keys=("run",))
            self._gauges[key].set_default_tags(tags)
        for key in COUNTERS:
            self._counters[key] = Counter(prometheus_name(key), description=f"Echelon {key} (cumulative)",
                                          tag_keys=("run",))
            self._counters[key].set_default_tags(tags)
        self._seen: dict[str, float] = {}

    def write(self, record: dict[str, Any]) -> None:
        if record.get(N.KIND) != N.KIND_UPDATE:
            return
        for key, gauge in self._gauges.items():
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                gauge.set(float(value))
        for key, counter in self._counters.items():
            value = record.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            # The log's counters are cumulative over the run (resumes included); this process's
            # counter starts at 0 and catches up with the first record (Prometheus reads a new
            # process as a counter reset).
            before = self._seen.get(key, 0.0)
            if value > before:
                counter.inc(float(value) - before)
                self._seen[key] = float(value)
