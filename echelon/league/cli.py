"""``scripts/arena.py``: manage a league from the shell (docs/league.md has an example session).

Subcommands, each taking the league file first: ``init`` (a new league for a run config's env),
``add`` (a checkpoint as a candidate, after checking its env signature), ``eval`` (seeded matches
between entries, recorded as one rating period), ``promote``, ``retire`` and ``list``.
``main(argv)`` is the whole command; a user error is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from echelon.checkpoint import CheckpointError, load_training_state
from echelon.config import ConfigError, LeagueConfig, config_from_dict, config_to_dict, load_config
from echelon.league.league import League, LeagueError
from echelon.league.matches import play_pair, results_from_summary
from echelon.league.signature import env_signature
from echelon.model.loading import PolicyLoadError, load_policy

USER_ERRORS = (LeagueError, ConfigError, CheckpointError, PolicyLoadError)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arena.py", description="Manage an Echelon self-play league (docs/league.md).")
    sub = p.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="make a new league for a run config's env")
    init.add_argument("league", type=Path, help="league file to create (JSON)")
    init.add_argument("--config", type=Path, required=True, help="YAML run config: its env and league: sections")
    init.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="dotted config override, repeatable (e.g. --set league.fixed_fire_probs=[0.5,1.0])")
    init.add_argument("--force", action="store_true", help="replace an existing league file")
    add = sub.add_parser("add", help="add a checkpoint as a candidate")
    add.add_argument("league", type=Path)
    add.add_argument("checkpoint", type=Path)
    add.add_argument("--id", help="entry id (default: the checkpoint's trace id, <run_id>:<update>)")
    add.add_argument("--name", help="display name (default: the id)")
    ev = sub.add_parser("eval", help="play entries against each other, record the results as one rating period")
    ev.add_argument("league", type=Path)
    ev.add_argument("--entries", nargs="+", help="ids to play round robin (default: every entry not retired)")
    ev.add_argument("--matches", type=int, default=20, help="matches per pair, sides alternated (default 20)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--sample", dest="greedy", action="store_false", help="sampled actions (default: mode actions)")
    ev.add_argument("--workers", type=int, default=1, help="Ray tasks per pair (default 1: no Ray)")
    pr = sub.add_parser("promote", help="candidates in the top K by conservative rating become commanders")
    pr.add_argument("league", type=Path)
    pr.add_argument("--top-k", type=int, help="default: the league's settings")
    rt = sub.add_parser("retire", help="retire commanders below the top K (never those under --min-games)")
    rt.add_argument("league", type=Path)
    rt.add_argument("--keep-top", type=int, help="default: the league's settings")
    rt.add_argument("--min-games", type=int, help="default: the league's settings")
    ls = sub.add_parser("list", help="entries by conservative rating")
    ls.add_argument("league", type=Path)
    ls.add_argument("--json", action="store_true", help="print the entries as JSON")
    return p


def settings(league: League) -> LeagueConfig:
    """The league: config section the league was made with (defaults for keys it lacks)."""
    return config_from_dict({k: v for k, v in league.settings.items() if k != "path"}, LeagueConfig)


def cmd_init(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    try:
        signature = env_signature(cfg)
    except ValueError as exc:
        raise LeagueError(f"{args.config}: {exc}") from None
    kept = {k: v for k, v in config_to_dict(cfg.league).items() if k != "path"}
    league = League.create(args.league, signature, cfg.league.fixed_fire_probs, cfg.league.tau, kept,
                           overwrite=args.force)
    print(f"created league {args.league} with {', '.join(league.entries) or 'no entries'}")
    return 0


def checkpoint_signature(path: Path) -> tuple[dict[str, Any], Any]:
    """``(env signature, training state)`` of a checkpoint; raises a user error when it does not load."""
    state = load_training_state(path)
    try:
        cfg = config_from_dict(state.config)
        return env_signature(cfg), state
    except (ConfigError, ValueError) as exc:
        raise LeagueError(f"checkpoint {str(path)!r}: {exc}") from None


def cmd_add(args: argparse.Namespace) -> int:
    league = League.load(args.league)
    signature, state = checkpoint_signature(args.checkpoint)
    league.check_signature(signature, f"checkpoint {str(args.checkpoint)!r}")
    same = league.find_by_checkpoint(args.checkpoint)
    if same is not None:
        raise LeagueError(f"checkpoint {str(args.checkpoint)!r} is already in the league as {same.id!r}")
    load_policy(args.checkpoint)  # the weights must build and load strictly before the entry exists
    entry_id = args.id or state.trace_id or f"{state.run_id}:{state.counters.update}"
    meta = {"run_id": state.run_id, "update": state.counters.update, "env_steps": state.counters.env_steps}
    entry = league.add_candidate(entry_id, args.checkpoint, args.name, meta)
    league.save()
    print(f"added {entry.id} as a candidate ({entry.checkpoint})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.matches < 1:
        raise LeagueError(f"--matches must be >= 1, got {args.matches}")
    league = League.load(args.league)
    ids = list(dict.fromkeys(args.entries or [e.id for e in league.entries.values() if e.kind != "retired"]))
    chosen = [league.get(i) for i in ids]
    pairs = [(a, b) for a, b in itertools.combinations(chosen, 2) if a.checkpoint or b.checkpoint]
    if not pairs:
        raise LeagueError(f"nothing to play among {ids}: every pair needs a checkpoint on one side "
                          "(add one with scripts/arena.py add)")
    results: list[tuple[str, str, float]] = []
    for a, b in pairs:
        first, second, summary = play_pair(league, a, b, args.matches, args.seed, args.greedy, args.workers)
        results += results_from_summary(first.id, second.id, summary)
        print(f"{first.id} vs {second.id}: {summary['wins']} W / {summary['draws']} D / {summary['losses']} L "
              f"({summary['wall_s']} s)")
    league.record_period(results)
    league.save()
    print(f"recorded rating period {league.periods}: {len(results)} games")
    print(format_table(league))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    league = League.load(args.league)
    top_k = args.top_k if args.top_k is not None else settings(league).top_k
    if top_k < 1:
        raise LeagueError(f"--top-k must be >= 1, got {top_k}")
    promoted = league.promote(top_k)
    league.save()
    print(f"promoted to commander: {', '.join(e.id for e in promoted) or 'none'} (top {top_k})")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    league = League.load(args.league)
    cfg = settings(league)
    keep = args.keep_top if args.keep_top is not None else cfg.keep_top
    min_games = args.min_games if args.min_games is not None else cfg.min_games
    if keep < 0 or min_games < 0:
        raise LeagueError(f"--keep-top and --min-games must be >= 0, got {keep} and {min_games}")
    retired = league.retire_commanders(keep, min_games)
    league.save()
    print(f"retired: {', '.join(e.id for e in retired) or 'none'} (keep top {keep}, min games {min_games})")
    return 0


def format_table(league: League) -> str:
    """One line per entry, best conservative rating first: rating, RD, conservative, games, kind."""
    rows = [("id", "kind", "rating", "rd", "conservative", "games", "name")]
    rows += [(e.id, e.kind, f"{e.rating:.1f}", f"{e.rd:.1f}", f"{e.conservative:.1f}", str(e.games), e.name)
             for e in league.ranked()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows)


def cmd_list(args: argparse.Namespace) -> int:
    league = League.load(args.league)
    if args.json:
        print(json.dumps([dict(e.to_dict(), conservative=e.conservative) for e in league.ranked()], indent=1))
    else:
        print(f"league {args.league}: {len(league.entries)} entries, {league.periods} rating periods")
        print(format_table(league))
    return 0


COMMANDS = {"init": cmd_init, "add": cmd_add, "eval": cmd_eval, "promote": cmd_promote, "retire": cmd_retire,
            "list": cmd_list}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
