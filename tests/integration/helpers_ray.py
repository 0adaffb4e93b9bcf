"""Shared helpers for the real-Ray integration tests (no Ray is mocked anywhere)."""

import json
from pathlib import Path

from echelon.metrics import names as N

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "ray_configs" / "smoke.yaml"


def read_log(run_dir):
    return [json.loads(line) for line in (Path(run_dir) / "train_log.jsonl").read_text().splitlines()]


def updates_of(records):
    return [r for r in records if r[N.KIND] == N.KIND_UPDATE]
