#!/usr/bin/env python
"""Cost of the metric families: training throughput, everything on vs ``metrics.level: minimal``.

Prints one JSON object (see :mod:`echelon.actors.bench_metrics`): env-steps/s of each run, the
per-pair ratios full / minimal and their median.

Example: ``python scripts/bench_metrics.py --config ray_configs/heuristic_only.yaml --pairs 3 --updates 20``
"""

import argparse
import json
import sys

from echelon.actors.bench_metrics import metrics_cost


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="ray_configs/smoke.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--pairs", type=int, default=3, help="ABBA pairs of runs (full, minimal)")
    p.add_argument("--updates", type=int, default=20,
                   help="timed updates per run after warm-up (rounded up to whole periods of the largest stride)")
    p.add_argument("--warmup", type=int, default=3, help="untimed updates first (at least the largest stride)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs for the local Ray instance (default: all)")
    p.add_argument("--learning", action="store_true",
                   help="let the policy learn (default: frozen, so both arms play the same matches)")
    args = p.parse_args(argv)
    print(json.dumps(metrics_cost(args.config, args.overrides, args.pairs, args.updates, args.warmup,
                                  args.num_cpus, frozen=not args.learning), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
