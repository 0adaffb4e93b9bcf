"""Metric names: the one place they are spelled.

Grouped by prefix (CleanRL / RLlib style), one name per quantity: ``train/`` (progress
counters, losses, throughput), ``policy/`` (what the policy does on the update's batch),
``returns/`` (finished episodes over a rolling window), ``rewards/`` (reward components),
``combat/``, ``zone/``, the strided ``coordination/``, ``perception/``, ``distributions/``
(histograms), ``spatial/`` (heat maps) and ``episodes/`` (tables), ``perf/`` (where the time
goes), ``system/`` (pipeline health), ``curriculum/`` (the match curriculum in force), ``eval/``
(the periodic evaluation against the heuristic) and ``league/`` (arena training).
docs/observability.md says what each one measures and in which unit. Every record written to
``train_log.jsonl`` uses these keys, whichever loop (serial or Ray) wrote it; a test checks that no
two constants share a value and that each one starts with its group's prefix. Families keyed per
action dim or reward component are built by
the ``*_key`` helpers at the bottom from their prefix constants.
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

# train/: progress counters, losses and the optimiser's view of the update.
TRAIN_UPDATE = "train/update"  # updates done (int)
TRAIN_ENV_STEPS = "train/env_steps"  # env steps consumed by the learner (int; one step of one env copy)
TRAIN_AGENT_STEPS = "train/agent_steps"  # agent steps consumed (int; rows x steps)
TRAIN_EPISODES = "train/episodes"  # finished episodes received by the metrics actor, cumulative (int)
TRAIN_POLICY_VERSION = "train/policy_version"  # learner version after this update (int)
TRAIN_OPTIMIZER_STEPS = "train/optimizer_steps"  # Adam steps since the run started, cumulative (int)
TRAIN_LOSS = "train/loss"
TRAIN_POLICY_LOSS = "train/policy_loss"
TRAIN_VALUE_LOSS = "train/value_loss"
TRAIN_ENTROPY_LOSS = "train/entropy_loss"
TRAIN_ENTROPY = "train/entropy"  # nats, mean over valid rows and minibatches
TRAIN_APPROX_KL = "train/approx_kl"  # E[(r - 1) - log r], mean over minibatches
TRAIN_CLIPFRAC = "train/clipfrac"  # share of valid rows with |r - 1| > clip_coef
TRAIN_LR = "train/lr"  # mean policy learning rate of the update's optimiser steps
TRAIN_CRITIC_LR = "train/critic_lr"  # the same for the value head (ppo.critic_lr)
TRAIN_AUX_LOSS = "train/aux_loss"  # next-observation prediction MSE (model.aux_next_obs)
TRAIN_BC_LOSS = "train/bc_loss"  # imitation loss of the teacher's actions (ppo.bc_coef)
TRAIN_BC_COEF = "train/bc_coef"  # the imitation weight of the update (decays over ppo.bc_env_steps)
TRAIN_GRAD_NORM = "train/grad_norm"  # L2 norm before clipping, mean over minibatches
TRAIN_SPS = "train/env_steps_per_s"  # env steps per wall-clock second, since (re)start
TRAIN_AGENT_SPS = "train/agent_steps_per_s"
TRAIN_EPOCHS = "train/epochs"  # epochs run (fewer than ppo.epochs after a KL early stop)
TRAIN_MINIBATCH_STEPS = "train/minibatch_steps"
TRAIN_KL_EARLY_STOP = "train/kl_early_stop"  # 1.0 when target_kl stopped the update
TRAIN_VALUE_NORM_MEAN = "train/value_norm_mean"  # return normaliser statistics
TRAIN_VALUE_NORM_STD = "train/value_norm_std"
TRAIN_VALID_FRAC = "train/valid_frac"  # share of rows that reach the loss

# policy/: what the policy does, measured on the update's batch (valid rows only).
POLICY_EXPLAINED_VAR = "policy/explained_variance"
POLICY_ADV_MEAN = "policy/advantage_mean"  # GAE advantages before normalisation, return units
POLICY_ADV_STD = "policy/advantage_std"
POLICY_VALUE_MEAN = "policy/value_mean"  # behaviour critic's predictions, return units
POLICY_VALUE_STD = "policy/value_std"
POLICY_ACTION_MEAN_NORM = "policy/action_mean_norm"  # L2 norm of the batch-mean continuous action (unit scale)
POLICY_ACTION_STD = "policy/action_std"  # batch std of each continuous dim, averaged over dims
POLICY_SATURATION = "policy/saturation_rate"  # share of continuous entries with |a| > 0.95
POLICY_STD = "policy/std"  # the policy's current Gaussian std (pre-squash), mean over continuous dims
# Per named discrete part: share of valid rows with the bit set (Bernoulli) or a non-zero choice
# (Discrete); keys policy/trigger_rate/<name>, built by trigger_rate_key().
POLICY_TRIGGER_RATE = "policy/trigger_rate/"

# returns/: finished episodes over the rolling window (metrics.window episodes).
RETURNS_MEAN = "returns/mean"
RETURNS_MEDIAN = "returns/median"
RETURNS_P10 = "returns/p10"
RETURNS_P90 = "returns/p90"
RETURNS_STD = "returns/std"
RETURNS_MAX = "returns/max"
RETURNS_LENGTH_MEAN = "returns/length_mean"  # steps
RETURNS_WINDOW = "returns/window_episodes"  # episodes in the window (<= metrics.window)
RETURNS_MEAN_BLUE = "returns/mean_blue"  # per team, only when both teams learn (self-play)
RETURNS_MEAN_RED = "returns/mean_red"
RETURNS_WIN_RATE = "returns/win_rate"  # fraction of windowed episodes won by blue (Echelon only)
RETURNS_DRAW_RATE = "returns/draw_rate"
RETURNS_LOSS_RATE = "returns/loss_rate"
# Share of windowed episodes that ended for each reason (Echelon only; ENV_SPEC outcome reasons).
RETURNS_END_ZONE_RATE = "returns/end_zone_rate"
RETURNS_END_ELIMINATION_RATE = "returns/end_elimination_rate"
RETURNS_END_TIME_RATE = "returns/end_time_rate"

# rewards/: each reward component summed per learning agent over its match, averaged over the
# agents and the window; keys rewards/<component> (reward_key()), plus their total.
REWARDS_PREFIX = "rewards/"
REWARDS_TOTAL = "rewards/total"

# combat/ (policy team = blue), over the window.
COMBAT_DAMAGE_DEALT = "combat/damage_dealt"  # HP points dealt per policy mech per match
COMBAT_DAMAGE_TAKEN = "combat/damage_taken"  # HP points taken per policy mech per match
COMBAT_DAMAGE_RATIO = "combat/damage_ratio"  # dealt / (dealt + taken), team totals; 0.5 = even
COMBAT_KILLS = "combat/kills"  # enemy mechs killed per match
COMBAT_DEATHS = "combat/deaths"  # own mechs lost per match
COMBAT_KILL_PARTICIPATION = "combat/kill_participation"  # (kills + assists) / team kills, per mech
COMBAT_SURVIVAL_RATE = "combat/survival_rate"  # share of policy mechs alive at the end

# zone/, as fractions of the match, over the window.
ZONE_CONTROL_MARGIN = "zone/control_margin"  # (blue - red zone point-ticks) / match steps, in [-1, 1]
ZONE_CONTESTED_RATIO = "zone/contested_ratio"  # contested steps / match steps
ZONE_FIRST_ENTRY = "zone/first_entry_frac"  # first step anyone entered / match steps (1 = never)

# coordination/ (strided: metrics.coordination_every), policy team, over the window.
COORD_PACK_DISPERSION = "coordination/pack_dispersion"  # m, mean distance of pack mates to their centroid
COORD_CENTROID_ZONE_DIST = "coordination/centroid_zone_dist"  # m, pack centroid to zone centre
COORD_FOCUS_FIRE = "coordination/focus_fire"  # damage on the most-damaged enemy / damage dealt

# perception/ (strided with coordination/), policy team, over the window.
PERCEPTION_VISIBLE_CONTACTS = "perception/visible_contacts"  # contacts per living mech per step
PERCEPTION_HOSTILE_FILTER = "perception/hostile_filter_rate"  # share of living mech-steps with hostile_only on
PERCEPTION_ECM = "perception/scout_ecm_rate"  # share of living scout-steps with ECM on
PERCEPTION_ECCM = "perception/scout_eccm_rate"  # share of living scout-steps with ECCM on

# distributions/ (strided: metrics.histogram_every): histograms.
DIST_RETURNS = "distributions/returns"  # window episode returns
DIST_ADVANTAGES = "distributions/advantages"  # a subsample of the update's GAE advantages
DIST_ACTION = "distributions/action/"  # per named action dim: distributions/action/<name> (action_hist_key())

# spatial/ (strided: metrics.spatial_every): heat maps over the map (images).
SPATIAL_DEATHS = "spatial/deaths"  # deaths per cell, both teams
SPATIAL_DAMAGE = "spatial/damage"  # HP damage landed per cell
SPATIAL_MOVEMENT = "spatial/movement"  # living policy-mech steps per cell

# episodes/ (strided: metrics.table_every): tables.
EPISODES_AGENT_BREAKDOWN = "episodes/agent_breakdown"  # one recent match, a row per mech

# perf/: where the time goes.
PERF_UPDATE_S = "perf/update_s"  # seconds the learner spent in this update (learning time)
PERF_LEARNER_SAMPLES_PER_S = "perf/learner_samples_per_s"  # agent steps / update seconds
PERF_LEARNER_PREPARE_S = "perf/learner_prepare_s"  # GAE, normalisers, segments (per update)
PERF_LEARNER_FORWARD_S = "perf/learner_forward_s"  # loss forward passes (per update)
PERF_LEARNER_BACKWARD_S = "perf/learner_backward_s"  # backward, clipping, optimiser steps (per update)
PERF_WAIT_S = "perf/driver_wait_s"  # seconds the driver waited for fragments for this update
PERF_ELAPSED_S = "perf/elapsed_s"  # wall-clock seconds since this process started training
PERF_WORKER_SAMPLE_S = "perf/worker_sample_s"  # collection: seconds per fragment in the collector
PERF_WORKER_ENV_STEP_S = "perf/worker_env_step_s"  # seconds per fragment in env.step
PERF_WORKER_INFERENCE_S = "perf/worker_inference_s"  # seconds per fragment in policy inference
PERF_FRAGMENT_SEND_S = "perf/fragment_send_s"  # seconds from the worker's return to the driver's receipt

# system/: pipeline health.
SYSTEM_DROPPED_FRAGMENTS = "system/dropped_fragments"  # cumulative, staler than max_policy_lag
SYSTEM_WORKER_RESTARTS = "system/worker_restarts"  # cumulative worker losses seen by the driver
SYSTEM_LOST_FRAGMENTS = "system/lost_fragments"  # cumulative, delivered to the driver and then lost (0 by design)
SYSTEM_NUM_WORKERS = "system/num_workers"
SYSTEM_POLICY_LAG_MAX = "system/policy_lag_max"  # max (learner version - fragment version) consumed by this update
SYSTEM_POLICY_LAG_MEAN = "system/policy_lag_mean"
SYSTEM_EPISODES_SENT = "system/episodes_sent"  # summary: episodes the live workers sent (sum of their counts)
SYSTEM_EPISODES_RECEIVED = "system/episodes_received"  # summary: episodes the metrics actor received
SYSTEM_SINK_ERRORS = "system/sink_errors"  # summary: failed W&B calls (reported once, never fatal)

# league/: arena training (league.path set; docs/league.md). Rating of the learner's newest
# snapshot in the league (from its first snapshot on); mix and win rates over the last
# metrics.window finished matches, per opponent kind (win rate: share won by blue, the learner).
LEAGUE_RATING = "league/rating"  # Glicko-2 rating points
LEAGUE_RD = "league/rd"  # rating deviation, rating points
LEAGUE_CONSERVATIVE = "league/conservative_rating"  # rating - 2 RD
LEAGUE_POOL_SIZE = "league/pool_size"  # non-heuristic opponents the workers draw from (int; self counts 1)
LEAGUE_WINDOW_MATCHES = "league/window_matches"  # matches in the window (int)
LEAGUE_MIX_HEURISTIC = "league/mix/heuristic"  # share of the window's matches against the heuristic
LEAGUE_MIX_CANDIDATE = "league/mix/candidate"
LEAGUE_MIX_COMMANDER = "league/mix/commander"
LEAGUE_MIX_SELF = "league/mix/self"
LEAGUE_WIN_RATE_HEURISTIC = "league/win_rate/heuristic"
LEAGUE_WIN_RATE_CANDIDATE = "league/win_rate/candidate"
LEAGUE_WIN_RATE_COMMANDER = "league/win_rate/commander"
LEAGUE_WIN_RATE_SELF = "league/win_rate/self"

# curriculum/ (Ray driver, when the run has a curriculum): what the workers' matches use after
# this update (echelon/curriculum.py).
CURRICULUM_STAGE = "curriculum/stage"  # index of the stage in force (int, 0-based)
CURRICULUM_WEAPON_FIRE_PROB = "curriculum/weapon_fire_prob"  # heuristic's weapon fire probability (0..1)
CURRICULUM_SIZE_MIN = "curriculum/size_min"  # map side range (m) matches are drawn from, when the stage sets one
CURRICULUM_SIZE_MAX = "curriculum/size_max"
CURRICULUM_PACKS_MIN = "curriculum/packs_min"  # packs per team range, when the stage sets one
CURRICULUM_PACKS_MAX = "curriculum/packs_max"
CURRICULUM_WIN_RATE = "curriculum/win_rate"  # blue's win rate over the stage's window (absent before a match)
CURRICULUM_WINDOW_MATCHES = "curriculum/window_matches"  # matches of this stage in that window (int)
CURRICULUM_HELD = "curriculum/held_updates"  # consecutive updates the win rate met the threshold (int)

# eval/ (Ray driver, eval.every > 0): the last evaluation that finished, in the first update record
# after it did: seeded matches against the heuristic at eval.fire_prob, sides alternated
# (echelon/eval/periodic.py). Outcomes from the policy's side.
EVAL_WIN_RATE = "eval/win_rate"
EVAL_DRAW_RATE = "eval/draw_rate"
EVAL_LOSS_RATE = "eval/loss_rate"
EVAL_CI_LOW = "eval/ci_low"  # Wilson 95% interval of the win rate
EVAL_CI_HIGH = "eval/ci_high"
EVAL_RETURN_MEAN = "eval/return_mean"  # mean episode return of the policy's agents, return units
EVAL_LENGTH_MEAN = "eval/length_mean"  # steps
EVAL_KILLS = "eval/kills"  # enemy mechs killed per match
EVAL_DEATHS = "eval/deaths"  # own mechs lost per match
EVAL_MATCHES = "eval/matches"  # matches played (int)
EVAL_END_ZONE_RATE = "eval/end_zone_rate"  # share of the matches that ended for each reason
EVAL_END_ELIMINATION_RATE = "eval/end_elimination_rate"
EVAL_END_TIME_RATE = "eval/end_time_rate"
EVAL_UPDATE = "eval/update"  # the update whose weights were evaluated (int)
EVAL_POLICY_VERSION = "eval/policy_version"  # their version (int)
EVAL_WALL_S = "eval/wall_s"  # seconds the evaluation took in its task (GIF included)
EVAL_MATCH_GIF = "eval/match"  # video: match 0 of the evaluation (every eval.gif_every evaluations)

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

GROUPS = (
    "train/", "policy/", "returns/", "rewards/", "combat/", "zone/", "coordination/", "perception/",
    "distributions/", "spatial/", "episodes/", "perf/", "system/", "curriculum/", "eval/", "league/", "resume/",
    "error/", "warning/",
)
# Families logged on a stride (metrics.*_every updates) rather than every update.
STRIDED_GROUPS = ("coordination/", "perception/", "distributions/", "spatial/", "episodes/")

# Keys every update record carries, whichever loop (serial or Ray) wrote it; a test checks both
# modes' logs against this list. Optional on top: returns/* and the per-episode families (absent
# until an episode finishes; rates only for envs that report outcomes), the strided families,
# curriculum/ (Ray runs with a curriculum), eval/ (when an evaluation finished) and
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
    TRAIN_ENTROPY,
    TRAIN_APPROX_KL,
    TRAIN_CLIPFRAC,
    TRAIN_SPS,
    TRAIN_AGENT_SPS,
    TRAIN_EPISODES,
    SYSTEM_POLICY_LAG_MAX,
    SYSTEM_POLICY_LAG_MEAN,
    SYSTEM_DROPPED_FRAGMENTS,
    SYSTEM_WORKER_RESTARTS,
    SYSTEM_LOST_FRAGMENTS,
    SYSTEM_NUM_WORKERS,
    PERF_UPDATE_S,
    PERF_LEARNER_SAMPLES_PER_S,
    PERF_WAIT_S,
    PERF_ELAPSED_S,
)

# Log schema 1 spelled these quantities differently; readers (echelon.metrics.logread) rename
# them on the way in, so a log started before schema 2 (and resumed after it) reads as one.
# One name per quantity: nothing writes the old spellings any more.
RENAMED_IN_SCHEMA_2 = {
    "episode/count": TRAIN_EPISODES,
    "policy/entropy": TRAIN_ENTROPY,
    "policy/approx_kl": TRAIN_APPROX_KL,
    "policy/clip_frac": TRAIN_CLIPFRAC,
    "perf/env_steps_per_s": TRAIN_SPS,
    "perf/agent_steps_per_s": TRAIN_AGENT_SPS,
    "perf/dropped_fragments": SYSTEM_DROPPED_FRAGMENTS,
    "perf/worker_restarts": SYSTEM_WORKER_RESTARTS,
    "perf/lost_fragments": SYSTEM_LOST_FRAGMENTS,
    "perf/num_workers": SYSTEM_NUM_WORKERS,
    "policy/lag_max": SYSTEM_POLICY_LAG_MAX,
    "policy/lag_mean": SYSTEM_POLICY_LAG_MEAN,
    "episode/return_mean": RETURNS_MEAN,
    "episode/return_p10": RETURNS_P10,
    "episode/return_p90": RETURNS_P90,
    "episode/length_mean": RETURNS_LENGTH_MEAN,
    "episode/win_rate": RETURNS_WIN_RATE,
    "episode/draw_rate": RETURNS_DRAW_RATE,
    "episode/loss_rate": RETURNS_LOSS_RATE,
    "episode/end_zone_rate": RETURNS_END_ZONE_RATE,
    "episode/end_elimination_rate": RETURNS_END_ELIMINATION_RATE,
    "episode/end_time_rate": RETURNS_END_TIME_RATE,
}


# Renamed after schema 2 without a version change (an optional key only); readers rename it too.
RENAMED_AFTER_SCHEMA_2 = {
    "train/curriculum_fire_prob": CURRICULUM_WEAPON_FIRE_PROB,
}
# Every older spelling a reader renames (echelon.metrics.logread).
RENAMED_KEYS = {**RENAMED_IN_SCHEMA_2, **RENAMED_AFTER_SCHEMA_2}


def trigger_rate_key(action_name: str) -> str:
    """``policy/trigger_rate/<action_name>`` (e.g. ``primary``, ``ewar``)."""
    return POLICY_TRIGGER_RATE + action_name


def reward_key(component: str) -> str:
    """``rewards/<component>`` (e.g. ``zone``, ``kill``)."""
    return REWARDS_PREFIX + component


def action_hist_key(action_name: str) -> str:
    """``distributions/action/<action_name>`` (e.g. ``forward``, ``yaw``)."""
    return DIST_ACTION + action_name


# Prefixes of the families keyed per action dim or reward component (see the *_key helpers).
DYNAMIC_PREFIXES = (POLICY_TRIGGER_RATE, REWARDS_PREFIX, DIST_ACTION)


def is_metric_key(key: str) -> bool:
    """True for a constant defined here or a key built by one of the ``*_key`` helpers."""
    return key in all_names().values() or (key.startswith(DYNAMIC_PREFIXES) and key not in DYNAMIC_PREFIXES)


def all_names() -> dict[str, str]:
    """Constant name -> metric key, for every prefixed metric defined above."""
    return {
        k: v for k, v in globals().items() if k.isupper() and isinstance(v, str) and v.startswith(GROUPS)
    }
