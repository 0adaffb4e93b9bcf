"""Placement on a real multi-node Ray cluster (``ray.cluster_utils.Cluster``, 3 nodes on this machine).

Head: no ``rollout`` resource (the driver and the metrics actor belong there). Node A advertises
``rollout``; node B advertises ``rollout``, a ``learner`` resource and a GPU. With
``learner.resource: learner`` and ``learner.device: auto`` the learner must land on B; the two
rollout workers, in a SPREAD placement group asking for ``rollout``, one on A and one on B; and
the run must complete and give the workers' resources back.
"""

import time

import pytest

from echelon.actors.orchestrator import Orchestrator
from echelon.config import load_config
from echelon.metrics import names as N

from helpers_ray import SMOKE, read_log, updates_of

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def cluster():
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes = {
        "a": c.add_node(num_cpus=1, resources={"rollout": 2}),
        # A GPU in name only: Ray schedules on it; the CPU torch build trains on the CPU (device auto).
        "b": c.add_node(num_cpus=2, num_gpus=1, resources={"rollout": 2, "learner": 1}),
    }
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="warning")
    yield c, {k: n.node_id for k, n in nodes.items()}
    ray.shutdown()
    c.shutdown()


def test_learner_and_workers_go_to_the_nodes_with_their_resources(cluster, tmp_path):
    c, node = cluster
    head = c.head_node.node_id
    cfg = load_config(SMOKE, [
        "ray.num_workers=2",
        "ray.num_cpus_per_worker=0.5",
        "ray.placement=spread",
        "learner.device=auto",
        "learner.resource=learner",
        "learner.total_env_steps=768",  # 3 updates of 2 fragments x 4 matches x 32 steps
    ])
    seen = {}

    def on_update(orch, record):
        seen.setdefault("placement", dict(orch.placement))
        seen.setdefault("strategy", ray.util.placement_group_table(orch.workers.placement_group)["strategy"])
        # The driver's time blocked on update records so far (what bench_metrics reports).
        seen.setdefault("metrics_wait_s", orch.metrics.update_wait_s)

    result = Orchestrator(cfg, tmp_path / "run", on_update=on_update).run()

    placed = seen["placement"]
    assert placed["driver"] == head and placed["metrics"] == head
    assert placed["learner"] == node["b"]
    assert sorted(placed["workers"]) == sorted([node["a"], node["b"]])  # spread: one per rollout node
    assert seen["strategy"] == "SPREAD"
    assert 0.0 < seen["metrics_wait_s"] < 60.0
    assert result.stopped_by == "done" and result.counters["update"] == 3 and result.counters["env_steps"] == 768
    ups = updates_of(read_log(tmp_path / "run"))
    assert [r[N.TRAIN_ENV_STEPS] for r in ups] == [256, 512, 768]
    assert [r for r in read_log(tmp_path / "run") if r[N.KIND] == N.KIND_META][0]["device"] == "cpu"
    # The placement group went with the run: its bundles' `rollout` units are free again.
    deadline = time.monotonic() + 10
    while ray.available_resources().get("rollout", 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("rollout", 0) == 4
