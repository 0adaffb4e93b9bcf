"""The driver's pure pieces: lag-bounded fragment pool, worker count, sizes (the curriculum: test_curriculum.py)."""

import math

import pytest

from echelon.actors.learner_actor import learner_resources
from echelon.actors.schedule import (
    FragmentPool,
    resolve_num_workers,
    steps_per_update,
    updates_left,
)
from echelon.actors.progress import eta_seconds
from echelon.actors.rollout_worker import worker_seed
from echelon.config import load_config
from echelon.metrics import names as N
from echelon.metrics.records import learner_stats_to_record


def test_pool_drops_fragments_beyond_the_lag_bound():
    pool = FragmentPool(max_lag=1)
    assert pool.add(version=3, payload="a", learner_version=4)  # lag 1: kept
    assert not pool.add(version=2, payload="b", learner_version=4)  # lag 2: dropped
    assert pool.dropped == 1 and len(pool) == 1
    # The learner moved on: "a" (version 3) is now lag 2 and goes when the batch is formed.
    assert pool.take(1, learner_version=5) is None
    assert pool.dropped == 2 and len(pool) == 0


def test_pool_takes_the_freshest_fragments_in_arrival_order():
    pool = FragmentPool(max_lag=2)
    for version, name in [(5, "old"), (6, "x"), (6, "y"), (5, "old2")]:
        pool.add(version, name, learner_version=6)
    assert pool.take(2, learner_version=6) == [(6, "x"), (6, "y")]
    assert pool.take(3, learner_version=6) is None  # only 2 left
    assert pool.take(2, learner_version=7) == [(5, "old"), (5, "old2")]
    assert pool.dropped == 0


def test_pool_with_zero_lag_is_synchronous_ppo():
    pool = FragmentPool(max_lag=0)
    assert not pool.add(4, "stale", learner_version=5)
    assert pool.add(5, "fresh", learner_version=5)
    assert pool.take(1, 5) == [(5, "fresh")]


@pytest.mark.parametrize(
    "requested,cpus,per,expected",
    [(3, 2, 1.0, 3), (0, 2, 1.0, 1), (0, 1, 1.0, 1), (0, 8, 1.0, 7), (0, 8, 0.5, 14), (0, 16, 0, 15)],
)
def test_resolve_num_workers(requested, cpus, per, expected):
    assert resolve_num_workers(requested, cpus, per) == expected


def test_update_sizes():
    cfg = load_config(None, ["rollout.num_envs=4", "rollout.fragment_len=32", "learner.total_env_steps=1000"])
    assert steps_per_update(cfg, 2) == 256
    assert updates_left(cfg, 2, 0) == math.ceil(1000 / 256) == 4
    # The budget is env steps: a run resumed at 600 steps with other sizes needs ceil(400 / 64).
    smaller = load_config(None, ["rollout.num_envs=2", "rollout.fragment_len=16", "learner.total_env_steps=1000"])
    assert updates_left(smaller, 2, 600) == math.ceil(400 / 64) == 7
    assert updates_left(cfg, 2, 1000) == 0 and updates_left(cfg, 2, 5000) == 0


def test_learner_stats_renamed_to_log_keys():
    rec = learner_stats_to_record(
        {"policy_loss": 0.1, "clipfrac": 0.2, "lag_max": 1, "env_steps": 128, "version": 3.0, "weird": 1.0, "perf/x": 2}
    )
    assert rec == {N.TRAIN_POLICY_LOSS: 0.1, N.TRAIN_CLIPFRAC: 0.2, N.SYSTEM_POLICY_LAG_MAX: 1, "train/weird": 1.0,
                   "perf/x": 2}


def test_learner_asks_for_a_gpu_only_when_there_is_one():
    auto = load_config(None, ["learner.device=auto"])
    assert learner_resources(auto, 0.0) == {"num_cpus": 1, "num_gpus": 0}
    assert learner_resources(auto, 4.0) == {"num_cpus": 1, "num_gpus": 1}
    assert learner_resources(load_config(None, ["learner.device=cpu"]), 4.0)["num_gpus"] == 0
    assert learner_resources(load_config(None, ["learner.device=cuda"]), 0.0)["num_gpus"] == 1


def test_worker_seeds_differ_per_worker_and_restart_point():
    seeds = {worker_seed(0, i, u) for i in range(4) for u in (0, 10)}
    assert len(seeds) == 8
    assert worker_seed(0, 1, 10) == worker_seed(0, 1, 10)


def test_eta():
    assert eta_seconds(0, 100, 5.0) is None
    assert eta_seconds(25, 100, 10.0) == pytest.approx(30.0)


def test_worker_without_weights_samples_nothing():
    # A (re)started worker that has not been sent weights reports version -1 and no fragment,
    # instead of stamping its untrained initial policy as a real version.
    from echelon.actors.rollout_worker import RolloutWorker

    cfg = load_config(None, ["rollout.env=gymnasium:CartPole-v1", "rollout.num_envs=2", "rollout.fragment_len=4"])
    worker = RolloutWorker(cfg, worker_index=3)
    header, fragment = worker.sample()
    assert fragment is None and header.version == -1 and header.env_steps == 0
    assert header.worker == 3 and header.incarnation == worker.incarnation
    assert RolloutWorker(cfg, worker_index=3).incarnation != worker.incarnation

    version, weights = 5, {k: v.clone() for k, v in worker.collector.policy.state_dict().items()}
    worker.set_weights(version, weights)
    header, fragment = worker.sample()
    assert header.version == fragment.version == 5 and header.env_steps == 8


def test_plain_progress_lines_end_with_an_eta():
    import io
    import time
    from types import SimpleNamespace

    from echelon.actors.progress import PlainProgress

    cfg = load_config(None, ["learner.total_env_steps=1000"])
    run = SimpleNamespace(cfg=cfg, target_updates=10, num_workers=1, fragments_per_update=1,
                          learner_device="cpu", counters=SimpleNamespace(env_steps=0))
    out = io.StringIO()
    progress = PlainProgress(every=5, stream=out)
    progress.start(run)
    progress.t0 = time.time() - 100.0  # 100 s for the first quarter of the budget
    progress.update({N.TRAIN_UPDATE: 4, N.TRAIN_ENV_STEPS: 250})  # not a multiple of 5: no line
    progress.update({N.TRAIN_UPDATE: 5, N.TRAIN_ENV_STEPS: 250})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "10 updates" in lines[0]
    assert lines[1].startswith("[echelon] upd 5 ") and lines[1].endswith("| eta 0:05:00")


def test_fragment_timings_average_the_batch_headers():
    from echelon.actors.rollout_worker import FragmentHeader
    from echelon.actors.worker_set import fragment_timings

    def header(sample, step, infer, sent, received):
        return FragmentHeader(worker=0, incarnation="x", node=None, version=1, env_steps=8, agent_steps=40,
                              episodes=0, sample_s=sample, env_step_s=step, inference_s=infer, sent_at=sent,
                              received_at=received)

    t = fragment_timings([header(2.0, 1.0, 0.5, 100.0, 100.5), header(4.0, 3.0, 0.5, 200.0, 199.0)])
    # A receipt stamped before the send (clocks of two nodes) counts as 0, not negative.
    assert t == {"worker_sample_s": 3.0, "worker_env_step_s": 2.0, "worker_inference_s": 0.5,
                 "fragment_send_s": 0.25}
    assert fragment_timings([]) == {}
    rec = learner_stats_to_record({**t, "optimizer_steps": 12.0})
    assert rec[N.PERF_FRAGMENT_SEND_S] == 0.25 and rec[N.TRAIN_OPTIMIZER_STEPS] == 12
    assert isinstance(rec[N.TRAIN_OPTIMIZER_STEPS], int)
