"""Typed run configuration.

Frozen dataclasses, one per concern, composed into :class:`TrainConfig`. YAML files in
``ray_configs/`` and dotted ``key=value`` overrides are merged against the dataclass schema by
OmegaConf (type checks and unknown-key errors come from there), then handed back as the frozen
dataclasses, whose ``__post_init__`` validates values with the numbers in the message.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message says which and what to do."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def check_range(
    name: str, value: Any, lowest: int, highest: Optional[int], unit: str, why_lowest: str = ""
) -> tuple[int, int]:
    """``value`` as an integer pair ``(lo, hi)`` with ``lowest <= lo <= hi`` (and ``hi <= highest``
    unless that is None); :class:`ConfigError` naming ``name`` and the fix otherwise (``why_lowest``
    is appended to the message for a ``lo`` below ``lowest``)."""
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    _check(ok, f"{name} must be [lo, hi], two integers ({unit}), got {value!r}")
    lo, hi = int(value[0]), int(value[1])
    _check(lo <= hi, f"{name}={[lo, hi]}: lo must be <= hi; swap them")
    _check(lo >= lowest, f"{name}={[lo, hi]}: lo must be >= {lowest} {unit}{why_lowest}; raise lo to {lowest} or more")
    _check(highest is None or hi <= highest,
           f"{name}={[lo, hi]}: hi must be <= {highest} {unit}, the largest the batch was allocated for; "
           f"lower hi, or build the env with a config whose maxima cover {hi}")
    return lo, hi


@dataclass(frozen=True)
class RewardConfig:
    """Per-agent reward weights (ENV_SPEC 'Rewards')."""

    zone: float = 3.0
    approach: float = 1.5
    damage: float = 0.05
    kill: float = 10.0
    assist: float = 5.0
    death: float = -1.0
    outcome: float = 5.0
    # Discount of the potential-based approach shaping gamma*phi(s') - phi(s); match ppo.gamma.
    approach_gamma: float = 0.99


OBS_MODES = ("full", "partial")
CONTROLLERS = ("policy", "heuristic")


@dataclass(frozen=True)
class EnvConfig:
    """The Echelon match.

    Distances in metres (1 cell = 1 m), times in seconds.
    """

    packs_per_team: int = 2
    size_x: int = 100
    size_y: int = 100
    obs_mode: str = "full"
    episode_seconds: float = 60.0
    dt_sim: float = 0.05
    decision_repeat: int = 5
    friendly_fire: bool = False
    spawn_size: int = 12
    zone_radius_min: float = 4.0
    zone_radius_max: float = 11.0
    # Who drives each team: "policy" (the caller's actions) or "heuristic" (built-in bot).
    blue: str = "policy"
    red: str = "heuristic"
    heuristic_weapon_fire_prob: float = 1.0
    # Line of sight is traced for pairs closer than this (m), at this many samples per segment,
    # once per decision step; it gates firing and partial observation.
    sight_range: float = 40.0
    los_samples: int = 16
    # Record per-step events (EchelonVecEnv.last_events); off saves a little step time.
    record_events: bool = True
    rewards: RewardConfig = field(default_factory=RewardConfig)
    # Curriculum over the match (docs/env.md, same title): every match draws, at each of its
    # resets, a square map side from size_range = [lo, hi] m and its packs per team from
    # packs_range = [lo, hi] (uniform integers, both ends included). The batch is allocated for
    # the largest match, so hi must equal size_x = size_y (resp. packs_per_team). null = every
    # match is size_x x size_y with packs_per_team packs. EchelonVecEnv.set_curriculum narrows
    # or moves the ranges within these maxima during a run.
    size_range: Optional[List[int]] = None
    packs_range: Optional[List[int]] = None

    def __post_init__(self) -> None:
        _check(self.packs_per_team >= 1, f"env.packs_per_team must be >= 1, got {self.packs_per_team}")
        _check(self.obs_mode in OBS_MODES, f"env.obs_mode must be one of {OBS_MODES}, got {self.obs_mode!r}")
        _check(self.blue in CONTROLLERS, f"env.blue must be one of {CONTROLLERS}, got {self.blue!r}")
        _check(self.red in CONTROLLERS, f"env.red must be one of {CONTROLLERS}, got {self.red!r}")
        _check(self.spawn_size >= 6, f"env.spawn_size must be >= 6 m to fit a pack, got {self.spawn_size}")
        min_side = self.min_side
        _check(
            self.size_x >= min_side and self.size_y >= min_side,
            f"env map {self.size_x} x {self.size_y} is too small for two spawn areas of "
            f"{self.spawn_size} m plus a zone: each side must be >= {min_side}",
        )
        self._check_ranges()
        _check(self.dt_sim > 0, f"env.dt_sim must be > 0, got {self.dt_sim}")
        _check(self.decision_repeat >= 1, f"env.decision_repeat must be >= 1, got {self.decision_repeat}")
        _check(
            self.episode_seconds >= self.step_seconds,
            f"env.episode_seconds={self.episode_seconds} is shorter than one step ({self.step_seconds} s)",
        )
        _check(
            0 < self.zone_radius_min <= self.zone_radius_max,
            f"env zone radius range [{self.zone_radius_min}, {self.zone_radius_max}] is invalid",
        )
        _check(self.sight_range > 0, f"env.sight_range must be > 0 m, got {self.sight_range}")
        _check(self.los_samples >= 2, f"env.los_samples must be >= 2, got {self.los_samples}")
        _check(
            0.0 <= self.heuristic_weapon_fire_prob <= 1.0,
            f"env.heuristic_weapon_fire_prob must be in [0, 1], got {self.heuristic_weapon_fire_prob}",
        )

    def _check_ranges(self) -> None:
        """``size_range`` / ``packs_range``: well formed, and their hi is the allocation."""
        if self.size_range is not None:
            lo, hi = check_range("env.size_range", self.size_range, self.min_side, None, "m", self.min_side_reason)
            _check(
                self.size_x == hi and self.size_y == hi,
                f"env.size_range={[lo, hi]} needs the batch allocated for its largest map: env.size_x and "
                f"env.size_y must both equal hi={hi}, got {self.size_x} x {self.size_y}; "
                f"set env.size_x={hi} env.size_y={hi}",
            )
        if self.packs_range is not None:
            lo, hi = check_range("env.packs_range", self.packs_range, 1, None, "packs")
            _check(
                self.packs_per_team == hi,
                f"env.packs_range={[lo, hi]} needs the batch allocated for its largest match: "
                f"env.packs_per_team must equal hi={hi}, got {self.packs_per_team}; set env.packs_per_team={hi}",
            )

    @property
    def min_side(self) -> int:
        """Smallest map side (m) that holds two spawn areas and a zone."""
        return 2 * self.spawn_size + 8

    @property
    def min_side_reason(self) -> str:
        return f" (two {self.spawn_size} m spawn areas and a zone; env.spawn_size sets it)"

    @property
    def step_seconds(self) -> float:
        return self.dt_sim * self.decision_repeat

    @property
    def max_steps(self) -> int:
        return int(round(self.episode_seconds / self.step_seconds))

    @property
    def mechs_per_team(self) -> int:
        return 5 * self.packs_per_team

    @property
    def num_mechs(self) -> int:
        return 2 * self.mechs_per_team


@dataclass(frozen=True)
class ModelConfig:
    """Actor-critic network sizes."""

    lstm: bool = True
    hidden_size: int = 128
    lstm_size: int = 128
    encoder: str = "auto"  # "auto" (set encoder for Echelon, MLP otherwise), "mlp", "set"
    # Width of the set encoder's per-slot MLPs (contacts, squad mates). They run on every slot
    # of every row (10 + 4 per agent), so on CPU this width sets most of the encoder's cost.
    slot_size: int = 64
    log_std_init: float = -0.5
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    # Box log-std: False = one learned parameter per dimension (clamped to [min, max]);
    # True = a function of the features, tanh-squashed into [min, max].
    state_dependent_std: bool = False
    # Box action distribution: "squashed" = tanh of a Gaussian, always in bounds; "gaussian" =
    # a plain Gaussian whose samples the env edge clips to the bounds (RLlib's and CleanRL's
    # choice; docs/learning.md, "Box distribution").
    box_dist: str = "squashed"
    # A head on the core's output that predicts the next (normalised) observation; its loss,
    # weighted by ppo.aux_coef, shapes the LSTM state toward what the next step will show.
    aux_next_obs: bool = False
    # Initial biases of action heads, by key of a Dict action space: the logits of a
    # MultiBinary or Discrete part, the pre-tanh mean of a Box part (one value per output). A
    # prior, not a constraint: e.g. Echelon's triggers start mostly pulled and the vent mostly
    # off instead of coin flips (docs/learning.md, "The Echelon recipe"). Empty = zeros.
    action_bias_init: Dict[str, List[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.hidden_size > 0, f"model.hidden_size must be > 0, got {self.hidden_size}")
        _check(self.lstm_size > 0, f"model.lstm_size must be > 0, got {self.lstm_size}")
        _check(self.slot_size > 0, f"model.slot_size must be > 0, got {self.slot_size}")
        _check(self.encoder in ("auto", "mlp", "set"), f"model.encoder must be auto|mlp|set, got {self.encoder!r}")
        _check(self.box_dist in ("squashed", "gaussian"),
               f"model.box_dist must be squashed|gaussian, got {self.box_dist!r}")
        _check(
            self.log_std_min < self.log_std_max,
            f"model.log_std_min={self.log_std_min} must be < log_std_max={self.log_std_max}",
        )


LR_SCHEDULES = ("adaptive_kl", "linear", "constant")


@dataclass(frozen=True)
class PPOConfig:
    """Recurrent PPO hyper-parameters.

    Learning rate (``lr_schedule``): ``constant`` keeps ``lr``; ``linear`` decays it to 1% of
    ``lr`` at ``learner.total_env_steps``; ``adaptive_kl`` starts at ``lr`` and, after every
    minibatch, divides it by 1.5 when that minibatch's ``approx_kl`` exceeded ``2 * desired_kl``
    and multiplies it by 1.5 when it was below ``desired_kl / 2``, within ``[lr_min, lr_max]``
    (the rule of legged-robot PPO, Rudin et al. 2021, https://arxiv.org/abs/2109.11978).
    ``lr_decay`` is the older spelling: when set, ``true`` means ``linear`` and ``false``
    ``constant``, and it wins over ``lr_schedule`` (old checkpoints and YAML files keep their
    schedule). ``target_kl`` stops an update's remaining minibatches once one minibatch's
    ``approx_kl`` exceeds it (null = off). docs/learning.md has the measurements behind the
    defaults.
    """

    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    lr: float = 3e-4
    lr_schedule: str = "constant"
    lr_decay: Optional[bool] = None
    desired_kl: float = 0.01
    lr_min: float = 1e-5
    # null = ppo.lr: the guard slows a run down when its KL says so, never speeds it past the
    # configured rate (docs/learning.md: an uncapped 1e-2 made memory CartPole noisier).
    lr_max: Optional[float] = None
    # Learning rate of the value head alone (null = the policy's, schedule included). With
    # adaptive_kl the policy's rate follows the KL, which says nothing about the critic; a fixed
    # critic rate keeps the value fit from stalling when the policy's rate is cut.
    critic_lr: Optional[float] = None
    epochs: int = 4
    num_minibatches: int = 4
    bptt_len: int = 16
    burn_in: int = 0
    # The KL guard, on by default: over 3 seeds of the learning checks it removed memory
    # CartPole's late collapse (late drop 0.114 -> 0.017 on seed 1); docs/learning.md has the
    # before/after of every task. Set null to run every epoch whatever the KL.
    target_kl: Optional[float] = 0.02
    # Recompute advantages and value targets with the updated critic before every epoch after
    # the first (Andrychowicz et al. 2020, https://arxiv.org/abs/2006.05990, section 3.5).
    recompute_adv: bool = False
    # Weight of the next-observation prediction loss (used when model.aux_next_obs is on).
    aux_coef: float = 0.1
    # Imitation of a teacher (Echelon: the scripted heuristic at full strength, asked what it
    # would do in every learning row): bc_coef times the loss of the teacher's actions under the
    # policy (negative log-likelihood of the discrete parts, half the squared error of the Box
    # means), decaying linearly to 0 at bc_env_steps env steps (null = held). 0 = off. A prior
    # that starts the policy fighting as the heuristic does; PPO then improves on it.
    bc_coef: float = 0.0
    bc_env_steps: Optional[int] = None
    norm_adv: bool = True
    norm_obs: bool = True
    norm_returns: bool = True

    def __post_init__(self) -> None:
        if self.lr_decay is not None:
            # The old key wins and is folded into the new one, so a config resolves to one form.
            object.__setattr__(self, "lr_schedule", "linear" if self.lr_decay else "constant")
            object.__setattr__(self, "lr_decay", None)
        _check(0.0 < self.gamma <= 1.0, f"ppo.gamma must be in (0, 1], got {self.gamma}")
        _check(0.0 <= self.gae_lambda <= 1.0, f"ppo.gae_lambda must be in [0, 1], got {self.gae_lambda}")
        _check(self.clip_coef > 0, f"ppo.clip_coef must be > 0, got {self.clip_coef}")
        _check(self.lr > 0, f"ppo.lr must be > 0, got {self.lr}")
        _check(
            self.lr_schedule in LR_SCHEDULES,
            f"ppo.lr_schedule must be one of {'|'.join(LR_SCHEDULES)}, got {self.lr_schedule!r}",
        )
        _check(self.desired_kl > 0, f"ppo.desired_kl must be > 0, got {self.desired_kl}")
        _check(
            0 < self.lr_min <= self.lr_cap,
            f"ppo.lr_min={self.lr_min} and ppo.lr_max={self.lr_max} must satisfy 0 < lr_min <= lr_max",
        )
        _check(
            self.lr_schedule != "adaptive_kl" or self.lr_min <= self.lr <= self.lr_cap,
            f"ppo.lr={self.lr} must lie in [lr_min={self.lr_min}, lr_max={self.lr_cap}] with adaptive_kl",
        )
        _check(self.critic_lr is None or self.critic_lr > 0, f"ppo.critic_lr must be > 0 or null, got {self.critic_lr}")
        _check(self.aux_coef >= 0, f"ppo.aux_coef must be >= 0, got {self.aux_coef}")
        _check(self.bc_coef >= 0, f"ppo.bc_coef must be >= 0, got {self.bc_coef}")
        _check(self.bc_env_steps is None or self.bc_env_steps > 0,
               f"ppo.bc_env_steps must be > 0 or null, got {self.bc_env_steps}")
        _check(self.epochs >= 1, f"ppo.epochs must be >= 1, got {self.epochs}")
        _check(self.num_minibatches >= 1, f"ppo.num_minibatches must be >= 1, got {self.num_minibatches}")
        _check(self.bptt_len >= 1, f"ppo.bptt_len must be >= 1, got {self.bptt_len}")
        _check(
            0 <= self.burn_in < self.bptt_len,
            f"ppo.burn_in must be in [0, bptt_len={self.bptt_len}), got {self.burn_in}",
        )
        _check(self.target_kl is None or self.target_kl > 0, f"ppo.target_kl must be > 0 or null, got {self.target_kl}")

    @property
    def lr_cap(self) -> float:
        """The adaptive rate's upper bound: ``lr_max``, or ``lr`` when that is null."""
        return self.lr if self.lr_max is None else self.lr_max


@dataclass(frozen=True)
class RolloutConfig:
    """What the rollout side steps.

    ``env`` is ``echelon``, ``gymnasium:<EnvId>`` or ``pettingzoo:<module>[:<function>]``.
    """

    env: str = "echelon"
    env_kwargs: dict = field(default_factory=dict)
    num_envs: int = 8  # matches per worker (Echelon) / env copies per worker
    fragment_len: int = 64  # T, steps per fragment
    # Tests only: the rollout worker raises in its N-th sample call (exercises worker receipts).
    debug_fail_sample: Optional[int] = None

    def __post_init__(self) -> None:
        _check(self.num_envs >= 1, f"rollout.num_envs must be >= 1, got {self.num_envs}")
        _check(self.fragment_len >= 1, f"rollout.fragment_len must be >= 1, got {self.fragment_len}")
        _check(
            self.env == "echelon" or self.env.startswith(("gymnasium:", "pettingzoo:")),
            f"rollout.env must be 'echelon', 'gymnasium:<id>' or 'pettingzoo:<module>[:<fn>]', got {self.env!r}",
        )


@dataclass(frozen=True)
class LearnerConfig:
    """Where and how long the learner trains."""

    device: str = "auto"  # auto | cpu | cuda
    # Custom resource the learner asks for (one unit), e.g. "learner" on the node meant to host
    # it; null = none (it then goes wherever its CPU, and its GPU under device auto|cuda, fit).
    resource: Optional[str] = None
    amp: bool = True  # bf16 autocast, CUDA only
    total_env_steps: int = 100_000
    checkpoint_every: int = 10  # updates
    keep_checkpoints: int = 3
    # Updates skipped in a row for a non-finite batch, loss or gradient before the run stops.
    max_bad_updates: int = 3
    # Tests only: put one NaN into the batch of this update (1-based) and the next
    # debug_nan_count - 1 ones, to exercise receipts and the bad-update stop.
    debug_nan_update: Optional[int] = None
    debug_nan_count: int = 1

    def __post_init__(self) -> None:
        _check(self.device in ("auto", "cpu", "cuda"), f"learner.device must be auto|cpu|cuda, got {self.device!r}")
        _check(self.resource is None or bool(self.resource.strip()),
               f"learner.resource must be a resource name or null, got {self.resource!r}")
        _check(self.total_env_steps > 0, f"learner.total_env_steps must be > 0, got {self.total_env_steps}")
        _check(self.checkpoint_every >= 1, f"learner.checkpoint_every must be >= 1, got {self.checkpoint_every}")
        _check(self.keep_checkpoints >= 1, f"learner.keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        _check(self.max_bad_updates >= 1, f"learner.max_bad_updates must be >= 1, got {self.max_bad_updates}")


@dataclass(frozen=True)
class MetricsConfig:
    """Logging sinks, windows and the strides of the costlier metric families (docs/observability.md)."""

    window: int = 100  # episodes in the rolling window
    # full: every family (strided ones on their strides); minimal: train/, policy/ (learner
    # stats), returns/, perf/, system/ only, and workers send bare episode outcomes.
    level: str = "full"
    coordination_every: int = 10  # updates between coordination/ and perception/ records
    histogram_every: int = 5  # updates between distributions/ histograms
    spatial_every: int = 50  # updates between spatial/ heat maps
    table_every: int = 25  # updates between episodes/agent_breakdown tables
    # Most action values one fragment carries to the metrics actor for the action histograms.
    action_sample_values: int = 2048
    histogram_bins: int = 32
    # auto: online when WANDB_API_KEY is set, else offline | online | offline | disabled.
    wandb_mode: str = "disabled"
    wandb_project: str = "echelon"
    wandb_tags: list = field(default_factory=list)  # extra W&B tags besides the derived ones
    wandb_init_timeout_s: float = 30.0  # an unreachable W&B gives up after this, with one warning
    console: bool = True
    dashboard: bool = True  # mirror a few metrics to the Ray dashboard (ray.util.metrics)
    # Collapse alarms (echelon/metrics/alarms.py): a warning record, a console line and, online,
    # a W&B alert once per episode of trouble (KL, gradient norm, entropy, value loss, return).
    alarms: bool = True
    # Port of the local Ray node's Prometheus metrics export (dashboard Metrics tab, Grafana);
    # 0 = a free port picked at start (printed beside the dashboard URL).
    export_port: int = 0

    def __post_init__(self) -> None:
        _check(self.window >= 1, f"metrics.window must be >= 1, got {self.window}")
        _check(self.level in ("full", "minimal"), f"metrics.level must be full|minimal, got {self.level!r}")
        for name in ("coordination_every", "histogram_every", "spatial_every", "table_every"):
            value = getattr(self, name)
            _check(value >= 1, f"metrics.{name} must be >= 1 (updates), got {value}")
        _check(self.action_sample_values >= 0,
               f"metrics.action_sample_values must be >= 0, got {self.action_sample_values}")
        _check(self.histogram_bins >= 2, f"metrics.histogram_bins must be >= 2, got {self.histogram_bins}")
        _check(
            self.wandb_mode in ("auto", "disabled", "offline", "online"),
            f"metrics.wandb_mode must be auto|disabled|offline|online, got {self.wandb_mode!r}",
        )
        _check(self.wandb_init_timeout_s > 0,
               f"metrics.wandb_init_timeout_s must be > 0, got {self.wandb_init_timeout_s}")
        _check(0 <= self.export_port < 65536, f"metrics.export_port must be in [0, 65535], got {self.export_port}")


PLACEMENTS = ("spread", "pack", "none")


@dataclass(frozen=True)
class RayConfig:
    """Ray resources and the actor-learner pipeline."""

    address: str = "auto"  # auto (existing cluster if any, else local) | local | HOST:PORT
    num_workers: int = 1  # rollout workers; 0 = auto: max(1, cluster CPUs - 1)
    num_cpus_per_worker: float = 1.0
    # Custom resource each rollout worker asks for (one unit) when some node advertises it, so
    # rollouts land on the nodes meant for them; null = never.
    worker_resource: Optional[str] = "rollout"
    # Ask for worker_resource even when no node has it yet: an autoscaler adds such nodes on demand.
    require_worker_resource: bool = False
    max_restarts: int = 3  # per rollout worker (Ray actor restarts)
    # Rollout workers in one placement group: spread (bundles over distinct nodes as evenly as
    # possible, so one lost node takes few workers; PACK when only one node can host them) |
    # pack (as few nodes as possible) | none (no placement group, Ray's default scheduling).
    placement: str = "spread"
    max_policy_lag: int = 1  # updates; staler fragments are dropped and counted
    fragments_per_update: int = 0  # fragments per learner update; 0 = one per worker
    # Curriculum (Echelon vs heuristic): the heuristic's weapon fire probability ramps linearly
    # from curriculum_fire_prob_start to env.heuristic_weapon_fire_prob over the first
    # curriculum_fraction of learner.total_env_steps; null = no ramp.
    curriculum_fire_prob_start: Optional[float] = None
    curriculum_fraction: float = 0.5

    def __post_init__(self) -> None:
        _check(self.num_workers >= 0, f"ray.num_workers must be >= 0 (0 = auto), got {self.num_workers}")
        _check(self.num_cpus_per_worker >= 0, f"ray.num_cpus_per_worker must be >= 0, got {self.num_cpus_per_worker}")
        _check(self.max_policy_lag >= 0, f"ray.max_policy_lag must be >= 0, got {self.max_policy_lag}")
        _check(self.max_restarts >= 0, f"ray.max_restarts must be >= 0, got {self.max_restarts}")
        _check(self.placement in PLACEMENTS, f"ray.placement must be one of {PLACEMENTS}, got {self.placement!r}")
        _check(self.worker_resource is None or bool(self.worker_resource.strip()),
               f"ray.worker_resource must be a resource name or null, got {self.worker_resource!r}")
        _check(not self.require_worker_resource or self.worker_resource is not None,
               "ray.require_worker_resource is true but ray.worker_resource is null: name the resource")
        _check(
            self.fragments_per_update >= 0,
            f"ray.fragments_per_update must be >= 0 (0 = one per worker), got {self.fragments_per_update}",
        )
        _check(
            self.curriculum_fire_prob_start is None or 0.0 <= self.curriculum_fire_prob_start <= 1.0,
            f"ray.curriculum_fire_prob_start must be in [0, 1] or null, got {self.curriculum_fire_prob_start}",
        )
        _check(
            0.0 < self.curriculum_fraction <= 1.0,
            f"ray.curriculum_fraction must be in (0, 1], got {self.curriculum_fraction}",
        )


LEAGUE_SAMPLING = ("uniform", "prioritised")


RUN_LEAGUE = "run"  # league.path value: the run's own league in its run dir


@dataclass(frozen=True)
class LeagueConfig:
    """The self-play league (docs/league.md): its file, promotion, retirement and opponent mix.

    Off unless ``path`` names a league file (``scripts/arena.py init`` makes one). Opponents are
    drawn per match from the commanders plus the ``recent_candidates`` newest candidates,
    ``uniform`` or ``prioritised`` toward those the learner is expected to lose to (weight
    ``p_lose ** priority_exponent``, prioritised fictitious self-play); a ``heuristic_fraction``
    of matches is played against the heuristic at the fire probabilities ``fixed_fire_probs``
    instead. ``self_play`` replaces the league opponents by the current policy itself.
    """

    # The league file (JSON); null = no league; "run" = the run's own league, RUN_DIR/league.json,
    # made at the first start with the heuristic entries (what make train's recipe uses).
    path: Optional[str] = None
    snapshot_every: int = 50  # learner updates between snapshots added as candidates
    top_k: int = 8  # a candidate whose conservative rating enters the top K becomes a commander
    keep_top: int = 8  # commanders kept by retirement (ranked by conservative rating)
    min_games: int = 30  # commanders with fewer rated games are never retired
    recent_candidates: int = 4  # newest candidates in the opponent pool beside the commanders
    sampling: str = "prioritised"
    priority_exponent: float = 2.0
    heuristic_fraction: float = 0.2
    fixed_fire_probs: List[float] = field(default_factory=lambda: [1.0])
    self_play: bool = False
    tau: float = 0.5  # Glicko-2 system constant (volatility change), fixed when the league is made

    def __post_init__(self) -> None:
        _check(self.path is None or bool(str(self.path).strip()),
               f"league.path must be a file path or null, got {self.path!r}")
        for name in ("snapshot_every", "top_k", "keep_top"):
            value = getattr(self, name)
            _check(value >= 1, f"league.{name} must be >= 1, got {value}")
        _check(self.min_games >= 0, f"league.min_games must be >= 0, got {self.min_games}")
        _check(self.recent_candidates >= 0, f"league.recent_candidates must be >= 0, got {self.recent_candidates}")
        _check(self.sampling in LEAGUE_SAMPLING,
               f"league.sampling must be one of {'|'.join(LEAGUE_SAMPLING)}, got {self.sampling!r}")
        _check(self.priority_exponent >= 0, f"league.priority_exponent must be >= 0, got {self.priority_exponent}")
        _check(0.0 <= self.heuristic_fraction <= 1.0,
               f"league.heuristic_fraction must be in [0, 1], got {self.heuristic_fraction}")
        probs = list(self.fixed_fire_probs)
        _check(all(0.0 <= float(p) <= 1.0 for p in probs),
               f"league.fixed_fire_probs must each be in [0, 1], got {probs}")
        _check(len(set(map(float, probs))) == len(probs), f"league.fixed_fire_probs has duplicates: {probs}")
        _check(self.heuristic_fraction == 0.0 or bool(probs),
               f"league.heuristic_fraction={self.heuristic_fraction} needs at least one league.fixed_fire_probs")
        _check(self.tau > 0, f"league.tau must be > 0, got {self.tau}")

    @property
    def enabled(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class CurriculumStage:
    """One stage of the match curriculum (echelon/curriculum.py runs them in order).

    What the workers' matches use while the stage is in force: the heuristic's
    ``weapon_fire_prob`` (null = ``env.heuristic_weapon_fire_prob``; with ``weapon_fire_prob_end``
    it ramps linearly to that value between the env step the stage began and its schedule
    point), and the ranges a match's map side (m) and packs per team are sampled from at each
    reset (``[lo, hi]``, inclusive; null = the env's fixed value).

    When the run leaves it (the last stage never ends, and only the last one may have no
    condition): at ``until_env_steps`` env steps or ``until_fraction`` of
    ``learner.total_env_steps`` into the run, or once the blue team's win rate over the last
    ``curriculum.window`` matches played at this stage has been >= ``until_win_rate`` for
    ``curriculum.hold`` updates in a row, whichever comes first.
    """

    weapon_fire_prob: Optional[float] = None
    weapon_fire_prob_end: Optional[float] = None
    size_range: Optional[List[int]] = None
    packs_range: Optional[List[int]] = None
    until_env_steps: Optional[int] = None
    until_fraction: Optional[float] = None
    until_win_rate: Optional[float] = None

    def __post_init__(self) -> None:
        for name in ("weapon_fire_prob", "weapon_fire_prob_end", "until_win_rate"):
            value = getattr(self, name)
            _check(value is None or 0.0 <= value <= 1.0, f"curriculum stage {name} must be in [0, 1] or null, "
                                                         f"got {value}")
        for name, unit in (("size_range", "m"), ("packs_range", "packs")):
            if getattr(self, name) is not None:  # bounds against the env: TrainConfig
                check_range(f"curriculum stage {name}", getattr(self, name), 1, None, unit)
        _check(self.until_env_steps is None or self.until_env_steps > 0,
               f"curriculum stage until_env_steps must be > 0 or null, got {self.until_env_steps}")
        _check(self.until_fraction is None or 0.0 < self.until_fraction <= 1.0,
               f"curriculum stage until_fraction must be in (0, 1] or null, got {self.until_fraction}")
        _check(self.until_env_steps is None or self.until_fraction is None,
               "a curriculum stage sets both until_env_steps and until_fraction: keep one schedule point")
        _check(self.weapon_fire_prob_end is None or self.has_schedule,
               "curriculum stage weapon_fire_prob_end ramps up to the stage's schedule point: set "
               "until_env_steps or until_fraction too")

    @property
    def has_schedule(self) -> bool:
        return self.until_env_steps is not None or self.until_fraction is not None

    @property
    def has_condition(self) -> bool:
        return self.has_schedule or self.until_win_rate is not None


@dataclass(frozen=True)
class CurriculumConfig:
    """The match curriculum the driver runs and pushes to the rollout workers (Echelon only).

    ``stages`` empty = none (``ray.curriculum_fire_prob_start``, the older linear ramp of the
    fire probability, is the same as two stages; echelon/curriculum.py builds them). ``window``:
    matches of the current stage the win rate is taken over (a stage's win-rate condition waits
    until that many have finished); ``hold``: consecutive updates it must stay at the threshold.
    """

    stages: List[CurriculumStage] = field(default_factory=list)
    window: int = 100
    hold: int = 3

    def __post_init__(self) -> None:
        _check(self.window >= 1, f"curriculum.window must be >= 1 (matches), got {self.window}")
        _check(self.hold >= 1, f"curriculum.hold must be >= 1 (updates), got {self.hold}")
        for i, stage in enumerate(self.stages):
            last = i == len(self.stages) - 1
            _check(stage.has_condition or last,
                   f"curriculum stage {i} of {len(self.stages)} has no until_* condition, so the stages after it "
                   "would never run: give it until_env_steps, until_fraction or until_win_rate")
            _check(not last or not stage.has_condition,
                   f"the last curriculum stage ({i}) lasts to the end of the run: remove its until_* keys")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation during training (Ray driver): every ``every`` updates (0 = off) the current
    weights play ``matches`` seeded matches (match i from ``(seed, i)``, the same maps every
    time, sides alternated) against the heuristic at ``fire_prob`` on the run's own
    ``env`` match, with ``greedy`` (mode) or sampled actions; every ``gif_every`` evaluations
    (0 = never) match 0 is also recorded as a GIF under ``RUN_DIR/media/``. The evaluation
    runs on a Ray actor asking for ``num_cpus`` (0 = it shares the CPUs of the run, which on a
    machine filled with workers is the only way it starts at all); the end of a run waits up to
    ``timeout_s`` for the last one. The curriculum's ranges do not apply: one fixed layout.
    """

    every: int = 0
    matches: int = 32
    seed: int = 1_000_003
    greedy: bool = True
    fire_prob: float = 1.0
    gif_every: int = 0
    num_cpus: float = 0.0
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        _check(self.every >= 0, f"eval.every must be >= 0 (updates; 0 = off), got {self.every}")
        _check(self.matches >= 1, f"eval.matches must be >= 1, got {self.matches}")
        _check(0.0 <= self.fire_prob <= 1.0, f"eval.fire_prob must be in [0, 1], got {self.fire_prob}")
        _check(self.gif_every >= 0, f"eval.gif_every must be >= 0 (evaluations; 0 = never), got {self.gif_every}")
        _check(self.num_cpus >= 0, f"eval.num_cpus must be >= 0, got {self.num_cpus}")
        _check(self.timeout_s > 0, f"eval.timeout_s must be > 0 s, got {self.timeout_s}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one run needs; saved whole in the run's meta record and checkpoints."""

    seed: int = 0
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    league: LeagueConfig = field(default_factory=LeagueConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        echelon = self.rollout.env == "echelon"
        _check(self.eval.every == 0 or echelon,
               f"eval.every > 0 plays Echelon matches against the heuristic; rollout.env is {self.rollout.env!r}")
        _check_curriculum(self.curriculum, self.env, self.ray, self.learner, echelon, self.rollout.env)
        _check(self.ppo.bc_coef == 0 or echelon,
               f"ppo.bc_coef > 0 imitates Echelon's heuristic, which rollout.env {self.rollout.env!r} does not have; "
               "set ppo.bc_coef=0")


def _check_curriculum(cur: CurriculumConfig, e: EnvConfig, rcfg: RayConfig, lcfg: LearnerConfig, echelon: bool,
                      env_name: str) -> None:
    """What a curriculum's stages need from the rest of the config (one spelling, the env's sizes)."""
    stages = cur.stages
    _check(not stages or rcfg.curriculum_fire_prob_start is None,
           "both curriculum.stages and ray.curriculum_fire_prob_start are set: keep one curriculum (the "
           "ramp is two stages: {weapon_fire_prob: start, weapon_fire_prob_end: end, until_fraction: f}, {})")
    _check(not stages or echelon, f"curriculum.stages drive the Echelon match; rollout.env is {env_name!r}")
    points = [s.until_env_steps if s.until_env_steps is not None else s.until_fraction * lcfg.total_env_steps
              for s in stages if s.has_schedule]
    _check(all(a < b for a, b in zip(points, points[1:], strict=False)),
           "curriculum schedule points must increase from stage to stage, got env steps "
           f"[{', '.join(f'{p:g}' for p in points)}]")
    # Ranges as EchelonVecEnv.set_curriculum takes them: within the batch's allocation.
    for i, s in enumerate(stages):
        if s.size_range is not None:
            check_range(f"curriculum.stages[{i}].size_range", s.size_range, e.min_side, min(e.size_x, e.size_y),
                        "m", e.min_side_reason)
        if s.packs_range is not None:
            check_range(f"curriculum.stages[{i}].packs_range", s.packs_range, 1, e.packs_per_team, "packs")
    # A stage without a size range goes back to the env's own matches, which a range can say only
    # for a square map (or an env.size_range).
    if any(s.size_range is not None for s in stages) and e.size_range is None and e.size_x != e.size_y:
        unset = [i for i, s in enumerate(stages) if s.size_range is None]
        _check(not unset, f"curriculum stages {unset} set no size_range while others do, on a {e.size_x} x "
                          f"{e.size_y} map, which no [lo, hi] range of square sides describes: give them a size_range")


def _schema(cls: type) -> Any:
    # Frozen dataclasses give a read-only OmegaConf node; the merge needs it writable.
    node = OmegaConf.structured(cls)
    OmegaConf.set_readonly(node, False)
    return node


def _describe(exc: OmegaConfBaseException) -> str:
    # OmegaConf's first line says what is wrong ("Key 'lrr' not in 'PPOConfig'"); its
    # full_key says where, which the first line omits for type errors.
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    key = getattr(exc, "full_key", None)
    where = f" (at {key})" if key else ""
    return f"invalid config{where}: {first}; see echelon/config.py for the valid keys and types"


def load_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), cls: type = TrainConfig, base: Optional[dict] = None
) -> Any:
    """Merge defaults <- ``base`` (e.g. a checkpoint's config dict) <- YAML file <- ``key=value``
    overrides, validate, return ``cls``.

    Raises :class:`ConfigError` naming the bad key or value.
    """
    try:
        merged = _schema(cls)
        if base is not None:
            merged = OmegaConf.merge(merged, OmegaConf.create(upgrade_config_dict(base)))
        if path is not None:
            merged = OmegaConf.merge(merged, read_yaml(path))
        return OmegaConf.to_object(apply_overrides(merged, overrides))
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc)) from None


def read_yaml(path: str | Path) -> DictConfig:
    """A YAML run config as an OmegaConf mapping; :class:`ConfigError` for a missing file, bad YAML
    or a top level that is not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        node = OmegaConf.load(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}: {problem}") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(
            f"config file {str(path)!r} must be a mapping of sections (seed, env, ppo, ...), "
            f"not a {type(node).__name__.replace('Config', '').lower()}"
        )
    return node


def apply_overrides(node: Any, overrides: Sequence[str]) -> Any:
    """Merge dotted ``key=value`` overrides into an OmegaConf node; :class:`ConfigError` when malformed."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. ppo.lr=1e-3)")
        try:
            node = OmegaConf.merge(node, OmegaConf.from_dotlist([item]))
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ConfigError(f"override {item!r}: the value does not parse ({problem})") from None
        except TypeError:
            # OmegaConf cannot merge a dotted index (stages.0.x) into a list.
            raise ConfigError(f"override {item!r}: a list is replaced whole, e.g. "
                              "curriculum.stages='[{weapon_fire_prob: 0.5, until_fraction: 0.5}, {}]'") from None
    return node


def upgrade_config_dict(data: dict) -> dict:
    """A config dict saved by an older version (a checkpoint's), with renamed keys in today's form.

    ``ray.spread_workers: bool`` became ``ray.placement`` (true -> spread, false -> none).
    """
    ray_section = data.get("ray")
    if not isinstance(ray_section, dict) or "spread_workers" not in ray_section:
        return data
    ray_section = dict(ray_section)
    spread = ray_section.pop("spread_workers")
    ray_section.setdefault("placement", "spread" if spread else "none")
    return {**data, "ray": ray_section}


def config_to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config dataclass (for JSON meta records and checkpoints)."""
    return dataclasses.asdict(cfg)


def config_from_dict(data: dict, cls: type = TrainConfig) -> Any:
    """Rebuild a config dataclass from :func:`config_to_dict` output (validated)."""
    try:
        merged = OmegaConf.merge(_schema(cls), OmegaConf.create(upgrade_config_dict(data)))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(_describe(exc)) from None
