"""Learning checks over seeds (``make learn``): see :mod:`echelon.actors.learning_checks`.

Prints one JSON line per (task, seed) as it finishes (first step at the bar, final-10% score,
best span, late drop, alarms raised), then one JSON line per task (mean and worst seed), then
the wall time; exit status 0 when every seed of every task passed.

    python scripts/bench_learning.py [--tasks cartpole pendulum] [--seeds 1 2 3] [--jobs 2]
                                     [--set ppo.lr_schedule=constant] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from echelon.actors.learning_checks import DEFAULT_TASKS, TASKS, aggregate, run_checks, task_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, choices=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=2, help="seeds run in parallel (one CPU each)")
    parser.add_argument("--run-root", type=Path, default=None, help="where runs go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="also write all results as JSON here")
    parser.add_argument("--set", action="append", default=[], help="override for every task, e.g. ppo.lr=5e-4")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results = run_checks(args.tasks, args.seeds, args.jobs, args.run_root, args.set,
                         on_result=lambda r: print(json.dumps(r), flush=True))
    tasks = aggregate(results)
    for t in tasks:
        print(json.dumps(t), flush=True)
    wall = round(time.perf_counter() - t0, 1)
    print(json.dumps({"wall_s": wall, "jobs": args.jobs, "passed": all(t["passed"] for t in tasks)}), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"tasks": tasks, "seeds": results, "wall_s": wall,
                                        "overrides": args.set, "table": task_table()}, indent=2) + "\n")
    return 0 if all(t["passed"] for t in tasks) else 1


if __name__ == "__main__":
    sys.exit(main())
