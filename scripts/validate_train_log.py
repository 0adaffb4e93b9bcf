#!/usr/bin/env python
"""Check a run's ``train_log.jsonl`` against the log contract (``echelon.metrics.schema``).

Exit 0 when the log is valid, 1 otherwise. Prints each defect as ``LOG:LINE: what`` and a JSON
summary (record counts per kind, first/last env step, resumes, error records, anomalies); with
``--json`` one JSON object ``{"ok", "errors", "summary"}`` instead. Examples::

    python scripts/validate_train_log.py runs/local-20260101-120000/train_log.jsonl
    python scripts/validate_train_log.py tests/data/example_train_log.jsonl --json
"""

import argparse
import sys

from echelon.metrics.validate import main_validate


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("log", help="path of a train_log.jsonl")
    parser.add_argument("--json", action="store_true", help="print one JSON object (ok, errors, summary)")
    parser.add_argument("--max-errors", type=int, default=50, help="defects printed in text mode (default 50)")
    args = parser.parse_args(argv)
    return main_validate(args.log, as_json=args.json, max_errors=args.max_errors)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
