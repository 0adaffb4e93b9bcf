"""Time procedural map generation; prints one JSON line.

Usage: python scripts/bench_mapgen.py --size 100 --count 1000 --seed 0
"""

from __future__ import annotations

import argparse
import json

from echelon.env.mapgen import benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100, help="map side in cells (m)")
    parser.add_argument("--count", type=int, default=1000, help="maps to generate")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    args = parser.parse_args()
    print(json.dumps(benchmark(size=args.size, count=args.count, seed=args.seed)))


if __name__ == "__main__":
    main()
