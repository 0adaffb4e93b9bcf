"""Creating the run's actors: where each is placed and what resources it asks Ray for.

Placement on a cluster (``ray up cluster/cluster.yaml``):

- rollout workers ask for one unit of ``ray.worker_resource`` (``rollout``) when some node
  advertises it (or always, with ``ray.require_worker_resource``, for an autoscaler to add such
  nodes), and sit in one placement group of one bundle each, strategy ``SPREAD`` (``PACK`` when
  a single node can host them; ``ray.placement``), so losing a node takes as few as possible;
- the learner asks for a GPU when the cluster has one (``learner.device: auto``) and for
  ``learner.resource`` when the config names it (:func:`~echelon.actors.learner_actor.learner_resources`);
- the metrics actor is pinned to the driver's node (under ``ray job submit``, the head), where
  the run's log is written.

:func:`report_placement` asks every actor where it runs and logs it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import ray
from ray.exceptions import RayActorError
from ray.util.placement_group import PlacementGroup, placement_group
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

from echelon.actors.learner_actor import LearnerActor, learner_resources
from echelon.actors.metrics_actor import MetricsActor
from echelon.actors.metrics_link import METRICS_MAX_RESTARTS
from echelon.actors.rollout_worker import RolloutWorker
from echelon.config import TrainConfig

log = logging.getLogger(__name__)

# How long the placement report waits for actors to come up; one still pending (e.g. waiting
# for the autoscaler) is reported as such rather than holding back the run.
PLACEMENT_REPORT_WAIT_S = 10.0

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


def worker_placement(cfg: TrainConfig, nodes: Sequence[dict]) -> tuple[dict[str, float], Optional[str]]:
    """``(bundle, strategy)`` for each rollout worker, from the alive nodes' ``ray.nodes()`` entries.

    ``bundle``: the resources one worker asks for (``{"CPU": ray.num_cpus_per_worker}`` plus
    ``{ray.worker_resource: 1}`` when some node has it or ``ray.require_worker_resource``).
    ``strategy``: the placement group's (``"SPREAD"``, ``"PACK"``), or None for no placement group
    (``ray.placement: none``, or a bundle of zero resources, which Ray refuses).
    """
    bundle: dict[str, float] = {}
    if cfg.ray.num_cpus_per_worker > 0:
        bundle["CPU"] = float(cfg.ray.num_cpus_per_worker)
    name = cfg.ray.worker_resource
    hosts = [n for n in nodes if name and n.get("Resources", {}).get(name, 0) >= 1]
    if name and (hosts or cfg.ray.require_worker_resource):
        bundle[name] = 1.0
    else:
        hosts = list(nodes)
    if cfg.ray.placement == "none" or not bundle:
        return bundle, None
    # SPREAD over one node is PACK; saying so keeps the report honest about what Ray was asked.
    if cfg.ray.placement == "pack" or len(hosts) == 1:
        return bundle, "PACK"
    return bundle, "SPREAD"


def spawn_workers(
    cfg: TrainConfig, count: int, start_update: int, metrics_name: str
) -> tuple[list[Any], Optional[PlacementGroup]]:
    """``count`` rollout workers, restarted by Ray on failure, and their placement group (or None).

    Worker ``i`` takes bundle ``i``; a worker Ray restarts goes back into its bundle, and a bundle
    whose node is lost is rescheduled by Ray onto a node that has room. The caller removes the
    group when the run ends (:meth:`~echelon.actors.worker_set.WorkerSet.kill_all`).
    """
    bundle, strategy = worker_placement(cfg, [n for n in ray.nodes() if n.get("Alive")])
    opts: dict[str, Any] = dict(num_cpus=cfg.ray.num_cpus_per_worker, max_restarts=cfg.ray.max_restarts,
                                max_task_retries=0)
    custom = {k: v for k, v in bundle.items() if k != "CPU"}
    if custom:
        opts["resources"] = custom
    pg = placement_group([dict(bundle) for _ in range(count)], strategy=strategy) if strategy else None
    log.info("rollout workers: %d asking for %s each, %s", count, bundle,
             f"in a {strategy} placement group" if pg else "no placement group")
    worker_cls = ray.remote(RolloutWorker)
    handles = []
    for i in range(count):
        if pg is not None:
            opts["scheduling_strategy"] = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i)
        handles.append(worker_cls.options(**opts).remote(cfg, i, start_update, metrics_name))
    return handles, pg


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


def _describe_node(node_id: Optional[str], nodes: dict[str, dict]) -> str:
    """``"node 1a2b3c4d (10.0.0.5, head; GPU 1, learner 1)"``: id prefix, address and what it advertises."""
    if node_id is None:
        return "not placed yet (waiting for resources)"
    node = nodes.get(node_id, {})
    res = node.get("Resources", {})
    tags = [node.get("NodeManagerAddress", "?")] + (["head"] if "node:__internal_head__" in res else [])
    shown = {k: v for k, v in res.items() if k == "GPU" or not (k.startswith("node:") or k in (
        "CPU", "memory", "object_store_memory") or k.startswith("accelerator_type"))}
    extra = "; " + ", ".join(f"{k} {v:g}" for k, v in sorted(shown.items())) if shown else ""
    return f"node {node_id[:8]} ({', '.join(tags)}{extra})"


def _answer(ref: Any) -> Optional[str]:
    """The node id a ready call returned; None while pending or when the actor failed (the loop
    notices and handles failures itself)."""
    done, _ = ray.wait([ref], timeout=0)
    if not done:
        return None
    try:
        return ray.get(ref)
    except RayActorError:
        return None


def report_placement(learner: Any, workers: Sequence[Any], metrics: Any, driver_node: str) -> dict:
    """Ask each actor for its node and log where everything runs.

    Returns ``{"driver": id, "metrics": id, "learner": id, "workers": [id or None, ...]}`` (Ray
    node ids, hex); a worker that did not answer within :data:`PLACEMENT_REPORT_WAIT_S` is None.
    """
    refs = {"learner": learner.node_id.remote(), "metrics": metrics.node_id.remote()}
    worker_refs = [w.node_id.remote() for w in workers]
    ray.wait(worker_refs, num_returns=len(worker_refs), timeout=PLACEMENT_REPORT_WAIT_S)
    placed: dict[str, Any] = {"driver": driver_node, **{k: ray.get(r) for k, r in refs.items()}}
    placed["workers"] = [_answer(ref) for ref in worker_refs]
    nodes = {n["NodeID"]: n for n in ray.nodes()}
    for role in ("driver", "metrics", "learner"):
        log.info("placement: %-7s on %s", role, _describe_node(placed[role], nodes))
    by_node: dict[Optional[str], list[int]] = {}
    for i, node_id in enumerate(placed["workers"]):
        by_node.setdefault(node_id, []).append(i)
    for node_id, idx in by_node.items():
        log.info("placement: rollout worker%s %s on %s", "s" if len(idx) > 1 else "",
                 ", ".join(map(str, idx)), _describe_node(node_id, nodes))
    return placed
