#!/usr/bin/env python
"""CPU of the metrics actor's work per update, in one process (no Ray, no training).

Plays ``--record`` updates of the config once (real env, initial policy, real learner; cached in
``--cache``), then replays them through a real MetricsHub (JSONL + W&B offline) and prints one
JSON object: CPU ms per timed update of this process and of the W&B service (see
:mod:`echelon.metrics.bench_hub`).

Example: ``python scripts/bench_metrics_hub.py --config ray_configs/smoke.yaml --strides 10 5 50 25 --updates 200``
"""

import argparse
import json
import sys

from echelon.metrics.bench_hub import load_or_record, replay, with_strides


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="ray_configs/smoke.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--strides", type=int, nargs=4, default=None, metavar=("COORD", "HIST", "SPATIAL", "TABLE"),
                   help="metrics strides for the replay (default: the config's)")
    p.add_argument("--record", type=int, default=50, help="updates played to build the stream")
    p.add_argument("--cache", default=None, help="pickle of the stream (read when present, else written)")
    p.add_argument("--updates", type=int, default=200, help="timed updates of the replay")
    p.add_argument("--warmup", type=int, default=None, help="untimed updates first (default: the largest stride)")
    p.add_argument("--level", default="full", choices=("full", "minimal"), help="metrics.level of the replay")
    p.add_argument("--no-wandb", action="store_true", help="W&B disabled instead of offline")
    p.add_argument("--no-transport", action="store_true", help="skip the pickling Ray would do")
    p.add_argument("--profile", default=None, help="write a cProfile of the timed updates here")
    args = p.parse_args(argv)
    stream = load_or_record(args.config, args.record, args.overrides, args.cache)
    res = replay(stream, args.config, with_strides(args.overrides, args.strides), args.updates, args.warmup,
                 wandb=not args.no_wandb, transport=not args.no_transport, profile=args.profile,
                 level=args.level)
    top = res.pop("profile_top_tottime", None)
    print(json.dumps(res, indent=2))
    if top:
        print(top, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
