#!/usr/bin/env python
"""Evaluate a checkpoint in seeded matches (sides alternated) against the heuristic, another checkpoint or a
league entry, optionally recording the results in a league as one rating period (docs/league.md).

    python scripts/eval_policy.py --checkpoint runs/<run>/checkpoints/ckpt_00000100.pt --matches 200 [--json]
    python scripts/eval_policy.py --checkpoint CKPT --opponent league:heuristic@1.0 --record-league league.json
"""

import argparse
import json
import sys

from echelon.checkpoint import CheckpointError
from echelon.eval.evaluate import evaluate
from echelon.league.league import LeagueError
from echelon.league.matches import plan_eval, record_eval
from echelon.model.loading import PolicyLoadError


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--opponent", default="heuristic",
                   help="heuristic (default), a checkpoint path, or league:<id> (an entry of --league)")
    p.add_argument("--league", default=None, help="league file that --opponent league:<id> names an entry of")
    p.add_argument("--record-league", default=None, metavar="PATH",
                   help="record the matches in this league as one rating period (both sides must be entries)")
    p.add_argument("--matches", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fire-prob", type=float, default=None, help="heuristic weapon fire probability (0..1)")
    p.add_argument("--packs-per-team", type=int, default=None)
    p.add_argument("--size", type=int, default=None, help="map side (m)")
    p.add_argument("--episode-seconds", type=float, default=None, help="match length (default: the checkpoint's)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", dest="greedy", action="store_true", default=True, help="mode actions (default)")
    mode.add_argument("--sample", dest="greedy", action="store_false", help="sampled actions")
    p.add_argument("--workers", type=int, default=1, help="Ray tasks to spread the matches over")
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")
    args = p.parse_args(argv)
    overrides = dict(packs_per_team=args.packs_per_team, size=args.size, episode_seconds=args.episode_seconds)
    try:
        plan = plan_eval(args.checkpoint, args.opponent, args.fire_prob, args.league, args.record_league, overrides)
        out = evaluate(args.checkpoint, plan.opponent, args.matches, args.seed, args.greedy, args.workers,
                       plan.fire_prob, args.packs_per_team, args.size, args.episode_seconds)
        if plan.record is not None:
            league = record_eval(plan, out)
            out["league"] = {e: league.entries[e].to_dict() for e in (plan.a_id, plan.b_id)}
    except (PolicyLoadError, LeagueError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        lo, hi = out["win_rate_ci95"]
        print(f"{out['matches']} matches vs {out['opponent']} ({'greedy' if out['greedy'] else 'sampled'}): "
              f"{out['wins']} W / {out['draws']} D / {out['losses']} L, win rate {out['win_rate']:.3f} "
              f"[95% CI {lo:.3f}, {hi:.3f}]; reasons {out['reasons']}; {out['wall_s']} s")
        for entry in out.get("league", {}).values():
            print(f"league {args.record_league}: {entry['id']} now {entry['rating']:.1f} (RD {entry['rd']:.1f}, "
                  f"{entry['games']} games)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
