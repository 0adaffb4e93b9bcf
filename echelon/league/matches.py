"""League matches through :mod:`echelon.eval.evaluate`: playing two entries, and turning an
evaluation into a rating period (``scripts/arena.py eval``, ``scripts/eval_policy.py
--opponent league:<id> --record-league PATH``).

A match between a checkpoint entry and a fixed entry is the checkpoint against the env's
heuristic at the fixed entry's fire probability; two fixed entries cannot play each other (the
evaluator needs a policy on one side). Matches use the checkpoint's own env, which the league's
env signature already made equal to every other entry's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from echelon.eval.evaluate import evaluate
from echelon.league.league import Entry, League, LeagueError, fixed_id

SCORE_OF = {"wins": 1.0, "draws": 0.5, "losses": 0.0}


def results_from_summary(a_id: str, b_id: str, summary: dict[str, Any]) -> list[tuple[str, str, float]]:
    """``[(a_id, b_id, score_for_a)]``, one per match of an :func:`evaluate` summary (played by ``a``)."""
    return [(a_id, b_id, score) for key, score in SCORE_OF.items() for _ in range(int(summary[key]))]


def opponent_args(league: League, entry: Entry) -> tuple[str, Optional[float]]:
    """``(opponent, fire_prob)`` for :func:`evaluate` to play ``entry``: ``("heuristic", p)`` for a
    fixed entry, ``(checkpoint path, None)`` otherwise."""
    if entry.kind == "fixed":
        return "heuristic", float(entry.meta["fire_prob"])
    return str(league.checkpoint_path(entry)), None


def play_pair(league: League, a: Entry, b: Entry, matches: int, seed: int, greedy: bool = True,
              workers: int = 1) -> tuple[Entry, Entry, dict[str, Any]]:
    """Play ``matches`` seeded matches (sides alternated) of ``a`` against ``b``.

    Returns ``(first, second, summary)``: ``first`` is the side the evaluator drove (the one
    with a checkpoint; ``a`` when both have one) and the summary counts from its side.
    """
    if a.checkpoint is None:
        a, b = b, a
    if a.checkpoint is None:
        raise LeagueError(f"{a.id!r} and {b.id!r} are both fixed heuristics; one side needs a checkpoint")
    opponent, fire_prob = opponent_args(league, b)
    summary = evaluate(league.checkpoint_path(a), opponent, matches, seed, greedy, workers, fire_prob)
    return a, b, summary


@dataclass(frozen=True)
class LeagueEval:
    """What ``eval_policy.py`` plays and records: the evaluator's ``opponent`` and ``fire_prob``;
    with ``record`` set, the league file and the ids of the two sides to rate."""

    opponent: str
    fire_prob: Optional[float]
    record: Optional[Path] = None
    a_id: Optional[str] = None
    b_id: Optional[str] = None


def plan_eval(checkpoint: str, opponent: str, fire_prob: Optional[float], league_path: Optional[Path],
              record_path: Optional[Path], env_overrides: dict[str, Any]) -> LeagueEval:
    """Resolve ``league:<id>`` opponents and the league ids to record for ``eval_policy.py``.

    ``env_overrides`` are the match-changing flags (``--size`` ...): results under other rules are
    not league results, so recording refuses them. Raises :class:`LeagueError` with the fix.
    """
    if opponent.startswith("league:"):
        source = league_path or record_path
        if source is None:
            raise LeagueError(f"--opponent {opponent} needs the league file: pass --league PATH (or --record-league)")
        src = League.load(source)
        entry = src.get(opponent.split(":", 1)[1])
        opponent, entry_fire = opponent_args(src, entry)
        if entry_fire is not None and fire_prob is not None and fire_prob != entry_fire:
            raise LeagueError(f"{entry.id} plays at fire probability {entry_fire}; drop --fire-prob {fire_prob}")
        fire_prob = entry_fire if entry_fire is not None else fire_prob
    if record_path is None:
        return LeagueEval(opponent, fire_prob)
    changed = sorted(k for k, v in env_overrides.items() if v is not None)
    if changed:
        raise LeagueError(f"--record-league records league matches, which use the league's env; drop {changed}")
    league = League.load(record_path)
    mine = league.find_by_checkpoint(checkpoint)
    if mine is None:
        raise LeagueError(f"checkpoint {checkpoint!r} is not in league {str(record_path)!r}; add it first with "
                          f"scripts/arena.py add {record_path} {checkpoint}")
    if opponent == "heuristic":
        if fire_prob is None:  # the evaluator then plays the checkpoint's own training fire probability
            from echelon.checkpoint import load_training_state

            fire_prob = float(load_training_state(checkpoint).config["env"]["heuristic_weapon_fire_prob"])
        theirs = league.get(fixed_id(fire_prob))
    else:
        theirs = league.find_by_checkpoint(opponent)
        if theirs is None:
            raise LeagueError(f"opponent checkpoint {opponent!r} is not in league {str(record_path)!r}; add it with "
                              f"scripts/arena.py add {record_path} {opponent}")
    if theirs.id == mine.id:
        raise LeagueError(f"{mine.id} would play itself; pick another opponent")
    return LeagueEval(opponent, fire_prob, Path(record_path), mine.id, theirs.id)


def record_eval(plan: LeagueEval, summary: dict[str, Any]) -> League:
    """Record an evaluation's matches as one rating period in ``plan.record`` (re-read, then saved)."""
    if plan.record is None or plan.a_id is None or plan.b_id is None:
        raise LeagueError("this evaluation has no league to record into (pass --record-league PATH)")
    league = League.load(plan.record)
    league.record_period(results_from_summary(plan.a_id, plan.b_id, summary))
    league.save()
    return league
