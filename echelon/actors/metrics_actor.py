"""MetricsActor: the Ray shell around :class:`~echelon.metrics.hub.MetricsHub`.

A named actor pinned to the driver's node (it writes ``RUN_DIR/train_log.jsonl`` on the
driver's filesystem). Workers send it finished episodes with ``add_episodes.remote`` and never
wait; the driver sends update records and reads back the completed record for its progress
display. Besides the hub's sinks it mirrors a few numbers to the Ray dashboard with
``ray.util.metrics`` gauges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from echelon.config import TrainConfig
from echelon.metrics import names as N
from echelon.metrics.hub import MetricsHub

# Shown on the Ray dashboard's metrics page (Prometheus names allow no "/").
DASHBOARD_GAUGES = (N.TRAIN_ENV_STEPS, N.PERF_SPS, N.EPISODE_RETURN_MEAN, N.EPISODE_WIN_RATE, N.POLICY_LAG_MAX)


class MetricsActor:
    """Plain class; ``ray.remote(MetricsActor)`` is the actor."""

    def __init__(
        self, cfg: TrainConfig, run_dir: str, console: bool = False, dashboard: bool = True, run_id: str = ""
    ) -> None:
        self.hub = MetricsHub.from_config(cfg, Path(run_dir), console=console, run_id=run_id)
        self._gauges: dict[str, Any] = {}
        if dashboard:
            from ray.util.metrics import Gauge

            for key in DASHBOARD_GAUGES:
                name = "echelon_" + key.replace("/", "_")
                self._gauges[key] = Gauge(name, description=f"Echelon {key}")

    def add_episodes(self, episodes: list[dict]) -> None:
        self.hub.add_episodes(episodes)

    def set_episode_count(self, count: int) -> None:
        self.hub.set_episode_count(count)

    def restore_episode_count(self, before: int) -> None:
        """After a restart: add the count the previous process had reached (``before``)."""
        self.hub.set_episode_count(self.hub.episode_count + int(before))

    def ping(self) -> bool:
        """Answers once the actor is up (the driver waits on it after a failure)."""
        return True

    def node_id(self) -> str:
        """Ray node this actor runs on (the driver reports the placement)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def log_update(self, record: dict) -> dict:
        full = self.hub.log_update(record)
        for key, gauge in self._gauges.items():
            value = full.get(key)
            if isinstance(value, (int, float)):
                gauge.set(float(value))
        return full

    def log(self, records: list[dict]) -> None:
        self.hub.log(records)

    def flush(self) -> None:
        self.hub.flush()

    def close(self) -> Optional[str]:
        """Flush and close every sink; returns where the W&B run lives (or None)."""
        where = self.hub.wandb_location()
        self.hub.close()
        return where

    def wandb_location(self) -> Optional[str]:
        return self.hub.wandb_location()

    def log_path(self) -> str:
        return str(self.hub.log_path)
