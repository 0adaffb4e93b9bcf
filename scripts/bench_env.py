"""Benchmark EchelonVecEnv steps on one core; prints one JSON object.

    python scripts/bench_env.py --num-envs 64 --packs-per-team 2 --size 100 --steps 200
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402

from echelon.env.bench import bench_env  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--packs-per-team", type=int, default=2)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--heuristic-both", action="store_true", help="heuristic drives both teams (no policy rows)")
    p.add_argument("--obs-mode", choices=("full", "partial"), default="full")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size-range", type=int, nargs=2, metavar=("LO", "HI"),
                   help="each match draws its map side in [LO, HI] (HI = --size)")
    p.add_argument("--packs-range", type=int, nargs=2, metavar=("LO", "HI"),
                   help="each match draws its packs per team in [LO, HI] (HI = --packs-per-team)")
    a = p.parse_args()
    print(json.dumps(bench_env(a.num_envs, a.packs_per_team, a.size, a.steps, a.heuristic_both, a.obs_mode, a.seed,
                               a.size_range, a.packs_range)))


if __name__ == "__main__":
    main()
