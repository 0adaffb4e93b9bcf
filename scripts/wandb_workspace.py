#!/usr/bin/env python
"""Print the recommended W&B dashboard layout, or save it as a workspace of a W&B project.

    python scripts/wandb_workspace.py                                   # the layout as JSON
    python scripts/wandb_workspace.py --entity ME --project echelon --save

Saving needs ``pip install wandb-workspaces``, a W&B account (WANDB_API_KEY) and network; an
offline run is synced first with ``wandb sync RUN_DIR/wandb/offline-run-*``.
"""

import argparse
import json
import sys

from echelon.metrics.wandb_layout import ROWS, build_workspace


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entity")
    p.add_argument("--project", default="echelon")
    p.add_argument("--name", default="Echelon")
    p.add_argument("--save", action="store_true", help="save the workspace to W&B and print its URL")
    args = p.parse_args()
    if not args.save:
        print(json.dumps([{"row": title, "panels": panels} for title, panels in ROWS], indent=1))
        return 0
    if not args.entity:
        p.error("--save needs --entity")
    workspace = build_workspace(args.entity, args.project, args.name)
    workspace.save()
    print(workspace.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
