#!/usr/bin/env python
"""Ours vs RLlib's PPO + LSTM on the same Echelon config, cores and wall time; prints JSON.

Runs our actor-learner, then RLlib's PPO (new API stack, ``echelon/baselines/rllib.py``), each
on a fresh local Ray instance with ``--num-cpus`` CPUs for ``--seconds`` of wall time, and prints
env-steps/s, agent-steps/s, the learning team's mean return and win rate at equal env steps, and
ours / RLlib for each (see ``echelon/baselines/compare.py`` for the definitions).

Example: ``python scripts/bench_vs_rllib.py --json --config ray_configs/bench_vs_rllib.yaml --seconds 300``
"""

import argparse
import json
import sys

from echelon.baselines.compare import compare


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="ray_configs/bench_vs_rllib.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--seconds", type=float, default=300.0, help="wall time for each system")
    p.add_argument("--rllib-seconds", type=float, default=None,
                   help="a longer budget for RLlib, to compare learning at more env steps (default: --seconds)")
    p.add_argument("--num-cpus", type=int, default=2, help="CPUs of each system's local Ray instance")
    p.add_argument("--run-dir", default=None, help="where our run's log goes (default runs/bench_vs_rllib-<time>)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (the only output format)")
    args = p.parse_args(argv)
    result = compare(args.config, args.overrides, seconds=args.seconds, num_cpus=args.num_cpus, run_dir=args.run_dir,
                     rllib_seconds=args.rllib_seconds)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
