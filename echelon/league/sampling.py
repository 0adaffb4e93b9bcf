"""Opponent sampling: which policy plays red in the next match.

The driver builds an :class:`OpponentSampler` from the league once per pool change
(:func:`build_sampler`) and hands it to the rollout workers (it is a small frozen value, cheap to
pickle); each worker calls ``sampler.sample_opponent(rng)`` with its own seeded ``numpy.random.Generator``
for every environment copy at every reset, so the opponent is drawn per match, never shared by
the copies of one worker.

Mix: a ``heuristic_fraction`` of draws goes to the fixed heuristic entries named by
``league.fixed_fire_probs``, the rest to the pool (commanders plus the newest candidates, or the
learner itself under ``self_play``, id :data:`SELF`). With no pool yet every draw is a heuristic.
Within each group the weights are ``uniform`` or ``prioritised``: prioritised fictitious
self-play (Vinyals et al. 2019, AlphaStar, https://doi.org/10.1038/s41586-019-1724-z) weights an
opponent by ``p_lose ** priority_exponent``, where ``p_lose = 1 - E`` and ``E`` is the learner's
Glicko expected score against it (draws count half), so opponents the learner loses to come up
more often; exponent 0 is uniform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from echelon.config import LeagueConfig
from echelon.league.glicko2 import Rating, expected_score
from echelon.league.league import League, LeagueError, fixed_id

SELF = "self"  # the opponent id of pure self-play: the current policy, learning on both sides


@dataclass(frozen=True)
class OpponentSampler:
    """``ids[i]`` is drawn with probability ``probs[i]``; ``kinds[i]`` its league kind (``self`` for
    :data:`SELF`), for the opponent-mix metrics. Probabilities sum to 1."""

    ids: tuple[str, ...]
    probs: tuple[float, ...]
    kinds: tuple[str, ...]

    def sample_opponent(self, rng: np.random.Generator) -> str:
        """One opponent id (one match)."""
        return self.ids[int(rng.choice(len(self.ids), p=self.probs))]

    def sample_opponents(self, rng: np.random.Generator, n: int) -> list[str]:
        """``n`` independent draws (e.g. one per environment copy at a common reset)."""
        return [self.ids[i] for i in rng.choice(len(self.ids), size=n, p=self.probs)]

    def probability(self, entry_id: str) -> float:
        return self.probs[self.ids.index(entry_id)] if entry_id in self.ids else 0.0


def pfsp_weights(p_lose: Sequence[float], exponent: float) -> np.ndarray:
    """``p_lose ** exponent`` (``[N]``, unnormalised); all ones when every weight is 0 (a learner
    expected to beat everyone still needs opponents)."""
    w = np.power(np.clip(np.asarray(p_lose, dtype=np.float64), 0.0, 1.0), float(exponent))
    return w if w.sum() > 0 else np.ones_like(w)


def _group_weights(opponents: Sequence[Rating], learner: Rating, cfg: LeagueConfig) -> np.ndarray:
    if cfg.sampling == "uniform":
        w = np.ones(len(opponents))
    else:
        w = pfsp_weights([1.0 - expected_score(learner, o) for o in opponents], cfg.priority_exponent)
    return w / w.sum()


def build_sampler(league: League, cfg: LeagueConfig, learner: Union[Rating, str, None] = None,
                  exclude: Sequence[str] = ()) -> OpponentSampler:
    """The sampler for a learner rated ``learner`` (a :class:`Rating`, an entry id, or None for a
    new player at 1500 / 350). ``exclude`` lists ids kept out of the pool (the learner's own
    snapshot). Raises :class:`LeagueError` when a configured fire probability has no fixed entry
    in the league, or when there is no opponent at all."""
    me = league.get(learner).glicko if isinstance(learner, str) else (learner or Rating())
    fixed = []
    for p in cfg.fixed_fire_probs:
        key = fixed_id(p)
        if key not in league.entries:
            raise LeagueError(f"league.fixed_fire_probs has {p} but league {str(league.path)!r} has no entry "
                              f"{key!r}; make the league with that fire probability or drop it from the config")
        fixed.append(league.entries[key])
    if cfg.self_play:
        pool_ids, pool_kinds, pool_ratings = [SELF], [SELF], [me]
    else:
        pool = [e for e in league.pool(cfg.recent_candidates) if e.id not in set(exclude)]
        pool_ids, pool_kinds, pool_ratings = [e.id for e in pool], [e.kind for e in pool], [e.glicko for e in pool]
    share = cfg.heuristic_fraction if pool_ids else 1.0
    if not fixed:
        share = 0.0
    if not fixed and not pool_ids:
        raise LeagueError(f"league {str(league.path)!r} offers no opponent: no commander or candidate, and "
                          "league.fixed_fire_probs is empty; add a checkpoint or a heuristic fire probability")
    if share == 0.0:
        fixed = []  # not drawn: keep them out of the sampler rather than at probability 0
    probs: list[float] = []
    if fixed:
        probs += list(share * _group_weights([e.glicko for e in fixed], me, cfg))
    if pool_ids:
        probs += list((1.0 - share) * _group_weights(pool_ratings, me, cfg))
    ids = [e.id for e in fixed] + pool_ids
    kinds = ["fixed"] * len(fixed) + pool_kinds
    total = float(sum(probs))
    return OpponentSampler(tuple(ids), tuple(float(p) / total for p in probs), tuple(kinds))

