#!/usr/bin/env python
"""Plot training curves from one or more ``train_log.jsonl`` files into a PNG (vs env steps).

Panels: return (mean, p10-p90 band), outcomes, end reasons, entropy and approx KL, value and
policy loss, throughput and policy lag, and every other metric in the update records; resumes
are dashed vertical lines. Several logs go on one figure to compare runs. Exit 1 when there is
nothing to plot. Examples::

    python scripts/plot_train_log.py runs/local-20260101-120000/train_log.jsonl
    python scripts/plot_train_log.py runs/a/train_log.jsonl runs/b/train_log.jsonl --out ab.png --smoothing 5
"""

import argparse
import sys

from echelon.metrics.plots import main_plot


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("logs", nargs="+", metavar="LOG", help="train_log.jsonl file(s)")
    parser.add_argument("--out", help="PNG to write (default: train.png beside the first log)")
    parser.add_argument("--smoothing", type=int, default=1, help="trailing mean over N updates (default 1: raw)")
    args = parser.parse_args(argv)
    return main_plot(args.logs, args.out, args.smoothing)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
