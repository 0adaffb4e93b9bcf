#!/usr/bin/env python
"""Manage an Echelon self-play league: see ``python scripts/arena.py --help`` and docs/league.md.

Examples::

    python scripts/arena.py init league/league.json --config ray_configs/smoke.yaml
    python scripts/arena.py add league/league.json runs/<run>/checkpoints/ckpt_00000100.pt
    python scripts/arena.py eval league/league.json --matches 20
    python scripts/arena.py promote league/league.json --top-k 4
    python scripts/arena.py list league/league.json
"""

import sys

from echelon.league.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
