#!/usr/bin/env python
"""Train Echelon on Ray (or serially): see ``python scripts/train_distributed.py --help``.

Examples::

    python scripts/train_distributed.py --config ray_configs/local.yaml
    python scripts/train_distributed.py --config ray_configs/smoke.yaml --set ray.num_workers=2
    python scripts/train_distributed.py --resume runs/local-20260101-120000
"""

import sys

from echelon.actors.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
