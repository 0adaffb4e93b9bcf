"""Metric names: the one place they are spelled.

Grouped by prefix (CleanRL / RLlib style): ``train/`` (progress counters and losses),
``policy/`` (what the policy does: entropy, KL, clipping), ``perf/`` (throughput and pipeline
health), ``episode/`` (finished-episode outcomes over a rolling window). Every record written to
``train_log.jsonl`` uses these keys, whichever loop (serial or Ray) wrote it; a test checks that
no two constants share a value and that each one starts with its group's prefix.
"""

from __future__ import annotations

# Record kinds (the "type" key of every JSONL record; the serial loop uses the same key).
KIND = "type"
KIND_META = "meta"  # once per run start: config, seeds, versions, git SHA
KIND_UPDATE = "update"  # once per learner update
KIND_RESUME = "resume"  # once per resume: where the counters restart from
KIND_EPISODE = "episode"  # optional per-episode records (off by default: volume)
KIND_SUMMARY = "summary"  # once at the end of a run
KIND_ERROR = "error"  # a skipped update (non-finite loss or gradient) or a worker exception
KIND_WARNING = "warning"  # a collapse alarm (echelon/metrics/alarms.py), once per episode of trouble
TIME = "time"  # wall-clock seconds since the epoch (float)
RUN_ID = "run_id"  # every record: the run's id, kept across resumes (str)
TRACE_ID = "trace_id"  # update and error records: "<run_id>:<update>"; the checkpoint of that update stores it
SCHEMA_VERSION = "schema_version"  # meta record: version of echelon.metrics.schema (int)

# train/: progress counters and losses.
TRAIN_UPDATE = "train/update"  # updates done (int)
TRAIN_ENV_STEPS = "train/env_steps"  # env steps consumed by the learner (int; one step of one env copy)
TRAIN_AGENT_STEPS = "train/agent_steps"  # agent steps consumed (int; rows x steps)
TRAIN_POLICY_VERSION = "train/policy_version"  # learner version after this update (int)
TRAIN_LOSS = "train/loss"
TRAIN_POLICY_LOSS = "train/policy_loss"
TRAIN_VALUE_LOSS = "train/value_loss"
TRAIN_ENTROPY_LOSS = "train/entropy_loss"
TRAIN_LR = "train/lr"  # mean policy learning rate of the update's optimiser steps
TRAIN_CRITIC_LR = "train/critic_lr"  # the same for the value head (ppo.critic_lr)
TRAIN_AUX_LOSS = "train/aux_loss"  # next-observation prediction MSE (model.aux_next_obs)
TRAIN_GRAD_NORM = "train/grad_norm"
TRAIN_CURRICULUM = "train/curriculum_fire_prob"  # heuristic weapon_fire_prob in force (0..1)
TRAIN_EPOCHS = "train/epochs"  # epochs run (fewer than ppo.epochs after a KL early stop)
TRAIN_MINIBATCH_STEPS = "train/minibatch_steps"
TRAIN_KL_EARLY_STOP = "train/kl_early_stop"  # 1.0 when target_kl stopped the update
TRAIN_VALUE_NORM_MEAN = "train/value_norm_mean"  # return normaliser statistics
TRAIN_VALUE_NORM_STD = "train/value_norm_std"
TRAIN_VALID_FRAC = "train/valid_frac"  # share of rows that reach the loss

# policy/: behaviour of the policy during the update.
POLICY_ENTROPY = "policy/entropy"
POLICY_APPROX_KL = "policy/approx_kl"
POLICY_CLIP_FRAC = "policy/clip_frac"
POLICY_EXPLAINED_VAR = "policy/explained_variance"
POLICY_LAG_MAX = "policy/lag_max"  # max (learner version - fragment version) consumed by this update
POLICY_LAG_MEAN = "policy/lag_mean"

# perf/: throughput and pipeline health.
PERF_SPS = "perf/env_steps_per_s"  # env steps per wall-clock second, since (re)start
PERF_AGENT_SPS = "perf/agent_steps_per_s"
PERF_UPDATE_S = "perf/update_s"  # seconds the learner spent in this update
PERF_LEARNER_SAMPLES_PER_S = "perf/learner_samples_per_s"  # agent steps / update seconds
PERF_WAIT_S = "perf/driver_wait_s"  # seconds the driver waited for fragments for this update
PERF_DROPPED_FRAGMENTS = "perf/dropped_fragments"  # cumulative, staler than max_policy_lag
PERF_WORKER_RESTARTS = "perf/worker_restarts"  # cumulative worker losses seen by the driver
PERF_LOST_FRAGMENTS = "perf/lost_fragments"  # cumulative, delivered to the driver and then lost (0 by design)
PERF_NUM_WORKERS = "perf/num_workers"
PERF_ELAPSED_S = "perf/elapsed_s"  # wall-clock seconds since this process started training

# episode/: finished episodes over the rolling window (metrics.window episodes).
EPISODE_COUNT = "episode/count"  # cumulative finished episodes
EPISODE_RETURN_MEAN = "episode/return_mean"
EPISODE_RETURN_P10 = "episode/return_p10"
EPISODE_RETURN_P90 = "episode/return_p90"
EPISODE_LENGTH_MEAN = "episode/length_mean"  # steps
EPISODE_WIN_RATE = "episode/win_rate"  # fraction of windowed episodes won by blue (Echelon only)
EPISODE_DRAW_RATE = "episode/draw_rate"
EPISODE_LOSS_RATE = "episode/loss_rate"
# Share of windowed episodes that ended for each reason (Echelon only; ENV_SPEC outcome reasons).
EPISODE_END_ZONE_RATE = "episode/end_zone_rate"
EPISODE_END_ELIMINATION_RATE = "episode/end_elimination_rate"
EPISODE_END_TIME_RATE = "episode/end_time_rate"

# Resume record fields.
RESUME_FROM = "resume/checkpoint"  # path of the checkpoint resumed from
RESUME_SKIPPED = "resume/skipped"  # unusable newer checkpoints skipped (list of paths)
# [first, last] update numbers logged after the resumed checkpoint and before this resume; those
# update records are abandoned (readers drop them). None when nothing was abandoned.
RESUME_ABANDONED = "resume/abandoned"
RESUME_CHANGED = "resume/changed"  # {dotted config key: [old, new]} changed on resume (safe keys only)

# Error record fields.
ERROR_KIND = "error/kind"  # "nonfinite_update" | "worker_exception" | ...
ERROR_MESSAGE = "error/message"
ERROR_RECEIPT = "error/receipt"  # receipt directory (RUN_DIR/receipts/<trace_id>/), or None

# Warning record fields (collapse alarms).
WARNING_ALARM = "warning/alarm"  # "kl_high" | "grad_norm_growth" | "entropy_collapse" | ...
WARNING_MESSAGE = "warning/message"  # what was seen and what to try
WARNING_VALUE = "warning/value"  # the watched value at the warning (its window statistic)
WARNING_THRESHOLD = "warning/threshold"  # the threshold it crossed

GROUPS = ("train/", "policy/", "perf/", "episode/", "resume/", "error/", "warning/")

# Keys every update record carries, whichever loop (serial or Ray) wrote it; a test checks both
# modes' logs against this list. Optional on top: episode/* window stats other than the count
# (absent until an episode finishes; rates only for envs that report outcomes),
# train/curriculum_fire_prob (Ray runs with ray.curriculum_fire_prob_start set) and
# policy/explained_variance (absent when undefined: a constant return target has no variance).
REQUIRED_UPDATE_KEYS = (
    KIND,
    TIME,
    RUN_ID,
    TRACE_ID,
    TRAIN_UPDATE,
    TRAIN_ENV_STEPS,
    TRAIN_AGENT_STEPS,
    TRAIN_POLICY_VERSION,
    TRAIN_POLICY_LOSS,
    TRAIN_VALUE_LOSS,
    TRAIN_LR,
    TRAIN_GRAD_NORM,
    TRAIN_EPOCHS,
    TRAIN_MINIBATCH_STEPS,
    TRAIN_KL_EARLY_STOP,
    TRAIN_VALUE_NORM_MEAN,
    TRAIN_VALUE_NORM_STD,
    TRAIN_VALID_FRAC,
    POLICY_ENTROPY,
    POLICY_APPROX_KL,
    POLICY_CLIP_FRAC,
    POLICY_LAG_MAX,
    POLICY_LAG_MEAN,
    PERF_SPS,
    PERF_AGENT_SPS,
    PERF_UPDATE_S,
    PERF_LEARNER_SAMPLES_PER_S,
    PERF_WAIT_S,
    PERF_DROPPED_FRAGMENTS,
    PERF_WORKER_RESTARTS,
    PERF_LOST_FRAGMENTS,
    PERF_NUM_WORKERS,
    PERF_ELAPSED_S,
    EPISODE_COUNT,
)


def all_names() -> dict[str, str]:
    """Constant name -> metric key, for every prefixed metric defined above."""
    return {
        k: v for k, v in globals().items() if k.isupper() and isinstance(v, str) and v.startswith(GROUPS)
    }
