"""The in-process metrics-cost harness: a hand-made stream replayed at chosen strides."""

import numpy as np

from echelon.metrics import names as N
from echelon.metrics.bench_hub import replay, with_strides
from echelon.metrics.logread import read_log


def _stream(n):
    """``n`` steps of what the actor receives: one fragment each, a match ending on every other."""
    out = []
    for u in range(1, n + 1):
        ep = {"compact": True, "return": float(u), "length": 40 + u, "winner": "blue", "reason": "zone",
              "stats": {"damage_blue": 3.0}, "agents": [{"id": 0, "team": "blue", "class": "light", "alive": True,
                                                         "damage_dealt": 3.0, "damage_taken": 1.0, "kills": 0,
                                                         "assists": 0, "reward": 0.5}]}
        sample = {"forward": {"kind": "box", "n": 0, "values": np.linspace(-1, 1, 8, dtype=np.float32)}}
        record = {N.KIND: N.KIND_UPDATE, N.TRAIN_UPDATE: u, N.TRAIN_POLICY_VERSION: u, N.TRAIN_ENV_STEPS: 128 * u,
                  N.TRAIN_LOSS: 0.1 * u}
        out.append({"fragments": [([ep] if u % 2 else [], sample)], "record": record,
                    "advantages": np.arange(16, dtype=np.float32)})
    return out


def test_replay_cycles_the_stream_and_sends_samples_on_their_strides(tmp_path):
    res = replay(_stream(3), "ray_configs/smoke.yaml", with_strides(["metrics.alarms=false"], [2, 3, 100, 100]),
                 updates=6, warmup=1, wandb=False, run_dir=str(tmp_path))
    assert res["timed_updates"] == 6 and res["warmup_updates"] == 1 and res["cpu_ms_per_update"] >= 0.0
    assert res["strides"] == {"coordination_every": 2, "histogram_every": 3, "spatial_every": 100, "table_every": 100}
    recs = [r for r in read_log(tmp_path / "run" / "train_log.jsonl") if r.get(N.KIND) == N.KIND_UPDATE]
    # Update numbers and env steps continue across the cycles of the 3-step stream.
    assert [r[N.TRAIN_UPDATE] for r in recs] == list(range(1, 8))
    assert [r[N.TRAIN_ENV_STEPS] for r in recs] == [128 * u for u in range(1, 8)]
    assert [r[N.TRAIN_LOSS] for r in recs] == [0.1, 0.2, 0.30000000000000004, 0.1, 0.2, 0.30000000000000004, 0.1]
    # Histograms (advantages and the action sample) on updates 3 and 6 only.
    assert [r[N.TRAIN_UPDATE] for r in recs if N.DIST_ADVANTAGES in r] == [3, 6]
    assert [r[N.TRAIN_UPDATE] for r in recs if N.action_hist_key("forward") in r] == [3, 6]
    # Matches end on odd steps of the stream: updates 1, 3, 4, 6, 7.
    assert [r[N.TRAIN_EPISODES] for r in recs] == [1, 1, 2, 3, 3, 4, 5]


def test_replay_at_minimal_sends_no_samples(tmp_path):
    replay(_stream(2), "ray_configs/smoke.yaml", ["metrics.alarms=false"], updates=4, warmup=0, wandb=False,
           level="minimal", run_dir=str(tmp_path))
    recs = [r for r in read_log(tmp_path / "run" / "train_log.jsonl") if r.get(N.KIND) == N.KIND_UPDATE]
    assert len(recs) == 4 and not any(k.startswith(("distributions/", "combat/")) for r in recs for k in r)
