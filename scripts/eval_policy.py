#!/usr/bin/env python
"""Evaluate a checkpoint in seeded matches (sides alternated) against the heuristic or another checkpoint.

    python scripts/eval_policy.py --checkpoint runs/<run>/checkpoints/ckpt_00000100.pt --matches 200 [--json]
"""

import argparse
import json
import sys

from echelon.eval.evaluate import evaluate
from echelon.model.loading import PolicyLoadError


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--opponent", default="heuristic", help="heuristic (default) or a checkpoint path")
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
    try:
        out = evaluate(args.checkpoint, args.opponent, args.matches, args.seed, args.greedy, args.workers,
                       args.fire_prob, args.packs_per_team, args.size, args.episode_seconds)
    except PolicyLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        lo, hi = out["win_rate_ci95"]
        print(f"{out['matches']} matches vs {out['opponent']} ({'greedy' if out['greedy'] else 'sampled'}): "
              f"{out['wins']} W / {out['draws']} D / {out['losses']} L, win rate {out['win_rate']:.3f} "
              f"[95% CI {lo:.3f}, {hi:.3f}]; reasons {out['reasons']}; {out['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
