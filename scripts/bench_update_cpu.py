#!/usr/bin/env python
"""CPU time (one thread) of one ``collector.sample()`` and one ``learner.update()`` on a config.

Process CPU time, not wall time: on a machine shared with other work it measures the code's own
cost, so two trees can be compared in alternating runs while others load the cores. Prints JSON:
medians over ``--iters`` fragments after 3 warm-up ones.

    OMP_NUM_THREADS=1 python scripts/bench_update_cpu.py --config ray_configs/smoke.yaml
"""

import argparse
import json
import sys

from echelon.actors.bench import sample_update_cpu


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="ray_configs/smoke.yaml")
    p.add_argument("--iters", type=int, default=20)
    args = p.parse_args(argv)
    print(json.dumps(sample_update_cpu(args.config, args.iters)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
