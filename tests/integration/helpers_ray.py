"""Shared helpers for the real-Ray integration tests (no Ray is mocked anywhere)."""

import json
from pathlib import Path

from echelon.metrics import names as N

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "ray_configs" / "smoke.yaml"


def assert_valid_log(run_dir):
    """The run's log passes the log-contract validator (echelon.metrics.validate)."""
    from echelon.metrics.validate import validate_log

    result = validate_log(Path(run_dir) / "train_log.jsonl")
    assert result.ok, result.errors[:5]
    return result


def read_log(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "train_log.jsonl").read_text().splitlines()]


def updates_of(records):
    return [r for r in records if r[N.KIND] == N.KIND_UPDATE]
