"""Creating the run's actors: where each is placed and what resources it asks Ray for."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from echelon.actors.learner_actor import LearnerActor, learner_resources
from echelon.actors.metrics_actor import MetricsActor
from echelon.actors.metrics_link import METRICS_MAX_RESTARTS
from echelon.actors.rollout_worker import RolloutWorker
from echelon.config import TrainConfig

log = logging.getLogger(__name__)


def env_spaces(cfg: TrainConfig) -> tuple[Any, Any]:
    """``(single_observation_space, single_action_space)`` of one row of ``cfg.rollout.env``."""
    from echelon.env.adapters import make_vector_env

    env = make_vector_env(cfg, 1, cfg.seed)
    try:
        return env.single_observation_space, env.single_action_space
    finally:
        env.close()


def spawn_metrics(cfg: TrainConfig, run_dir: Path, name: str, node_id: str, console: bool, run_id: str) -> Any:
    """The named metrics actor, pinned to ``node_id`` (it writes the log on the driver's filesystem).

    Ray restarts it (``METRICS_MAX_RESTARTS``); the driver's :class:`MetricsLink` covers the gap.
    """
    return (
        ray.remote(MetricsActor)
        .options(name=name, num_cpus=0, max_restarts=METRICS_MAX_RESTARTS, max_task_retries=0,
                 scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
        .remote(cfg, str(run_dir), console=console, dashboard=cfg.metrics.dashboard, run_id=run_id)
    )


def spawn_workers(cfg: TrainConfig, count: int, start_update: int, metrics_name: str) -> list[Any]:
    """``count`` rollout workers, restarted by Ray on failure, spread over nodes when asked."""
    opts: dict[str, Any] = dict(num_cpus=cfg.ray.num_cpus_per_worker, max_restarts=cfg.ray.max_restarts,
                                max_task_retries=0)
    if cfg.ray.worker_resource:
        opts["resources"] = {cfg.ray.worker_resource: 1}
    if cfg.ray.spread_workers:
        opts["scheduling_strategy"] = "SPREAD"
    worker_cls = ray.remote(RolloutWorker).options(**opts)
    return [worker_cls.remote(cfg, i, start_update, metrics_name) for i in range(count)]


def spawn_learner(cfg: TrainConfig, cluster_gpus: float, obs_space: Any, action_space: Any) -> Any:
    """The learner actor (a GPU when the cluster has one and ``learner.device`` allows it)."""
    res = learner_resources(cfg, cluster_gpus)
    return ray.remote(LearnerActor).options(max_restarts=0, **res).remote(cfg, obs_space, action_space)


def wait_ready(ref: Any, what: str, stopping: Callable[[], bool]) -> Any:
    """``ray.get(ref)``, warning every 30 s while it pends: actors wait until the cluster has their
    resources (or the autoscaler adds a node), and a silent hang would look like a bug."""
    waited = 0.0
    while True:
        ready, _ = ray.wait([ref], timeout=30.0)
        if ready:
            return ray.get(ref)
        waited += 30.0
        log.warning("%s not ready after %.0f s: the cluster may lack the resources it asks for "
                    "(cluster: %s, available: %s)", what, waited, ray.cluster_resources(), ray.available_resources())
        if stopping():
            raise KeyboardInterrupt(f"stopped while waiting for {what}")
