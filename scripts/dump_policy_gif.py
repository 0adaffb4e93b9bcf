#!/usr/bin/env python
"""Play one Echelon match with a checkpoint's policy; write rollout.gif, rollout.jsonl and meta.json.

Blue is the checkpoint; red the env's heuristic (default) or a second checkpoint. Exit 1 with a
message when a checkpoint cannot be loaded or does not fit the env. Examples::

    python scripts/dump_policy_gif.py --checkpoint runs/smoke/checkpoints/ckpt_00000016.pt
    python scripts/dump_policy_gif.py --checkpoint A.pt --opponent B.pt --seed 3 --greedy --out /tmp/ab
"""

import argparse
import sys

from echelon.checkpoint import CheckpointError
from echelon.config import ConfigError
from echelon.model.loading import PolicyLoadError
from echelon.viz.policy_gif import HEURISTIC, dump_policy_gif


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--checkpoint", required=True, help="checkpoint file driving blue")
    parser.add_argument("--config", help="run config YAML whose env section sets the match (default: checkpoint's)")
    parser.add_argument("--opponent", default=HEURISTIC, help="'heuristic' (default) or a checkpoint file driving red")
    parser.add_argument("--seed", type=int, default=0, help="match and sampling seed (default 0)")
    parser.add_argument("--steps", type=int, help="stop after N env steps (default: until the match ends)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="take each action distribution's mode")
    mode.add_argument("--sample", action="store_true", help="sample actions, as in training (default)")
    parser.add_argument("--fps", type=float, default=8.0, help="GIF frames per second (default 8)")
    parser.add_argument("--out", help="output directory (default RUN_DIR/rollouts/<ckpt>_seed<S>)")
    args = parser.parse_args(argv)
    try:
        result = dump_policy_gif(
            args.checkpoint, args.out, config=args.config, opponent=args.opponent, seed=args.seed,
            steps=args.steps, greedy=args.greedy, fps=args.fps, command=[sys.argv[0], *argv],
        )
    except (PolicyLoadError, CheckpointError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    winner = (result.outcome or {}).get("winner", "none (stopped before the end)")
    print(f"{result.steps} steps, {result.frames} frames, winner {winner}: {result.gif} {result.jsonl} {result.meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
