"""The match curriculum: stages of the heuristic's strength, map size and team size, and when to move on.

Pure bookkeeping, no Ray: the driver owns one :class:`Curriculum`, feeds it the outcomes of the
matches its workers finish (:meth:`Curriculum.observe`) and the env-step count after every
update (:meth:`Curriculum.on_update`), pushes :meth:`Curriculum.params` to the workers whenever
they change (``RolloutWorker.set_curriculum``), logs :meth:`Curriculum.record` with every update
and saves :meth:`Curriculum.state_dict` in every checkpoint, so a resumed run continues at the
stage it reached (a stage reached by win rate cannot be recomputed from the env-step count).

A stage (``curriculum.stages[i]`` of :class:`~echelon.config.CurriculumConfig`) sets the
heuristic's ``weapon_fire_prob`` (optionally ramped linearly to ``weapon_fire_prob_end`` over the
stage) and the ``[lo, hi]`` ranges a match's map side and packs per team are drawn from at each
reset. The run leaves a stage at its schedule point (``until_env_steps``, or ``until_fraction`` of
``learner.total_env_steps``) or once the blue team's win rate over the last ``window`` matches
played *at this stage* has been at least ``until_win_rate`` for ``hold`` consecutive updates,
whichever comes first. Matches count for the stage their fragment was sampled at (the worker
stamps the stage it was last sent), so a stage is judged on its own matches, not on the easier
ones before it; a match that straddles the change counts for the new stage.

The older ``ray.curriculum_fire_prob_start`` / ``ray.curriculum_fraction`` ramp is the same as
two stages, ``{weapon_fire_prob: start, weapon_fire_prob_end: env.heuristic_weapon_fire_prob,
until_fraction: fraction}, {}``; :func:`stages_of` builds them, so both spellings run here.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from echelon.config import ConfigError, CurriculumStage, TrainConfig
from echelon.metrics import names as N

log = logging.getLogger(__name__)

STATE_FORMAT = 1
# A ramped fire probability is re-sent once it moved this much (as the older ramp did): the
# workers then get about 100 calls over a ramp instead of one per update.
FIRE_PROB_RESEND = 0.01
# Match results as the driver counts them, from the blue (policy) team's side.
WIN, DRAW, LOSS = 1, 0, -1


@dataclass(frozen=True)
class Stage:
    """A resolved stage: env values filled in, the schedule point in absolute env steps."""

    fire_prob: float
    fire_prob_end: Optional[float]
    size_range: Optional[tuple[int, int]]
    packs_range: Optional[tuple[int, int]]
    until_env_steps: Optional[float]  # float: until_fraction x total_env_steps need not be whole
    until_win_rate: Optional[float]


def stages_of(cfg: TrainConfig) -> list[Stage]:
    """The run's stages (``curriculum.stages``, or the older ray ramp as two stages); [] = none.

    A stage that leaves a range unset while another stage sets it gets the env's own range
    (``env.size_range`` / ``env.packs_range``, or the full map and team as a one-value range)
    explicitly: ``EchelonVecEnv.set_curriculum`` keeps a range it is given None for, so going back
    to the full match has to be said.
    """
    env = cfg.env
    fire_default = env.heuristic_weapon_fire_prob
    if cfg.rollout.env != "echelon":
        return []
    raw: list[CurriculumStage] = list(cfg.curriculum.stages)
    if not raw and cfg.ray.curriculum_fire_prob_start is not None:
        raw = [CurriculumStage(weapon_fire_prob=cfg.ray.curriculum_fire_prob_start, weapon_fire_prob_end=fire_default,
                               until_fraction=cfg.ray.curriculum_fraction),
               CurriculumStage()]
    # The env's own matches as ranges: its config's, or the full (square) map and team.
    own_size = env.size_range if env.size_range is not None else [env.size_x] * 2
    own_packs = env.packs_range if env.packs_range is not None else [env.packs_per_team] * 2
    any_size = any(s.size_range is not None for s in raw)
    any_packs = any(s.packs_range is not None for s in raw)
    total = cfg.learner.total_env_steps
    out = []
    for s in raw:
        size = s.size_range if s.size_range is not None else (own_size if any_size else None)
        packs = s.packs_range if s.packs_range is not None else (own_packs if any_packs else None)
        until = s.until_env_steps if s.until_env_steps is not None else (
            s.until_fraction * total if s.until_fraction is not None else None)
        out.append(Stage(
            fire_prob=fire_default if s.weapon_fire_prob is None else float(s.weapon_fire_prob),
            fire_prob_end=s.weapon_fire_prob_end,
            size_range=None if size is None else (int(size[0]), int(size[1])),
            packs_range=None if packs is None else (int(packs[0]), int(packs[1])),
            until_env_steps=None if until is None else float(until),
            until_win_rate=s.until_win_rate,
        ))
    return out


def require_env_support(stages: Iterable[Stage], env_cls: Any = None) -> None:
    """Raise :class:`ConfigError` when a stage asks for ranges the vector env cannot apply.

    Map-size and team-size ranges need ``EchelonVecEnv.set_curriculum``; the fire probability
    alone works through ``set_heuristic_weapon_fire_prob`` as well. Checked on the driver, before
    any worker starts, so the run fails at once instead of training on the wrong matches.
    """
    if env_cls is None:
        from echelon.env.vec_env import EchelonVecEnv as env_cls
    wants = sorted({name for s in stages for name, r in (("size_range", s.size_range), ("packs_range", s.packs_range))
                    if r is not None})
    if wants and not hasattr(env_cls, "set_curriculum"):
        raise ConfigError(f"curriculum stages set {' and '.join(wants)}, but {env_cls.__name__} has no set_curriculum "
                          "to apply them with; remove them from curriculum.stages or update the env")


def params_differ(a: Optional[dict], b: Optional[dict]) -> bool:
    """Whether params ``b`` must be sent to a worker holding ``a`` (None = nothing sent yet)."""
    if a is None or b is None:
        return a is not b
    if a.get("size_range") != b.get("size_range") or a.get("packs_range") != b.get("packs_range"):
        return True
    fa, fb = a.get("weapon_fire_prob"), b.get("weapon_fire_prob")
    if fa is None or fb is None:
        return fa is not fb
    return abs(fa - fb) >= FIRE_PROB_RESEND


class Curriculum:
    """The stage in force, its win-rate window and the env-step count it was computed at.

    Args:
        stages: from :func:`stages_of` (at least one).
        window: matches of the current stage the win rate is taken over.
        hold: consecutive updates the win rate must stay at the stage's threshold.
        env_steps: the run's env steps now (0 for a fresh run); schedule stages already passed
            are skipped, so a run resumed from a checkpoint without curriculum state lands where
            its schedule says.
        state: :meth:`state_dict` of a checkpoint to continue from (None, or a checkpoint of an
            older format holding a bare fire probability, starts from the schedule).
    """

    def __init__(self, stages: list[Stage], window: int, hold: int, env_steps: int = 0,
                 state: Optional[dict] = None) -> None:
        if not stages:
            raise ValueError("a curriculum needs at least one stage")
        self.stages = stages
        self.window = int(window)
        self.hold = int(hold)
        self.stage = 0
        self.stage_start = 0  # env steps when the current stage began
        self.env_steps = int(env_steps)
        self.results: deque[int] = deque(maxlen=self.window)  # WIN/DRAW/LOSS of this stage's matches
        self.held = 0  # consecutive updates the win rate has met the threshold
        if isinstance(state, dict):
            self.load_state_dict(state)
            self.env_steps = int(env_steps)
        self.on_update(self.env_steps, count_hold=False)

    @classmethod
    def from_config(cls, cfg: TrainConfig, state: Any = None, env_steps: int = 0) -> Optional["Curriculum"]:
        """The run's curriculum, None when it has none; raises :class:`ConfigError` when the env
        cannot apply its ranges (:func:`require_env_support`)."""
        stages = stages_of(cfg)
        if not stages:
            return None
        require_env_support(stages)
        return cls(stages, cfg.curriculum.window, cfg.curriculum.hold, env_steps=env_steps, state=state)

    # -- inputs --------------------------------------------------------------------------------

    def observe(self, tag: int, outcomes: Iterable[int]) -> None:
        """Results (WIN/DRAW/LOSS, oldest first) of matches finished in a fragment sampled at stage ``tag``.

        Fragments of another stage (sampled before the worker got the current one) are ignored.
        """
        if tag == self.stage:
            self.results.extend(int(o) for o in outcomes)

    def on_update(self, env_steps: int, count_hold: bool = True) -> bool:
        """Advance past every stage whose condition holds at ``env_steps``; True when the stage changed.

        ``count_hold``: this call is an update (the win-rate condition counts it toward ``hold``);
        False when only catching up with the schedule (construction, resume).
        """
        self.env_steps = int(env_steps)
        before = self.stage
        while self.stage < len(self.stages) - 1:
            s = self.stages[self.stage]
            due = s.until_env_steps is not None and self.env_steps >= s.until_env_steps
            if s.until_win_rate is not None and count_hold:
                rate = self.win_rate()
                met = rate is not None and len(self.results) >= self.window and rate >= s.until_win_rate
                self.held = self.held + 1 if met else 0
                due = due or self.held >= self.hold
            if not due:
                break
            self._enter(self.stage + 1)
            count_hold = False  # the new stage's window is empty; it is judged from the next update
        if self.stage != before:
            log.info("curriculum: stage %d -> %d at %d env steps (%s)", before, self.stage, self.env_steps,
                     self.params())
        return self.stage != before

    def _enter(self, stage: int) -> None:
        self.stage = stage
        self.stage_start = self.env_steps
        self.results.clear()
        self.held = 0

    # -- outputs -------------------------------------------------------------------------------

    def win_rate(self) -> Optional[float]:
        """Blue's win rate over the current stage's window (draws count as not won); None before any match."""
        if not self.results:
            return None
        return sum(r == WIN for r in self.results) / len(self.results)

    def fire_prob(self) -> float:
        """The heuristic's weapon fire probability now (ramped within the stage when it says so)."""
        s = self.stages[self.stage]
        if s.fire_prob_end is None or s.until_env_steps is None:
            return s.fire_prob
        span = s.until_env_steps - self.stage_start
        t = 1.0 if span <= 0 else min(1.0, max(0.0, (self.env_steps - self.stage_start) / span))
        return s.fire_prob + (s.fire_prob_end - s.fire_prob) * t

    def params(self) -> dict[str, Any]:
        """What the workers' envs get: ``{"weapon_fire_prob": p, "size_range": [lo, hi] | None,
        "packs_range": [lo, hi] | None}`` (None: the env's own value, never changed here)."""
        s = self.stages[self.stage]
        return {
            "weapon_fire_prob": self.fire_prob(),
            "size_range": None if s.size_range is None else list(s.size_range),
            "packs_range": None if s.packs_range is None else list(s.packs_range),
        }

    def push(self) -> tuple[int, dict[str, Any]]:
        """``(tag, params)`` for the workers: the tag (stage index) comes back on their fragments."""
        return self.stage, self.params()

    def record(self) -> dict[str, Any]:
        """The ``curriculum/`` keys of an update record (range bounds only for stages that set them)."""
        p = self.params()
        out: dict[str, Any] = {
            N.CURRICULUM_STAGE: self.stage,
            N.CURRICULUM_WEAPON_FIRE_PROB: p["weapon_fire_prob"],
            N.CURRICULUM_WINDOW_MATCHES: len(self.results),
            N.CURRICULUM_HELD: self.held,
        }
        rate = self.win_rate()
        if rate is not None:
            out[N.CURRICULUM_WIN_RATE] = rate
        if p["size_range"] is not None:
            out[N.CURRICULUM_SIZE_MIN], out[N.CURRICULUM_SIZE_MAX] = p["size_range"]
        if p["packs_range"] is not None:
            out[N.CURRICULUM_PACKS_MIN], out[N.CURRICULUM_PACKS_MAX] = p["packs_range"]
        return out

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able state: ``{"format", "stage", "num_stages", "stage_start", "env_steps",
        "results", "held"}`` (``results``: the window as a list of 1/0/-1)."""
        return {
            "format": STATE_FORMAT,
            "stage": self.stage,
            "num_stages": len(self.stages),
            "stage_start": self.stage_start,
            "env_steps": self.env_steps,
            "results": list(self.results),
            "held": self.held,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`. A stage index past this config's last stage (the
        stages were edited for the resume) is clamped to the last stage, with a warning."""
        stage = int(state.get("stage", 0))
        if state.get("num_stages") not in (None, len(self.stages)):
            log.warning("curriculum: the checkpoint had %s stages, this config has %d; continuing at stage %d",
                        state.get("num_stages"), len(self.stages), min(stage, len(self.stages) - 1))
        self.stage = min(max(stage, 0), len(self.stages) - 1)
        self.stage_start = int(state.get("stage_start", 0))
        self.results = deque((int(r) for r in state.get("results", ())), maxlen=self.window)
        self.held = int(state.get("held", 0))


def match_result(winner: Optional[str]) -> Optional[int]:
    """WIN/DRAW/LOSS of the blue team for an episode's winner (``"blue" | "red" | "draw" | "none"``);
    None when the episode reported none (not an Echelon match)."""
    if winner == "blue":
        return WIN
    if winner == "red":
        return LOSS
    if winner in ("draw", "none"):
        return DRAW
    return None
