"""Arena training, worker side: who drives red in each env copy, drawn per match.

With ``league.path`` set the env is built with red as policy rows too (:func:`arena_config`) and
the :class:`~echelon.ppo.rollout.RolloutCollector` gets an :class:`Arena` as its ``opponents``
hook. At every match start of every env copy (its rows' ``episode_start``), the arena draws that
copy's opponent with the league's :class:`~echelon.league.sampling.OpponentSampler` and its own
seeded generator:

- ``heuristic@<p>``: the env's heuristic drives the copy's red mechs at fire probability ``p``
  (:class:`~echelon.league.opponents.ScriptedRed`);
- a league checkpoint: its CPU policy drives them, with its own LSTM state per row
  (:class:`~echelon.league.opponents.OpponentPool`; weights fetched once per id);
- ``self``: the learner's own actions stand and both sides learn.

Rows driven by an opponent are non-learning: :meth:`Arena.act` returns the mask of learning rows
and the collector ANDs it into the fragment's ``valid``, which keeps them out of the loss, the
advantage normalisation, the value and observation normalisers and the recurrence (GAE runs per
row, so a learning row's advantages never read an opponent row). Finished matches are annotated
with ``opponent`` / ``opponent_kind``, and their ``return`` is blue's team return (the learner's
side); :func:`match_results` turns them into ``(opponent id, kind, score for blue)`` for the
driver (:mod:`echelon.actors.league_link`), which rates them and ships new :class:`LeagueSet` s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from echelon.config import TrainConfig
from echelon.league.opponents import OpponentPool, ScriptedRed
from echelon.league.sampling import SELF, OpponentSampler

SCORE_OF_WINNER = {"blue": 1.0, "red": 0.0}  # anything else (draw, none) scores 0.5 for blue


@dataclass(frozen=True)
class LeagueSet:
    """What the driver ships to the rollout workers whenever the opponent pool changes.

    ``version`` counts the sets of one run; ``fire_probs`` maps each fixed (heuristic) id of the
    sampler to its fire probability; ``weights`` maps each checkpoint id to the source of its
    :func:`~echelon.league.opponents.policy_payload` (an ObjectRef on Ray; the dict itself in
    process). ``self`` needs neither.
    """

    version: int
    sampler: OpponentSampler
    fire_probs: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [i for i in self.sampler.ids if i != SELF and i not in self.fire_probs and i not in self.weights]
        if missing:
            raise ValueError(f"league set {self.version}: opponents {missing} have neither a fire probability "
                             "nor weights; the driver must ship one of them for every sampled id")


def check_arena_config(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` unless ``cfg`` can train in the arena (Echelon, blue = policy, no
    fire-probability curriculum: heuristic opponents play at their league entries' fire
    probabilities; curriculum stages over map size and packs are fine)."""
    if cfg.rollout.env != "echelon":
        raise ValueError(f"league.path is set but rollout.env is {cfg.rollout.env!r}; arena training plays "
                         "Echelon matches: use rollout.env=echelon or drop league.path")
    if cfg.env.blue != "policy":
        raise ValueError(f"league.path is set but env.blue is {cfg.env.blue!r}; the learner plays blue in "
                         "the arena: set env.blue=policy")
    # Map size and packs ranges apply to every match whoever the opponent is; a fire probability
    # would not: the arena's heuristic opponents play at their league entries' probabilities.
    fired = [i for i, s in enumerate(cfg.curriculum.stages)
             if s.weapon_fire_prob is not None or s.weapon_fire_prob_end is not None]
    if fired:
        raise ValueError(f"league.path is set but curriculum.stages {fired} set weapon_fire_prob; in the arena the "
                         "heuristic plays at its league entries' fire probabilities (league.fixed_fire_probs): "
                         "drop weapon_fire_prob and weapon_fire_prob_end from the stages (size_range and "
                         "packs_range may stay)")
    if cfg.ray.curriculum_fire_prob_start is not None:
        raise ValueError("league.path is set but so is ray.curriculum_fire_prob_start; in the arena the heuristic "
                         "plays at its league entries' fire probabilities (league.fixed_fire_probs): set "
                         "ray.curriculum_fire_prob_start=null")


def arena_config(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with red as policy rows when a league is set (the arena then drives them), else ``cfg``."""
    if not cfg.league.enabled:
        return cfg
    check_arena_config(cfg)
    return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, red="policy"))


def match_results(episodes: Sequence[dict]) -> tuple[tuple[str, str, float], ...]:
    """``((opponent id, opponent kind, score for blue), ...)`` of the annotated finished matches."""
    return tuple((ep["opponent"], ep["opponent_kind"], float(ep["score"])) for ep in episodes if "opponent" in ep)


def winner_score(episode: dict) -> float:
    """Blue's score of a finished Echelon match: 1 win, 0.5 draw, 0 loss."""
    outcome = episode.get("outcome")
    winner = outcome.get("winner") if isinstance(outcome, dict) else outcome
    return SCORE_OF_WINNER.get(winner, 0.5)


class Arena:
    """Per-copy opponents of one worker's ``EchelonVecEnv`` (red rows must be policy rows).

    ``opponent[e]`` / ``kind[e]``: the id and league kind of copy ``e``'s current opponent (None
    before the first draw); ``learning [R]`` bool: rows that learn (blue rows, and red rows of
    copies in self-play); ``played[e]``: the ids copy ``e`` played since the collector's last
    fragment start (introspection and tests); ``draws``: opponent draws so far.
    """

    def __init__(self, env: Any, seed: int) -> None:
        self.env = env
        self.E, self.A, self.R = env.num_envs, env.agents_per_env, env.num_rows
        self.red_row = np.asarray(env.row_team) == 1  # [R]
        if not self.red_row.any() or self.red_row.all():
            raise ValueError("the arena needs an env with both blue and red policy rows (env.red: policy)")
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xA7E4A]))
        self.scripted = ScriptedRed(env)
        self.pool = OpponentPool(env.single_observation_space, env.single_action_space, self.R)
        self.league: Optional[LeagueSet] = None
        self.opponent: list[Optional[str]] = [None] * self.E
        self.kind: list[Optional[str]] = [None] * self.E
        self.learning = ~self.red_row  # until the first draw every red row is an opponent's
        self.played: list[list[str]] = [[] for _ in range(self.E)]
        self.draws = 0
        self._groups: dict[str, np.ndarray] = {}  # checkpoint id -> red rows it drives
        self._scripted: dict[float, np.ndarray] = {}  # fire prob -> copies the heuristic drives

    def set_league(self, league: LeagueSet) -> None:
        """Take a new opponent set; matches in progress keep their opponent until they end."""
        self.league = league
        self.pool.keep_only(set(league.weights) | {o for o in self.opponent if o is not None})

    def act(self, obs: np.ndarray, episode_start: np.ndarray, env_action: dict[str, np.ndarray],
            fragment_start: bool = False) -> np.ndarray:
        """Draw opponents for the copies starting a match, let them act; return ``learning [R]``.

        ``obs [R, D]``, ``episode_start [R]`` bool: this step's observation and match starts;
        ``env_action``: the learner's batched env action for all rows, whose opponent rows are
        replaced in place (a ``move``/``comm`` array may be swapped for a float64 copy).
        """
        starts = np.asarray(episode_start).reshape(self.E, self.A).any(1)
        if starts.any():
            self._draw(np.nonzero(starts)[0])
        if fragment_start:
            self.played = [[o] for o in self.opponent]
        for p, copies in self._scripted.items():
            self.scripted.write(copies, p, env_action)
        for entry_id, rows in self._groups.items():
            self.pool.act(entry_id, rows, obs, episode_start, env_action)
        return self.learning

    def _draw(self, copies: np.ndarray) -> None:
        if self.league is None:
            raise RuntimeError("arena: no league set; the driver sends one (set_league) before the first sample")
        league = self.league
        sampler = league.sampler
        kinds = dict(zip(sampler.ids, sampler.kinds, strict=True))
        for e, entry_id in zip(copies.tolist(), sampler.sample_opponents(self.rng, len(copies)), strict=True):
            self.opponent[e], self.kind[e] = entry_id, kinds[entry_id]
            self.played[e].append(entry_id)  # (act resets played at a fragment's start, after drawing)
            if entry_id in league.weights:
                self.pool.load(entry_id, league.weights[entry_id])
        self.draws += len(copies)
        self._regroup()

    def _regroup(self) -> None:
        """Rows per checkpoint opponent, copies per heuristic fire probability, the learning mask."""
        league = self.league
        groups: dict[str, list[int]] = {}
        scripted: dict[float, list[int]] = {}
        learning = ~self.red_row
        for e, entry_id in enumerate(self.opponent):
            if entry_id is None:
                continue
            if entry_id == SELF:
                learning[e * self.A:(e + 1) * self.A] = True
            elif entry_id in league.fire_probs:
                scripted.setdefault(float(league.fire_probs[entry_id]), []).append(e)
            else:
                groups.setdefault(entry_id, []).append(e)
        self.learning = learning
        self._scripted = {p: np.asarray(c, np.int64) for p, c in scripted.items()}
        self._groups = {k: self.scripted.rows_of(np.asarray(c, np.int64)) for k, c in groups.items()}

    def finish(self, episodes: Sequence[dict]) -> None:
        """Annotate finished matches: ``opponent``, ``opponent_kind``, blue's ``score``; ``return``
        becomes blue's team return (the learner's side; the env's is the mean over both teams)."""
        for ep in episodes:
            e = int(ep["env"])
            ep["opponent"], ep["opponent_kind"], ep["score"] = self.opponent[e], self.kind[e], winner_score(ep)
            blue = (ep.get("team_returns") or {}).get("blue")
            if blue is not None:
                ep["return"] = float(blue)

    def report(self) -> dict:
        """``{"opponent": [id per copy], "played": [[ids] per copy], "fetches": {id: n}, "draws": n}``."""
        return {"opponent": list(self.opponent), "played": [list(p) for p in self.played],
                "fetches": dict(self.pool.fetches), "draws": self.draws}


def attach_arena(collector: Any, cfg: TrainConfig, seed: int) -> Any:
    """Give ``collector`` an :class:`Arena` as its ``opponents`` hook when a league is set; returns it."""
    if cfg.league.enabled:
        collector.opponents = Arena(collector.env, seed)
    return collector
