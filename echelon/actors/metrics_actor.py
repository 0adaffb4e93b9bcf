"""MetricsActor: the Ray shell around :class:`~echelon.metrics.hub.MetricsHub`.

A named actor pinned to the driver's node (it writes ``RUN_DIR/train_log.jsonl`` and
``RUN_DIR/media/`` on the driver's filesystem). Workers send it, per fragment, their finished
episodes (compact records) and an action sample with ``add_fragment.remote`` and never wait; the
driver sends update records and reads back the completed record for its progress display.
Besides the hub's sinks it mirrors a few numbers to the Ray dashboard
(:class:`~echelon.metrics.dashboard.RayDashboardSink`, tagged with the run id).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from echelon.config import TrainConfig
from echelon.metrics.hub import MetricsHub

log = logging.getLogger(__name__)


class MetricsActor:
    """Plain class; ``ray.remote(MetricsActor)`` is the actor."""

    def __init__(
        self, cfg: TrainConfig, run_dir: str, console: bool = False, dashboard: bool = True, run_id: str = ""
    ) -> None:
        self.hub = MetricsHub.from_config(cfg, Path(run_dir), console=console, run_id=run_id)
        if dashboard:
            from echelon.metrics.dashboard import RayDashboardSink

            self.hub.add_sink(RayDashboardSink(run_id))

    def add_episodes(self, episodes: list[dict]) -> None:
        self.hub.add_episodes(episodes)

    def add_fragment(self, episodes: list[dict], action_sample: Optional[dict] = None) -> None:
        """One fragment's finished episodes and action sample (workers, fire-and-forget)."""
        self.hub.add_fragment(episodes, action_sample)

    def episode_count(self) -> int:
        """Episodes received so far (restarts add the previous process's count back)."""
        return self.hub.episode_count

    def set_episode_count(self, count: int) -> None:
        self.hub.set_episode_count(count)

    def restore_episode_count(self, before: int) -> None:
        """After a restart: add the count the previous process had reached (``before``)."""
        self.hub.set_episode_count(self.hub.episode_count + int(before))

    def ping(self) -> bool:
        """Answers once the actor is up (the driver waits on it after a failure; a worker calls it
        to know that every ``add_fragment`` it sent before has been applied)."""
        return True

    def node_id(self) -> str:
        """Ray node this actor runs on (the driver reports the placement)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def log_update(self, record: dict) -> dict:
        return self.hub.log_update(record)

    def log(self, records: list[dict]) -> None:
        self.hub.log(records)

    def flush(self) -> None:
        self.hub.flush()

    def close(self, checkpoint: Optional[str] = None) -> Optional[str]:
        """Flush and close every sink (``checkpoint`` goes to W&B as an artifact); returns where
        the W&B run lives (or None)."""
        where = self.hub.wandb_location()
        self.hub.close(checkpoint=checkpoint)
        if where is not None:
            # This process is killed next; its W&B service connection is closed now, while the
            # service still answers, instead of by W&B's exit hook, which then printed a
            # "Connection lost" traceback on some runs (nothing was lost: the run had finished).
            try:
                import wandb

                wandb.teardown()
            except Exception as exc:  # noqa: BLE001 - the run is finished; only log it
                log.warning("W&B teardown failed: %s", exc)
        return where

    def wandb_location(self) -> Optional[str]:
        return self.hub.wandb_location()

    def log_path(self) -> str:
        return str(self.hub.log_path)
