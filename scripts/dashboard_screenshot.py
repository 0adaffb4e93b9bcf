#!/usr/bin/env python
"""Look at a training run's Ray dashboard in headless Chromium: auth dialog, token, Actors view.

    python scripts/dashboard_screenshot.py --config ray_configs/smoke.yaml --out docs/img

Prints a JSON summary (URL, the token command the driver printed, the actor classes seen, the
screenshots); exit 0 when the dialog appeared and the rollout workers, the learner and the
metrics actor were listed. Needs Debian's chromium (apt-get install -y chromium).
"""

import argparse
import json
import sys
from dataclasses import asdict

from echelon.viz.dashboard_shot import check_dashboard


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="ray_configs/smoke.yaml")
    p.add_argument("--out", default="docs/img", help="directory for dashboard_auth.png and dashboard_actors.png")
    p.add_argument("--run-dir", default=None)
    p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each step")
    args = p.parse_args()
    result = check_dashboard(args.config, args.out, args.run_dir, args.timeout)
    print(json.dumps({**asdict(result), "ok": result.ok}, indent=1))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
