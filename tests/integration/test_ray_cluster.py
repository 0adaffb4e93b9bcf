"""Node loss on a real multi-node Ray cluster (``ray.cluster_utils.Cluster``, 3 nodes).

Head: driver, learner, metrics. Two worker nodes advertise the ``rollout`` resource (two slots
each); the two rollout workers are spread one per node. Mid-run, at an update where fragments
that worker 0 already delivered still wait for the learner (pooled, or in the batch of the
update in flight), the node hosting worker 0 is removed. Only that worker's in-flight fragment
may be lost: the delivered ones are owned by the driver and stored on the head node, so every
update runs on full batches (``perf/lost_fragments`` stays 0). Ray restarts the worker on the
surviving node, the driver counts the restart and re-sends weights, the run completes, and no
update consumes a fragment staler than ``ray.max_policy_lag`` (measured by the learner from the
fragments' version stamps).
"""

import pytest

from echelon.actors.orchestrator import Orchestrator
from echelon.config import load_config
from echelon.metrics import names as N

from helpers_ray import SMOKE, read_log, updates_of

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster():
    c = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "include_dashboard": False,
            # Notice a dead node within ~1.5 s instead of Ray's default ~15 s, so the run sees
            # the loss well before it ends (the behaviour under test is what happens after).
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    for _ in range(2):
        c.add_node(num_cpus=1, resources={"rollout": 2})
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="warning")
    yield c
    ray.shutdown()
    c.shutdown()


def _delivered_waiting(orch, worker):
    """Headers of fragments from ``worker`` the driver holds that no finished update consumed."""
    pooled = [header for _, header in orch.pool.payloads()]
    return [h for h in pooled + list(orch.pending_batch) if h.worker == worker]


def test_losing_a_worker_node_loses_at_most_its_in_flight_fragment(cluster, tmp_path):
    cfg = load_config(
        SMOKE,
        [
            "ray.num_workers=2",
            "ray.num_cpus_per_worker=0.5",
            "ray.worker_resource=rollout",
            "ray.max_policy_lag=1",
            "learner.total_env_steps=8192",  # 32 updates of 2 fragments x 128 env steps
            "learner.checkpoint_every=5",
        ],
    )
    removed = {}

    def on_update(orch, record):
        if removed or record[N.TRAIN_UPDATE] < 2:
            return
        waiting = _delivered_waiting(orch, worker=0)
        if not waiting and record[N.TRAIN_UPDATE] < 16:
            return  # wait for an update at which worker 0 has delivered fragments at stake
        node_id = ray.get(orch.workers[0].handle.node_id.remote())
        other = ray.get(orch.workers[1].handle.node_id.remote())
        assert node_id != other, "SPREAD should place the two workers on different nodes"
        victim = next(n for n in cluster.list_all_nodes() if n.node_id == node_id)
        assert victim is not cluster.head_node
        cluster.remove_node(victim, allow_graceful=False)
        removed.update(
            node=node_id,
            at_update=record[N.TRAIN_UPDATE],
            delivered_waiting=len(waiting),
            incarnation=orch.workers[0].incarnation,
        )

    orch = Orchestrator(cfg, tmp_path / "run", on_update=on_update)
    result = orch.run()

    assert removed and result.stopped_by == "done"
    # Fragments worker 0 had delivered were waiting for the learner when its node went.
    assert removed["delivered_waiting"] >= 1, removed
    assert result.counters["update"] == 32 and result.counters["env_steps"] == 8192
    assert result.counters["lost_fragments"] == 0  # delivered fragments survived the node
    assert result.counters["worker_restarts"] == 1  # one incident, counted once
    ups = updates_of(read_log(tmp_path / "run"))
    assert [r[N.TRAIN_UPDATE] for r in ups] == list(range(1, 33))
    # Every update trained on a full batch of 2 fragments x 4 matches x 32 steps.
    assert [r[N.TRAIN_ENV_STEPS] for r in ups] == [256 * k for k in range(1, 33)]
    assert max(r[N.SYSTEM_POLICY_LAG_MAX] for r in ups) <= cfg.ray.max_policy_lag
    assert all(r[N.SYSTEM_LOST_FRAGMENTS] == 0 for r in ups)
    assert ups[-1][N.SYSTEM_WORKER_RESTARTS] == 1 and ups[0][N.SYSTEM_WORKER_RESTARTS] == 0
    assert ups[-1][N.SYSTEM_NUM_WORKERS] == 2
    # The restarted worker came back: the driver heard from a new process on the surviving node.
    assert orch.workers[0].incarnation not in (None, removed["incarnation"])
