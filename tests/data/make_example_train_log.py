"""Writes ``example_train_log.jsonl`` beside this file: a small log that follows the contract.

The story: a Ray run of ``ray_configs/smoke.yaml`` logs updates 1-6 (a worker exception is
recorded at update 3) and checkpoints at update 4; the process dies after update 6; a resumed
process restarts from ``ckpt_00000004.pt``, abandons updates 5-6, redoes them, logs 7-8 and
stops with a summary. Run ``python tests/data/make_example_train_log.py`` after a schema change
and commit the result (``tests/unit/metrics/test_validate.py`` validates it).
"""

from __future__ import annotations

import math
from pathlib import Path

from echelon.config import config_to_dict, load_config
from echelon.metrics import names as N
from echelon.metrics import schema as S

RUN_ID = "3f2a9c1e5b7d"
ROOT = Path(__file__).resolve().parents[2]
OBS_SHAPE_AND_ACTIONS = {"obs_shape": [372], "action_space": "Dict('comm': Box(-1.0, 1.0, (8,), float32), ...)"}
VERSIONS = {"python": "3.11.7", "torch": "2.13.0+cpu", "numpy": "2.4.6", "gymnasium": "1.2.2",
            "pettingzoo": "1.27.0", "ray": "2.60.0", "wandb": "0.31.0"}


def meta(t: float, command: list[str]) -> dict:
    config = config_to_dict(load_config(ROOT / "ray_configs" / "smoke.yaml"))
    return {
        N.KIND: N.KIND_META, N.TIME: t, N.RUN_ID: RUN_ID, N.SCHEMA_VERSION: S.SCHEMA_VERSION,
        "mode": "ray", "config": config, "seed": 0, "command": command, "device": "cpu",
        "config_hash": S.config_hash(config), "env_signature_hash": S.stable_hash(OBS_SHAPE_AND_ACTIONS),
        "git_sha": "9f8654811c5cb0555b5def5722d527fd52d06d02", "versions": VERSIONS,
    }


def update(t: float, u: int, restarts: int, episodes: int, elapsed: float, seg: int) -> dict:
    # Smooth, plausible curves: return climbs, entropy falls slowly, value loss shrinks.
    x = u / 8.0
    update_s = 0.1 + 0.005 * (u % 3)
    rec = {
        N.KIND: N.KIND_UPDATE, N.TIME: t, N.RUN_ID: RUN_ID, N.TRACE_ID: S.make_trace_id(RUN_ID, u),
        N.TRAIN_UPDATE: u, N.TRAIN_ENV_STEPS: 128 * u, N.TRAIN_AGENT_STEPS: 640 * u, N.TRAIN_POLICY_VERSION: u,
        S.TRAIN_OPTIMIZER_STEPS: 4 * u,
        N.TRAIN_LOSS: round(0.6 / (1 + u) - 0.15, 6), N.TRAIN_POLICY_LOSS: round(-0.002 * math.cos(u), 6),
        N.TRAIN_VALUE_LOSS: round(1.4 / (1 + 0.5 * u), 6), N.TRAIN_ENTROPY_LOSS: round(-15.94 + 0.05 * u, 4),
        N.TRAIN_LR: 0.0003, N.TRAIN_GRAD_NORM: round(0.68 + 0.05 * math.sin(u), 4), N.TRAIN_EPOCHS: 2.0,
        N.TRAIN_MINIBATCH_STEPS: 4.0, N.TRAIN_KL_EARLY_STOP: 0.0,
        N.TRAIN_VALUE_NORM_MEAN: round(-0.9 * (1 - math.exp(-u)), 4), N.TRAIN_VALUE_NORM_STD: round(1.2 + 0.05 * u, 4),
        N.TRAIN_VALID_FRAC: round(1.0 - 0.01 * u, 4),
        N.TRAIN_ENTROPY: round(15.94 - 0.05 * u, 4), N.TRAIN_APPROX_KL: round(8e-5 * (1 + 0.3 * math.sin(u)), 7),
        N.TRAIN_CLIPFRAC: round(0.002 * u, 4), N.POLICY_EXPLAINED_VAR: round(0.1 * x, 4),
        N.SYSTEM_POLICY_LAG_MAX: 0, N.SYSTEM_POLICY_LAG_MEAN: 0.0,
        N.TRAIN_SPS: round(380.0 - 3 * u + 20 * seg, 2), N.TRAIN_AGENT_SPS: round(5 * (380.0 - 3 * u + 20 * seg), 2),
        N.PERF_UPDATE_S: round(update_s, 4), N.PERF_LEARNER_SAMPLES_PER_S: round(640 / update_s, 1),
        N.PERF_WAIT_S: round(0.23 + 0.01 * (u % 2), 4), N.SYSTEM_DROPPED_FRAGMENTS: 0,
        N.SYSTEM_WORKER_RESTARTS: restarts, N.SYSTEM_LOST_FRAGMENTS: 0, N.SYSTEM_NUM_WORKERS: 1,
        N.PERF_ELAPSED_S: round(elapsed, 3), N.TRAIN_EPISODES: episodes,
    }
    if episodes:
        mean = round(-4.6 + 1.2 * x, 4)
        rec.update({
            N.RETURNS_MEAN: mean, N.RETURNS_P10: round(mean - 0.3 - 0.1 * x, 4),
            N.RETURNS_P90: round(mean + 0.3 + 0.2 * x, 4), N.RETURNS_LENGTH_MEAN: round(46.0 + 1.5 * u, 2),
            N.RETURNS_WIN_RATE: round(0.05 * (u - 1), 4), N.RETURNS_DRAW_RATE: round(0.02 * u, 4),
            N.RETURNS_LOSS_RATE: round(1.0 - 0.05 * (u - 1) - 0.02 * u, 4),
            N.RETURNS_END_ZONE_RATE: round(0.9 - 0.02 * u, 4), N.RETURNS_END_ELIMINATION_RATE: round(0.01 * u, 4),
            N.RETURNS_END_TIME_RATE: round(0.1 + 0.01 * u, 4),
        })
    return rec


def counters(u: int, episodes: int) -> dict:
    return {N.TRAIN_UPDATE: u, N.TRAIN_ENV_STEPS: 128 * u, N.TRAIN_AGENT_STEPS: 640 * u, N.TRAIN_EPISODES: episodes}


def records() -> list[dict]:
    t0 = 1796197200.0
    cmd = ["scripts/train_distributed.py", "--config", "ray_configs/smoke.yaml", "--run-dir", "runs/example"]
    episodes = [0, 0, 3, 7, 8, 11, 14, 17, 20]  # cumulative after each update
    out = [meta(t0, cmd)]
    for u in range(1, 7):
        restarts = 1 if u >= 3 else 0
        if u == 3:
            out.append({
                N.KIND: N.KIND_ERROR, N.TIME: t0 + 0.35 * u - 0.1, N.RUN_ID: RUN_ID,
                N.TRACE_ID: S.make_trace_id(RUN_ID, 3),
                N.ERROR_KIND: "worker_exception", N.ERROR_MESSAGE: "RolloutWorker 0 died (ActorDiedError); restarted",
                N.ERROR_RECEIPT: "runs/example/receipts/3f2a9c1e5b7d:3", N.TRAIN_UPDATE: 3,
            })
        out.append(update(t0 + 0.35 * u, u, restarts, episodes[u], 0.35 * u, seg=0))
    t1 = t0 + 60.0
    out.append(meta(t1, ["scripts/train_distributed.py", "--resume", "runs/example"]))
    out.append({
        N.KIND: N.KIND_RESUME, N.TIME: t1 + 0.01, N.RUN_ID: RUN_ID,
        N.RESUME_FROM: "runs/example/checkpoints/ckpt_00000004.pt", N.RESUME_SKIPPED: [],
        N.RESUME_ABANDONED: [5, 6], **counters(4, episodes[4]), N.SYSTEM_WORKER_RESTARTS: 1,
    })
    for u in range(5, 9):
        out.append(update(t1 + 0.35 * (u - 4), u, 1, episodes[u], 0.35 * (u - 4), seg=1))
    out.append({
        N.KIND: N.KIND_SUMMARY, N.TIME: t1 + 1.5, N.RUN_ID: RUN_ID, "stopped_by": "done",
        "checkpoint": "runs/example/checkpoints/ckpt_00000008.pt", **counters(8, episodes[8]), N.PERF_ELAPSED_S: 1.5,
    })
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("example_train_log.jsonl")
    path.write_text("".join(S.dumps(r) + "\n" for r in records()), encoding="utf-8")
    print(f"wrote {path}")
