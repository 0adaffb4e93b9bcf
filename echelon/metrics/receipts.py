"""Failure receipts: what a person needs to see why an update was skipped or a worker failed.

A receipt is a directory ``RUN_DIR/receipts/<trace_id>/`` (the ``:`` of the trace id becomes
``-``) holding ``config.json`` (the run config), ``report.json`` (what failed: for a skipped
update where the non-finite numbers were, which rows, the batch's min/max/mean per array and the
model's parameter norms; for a worker, its traceback and env seed) and ``frame_XX.png`` (the last
steps of one match on the worker that produced the data, oldest first). The matching ``error``
record in the log names the directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from echelon.metrics import names as N
from echelon.metrics.schema import encode_nonfinite

RECEIPT_FRAMES = 8  # steps of match 0 each rollout env keeps for receipts
NONFINITE_UPDATE = "nonfinite_update"
WORKER_EXCEPTION = "worker_exception"


def receipt_dir(run_dir: str | Path, trace_id: str) -> Path:
    return Path(run_dir) / "receipts" / trace_id.replace(":", "-")


def write_receipt(
    run_dir: str | Path,
    trace_id: str,
    config: dict,
    report: dict[str, Any],
    frames: Sequence[np.ndarray] = (),
) -> Path:
    """Write one receipt directory (see the module docstring); returns its path.

    ``frames``: ``[H, W, 3]`` uint8 images, oldest first.
    """
    from PIL import Image

    out = receipt_dir(run_dir, trace_id)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", config)
    _write_json(out / "report.json", {"trace_id": trace_id, **report})
    for i, frame in enumerate(frames):
        Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(out / f"frame_{i:02d}.png")
    return out


def error_record(kind: str, message: str, update: int, trace_id: str, receipt: Optional[Path]) -> dict[str, Any]:
    """The log's ``error`` record of one incident."""
    return {
        N.KIND: N.KIND_ERROR,
        N.ERROR_KIND: kind,
        N.ERROR_MESSAGE: message,
        N.ERROR_RECEIPT: str(receipt) if receipt else None,
        N.TRAIN_UPDATE: int(update),
        N.TRACE_ID: trace_id,
    }


def describe_skip(report: dict[str, Any]) -> str:
    """One line for a skipped update: where the non-finite numbers were."""
    where = report.get("where", "batch")
    if where == "batch":
        arrays = sorted({r["array"] for r in report.get("rows", [])})
        return f"non-finite values in the batch ({', '.join(arrays)}; {report.get('bad_rows', 0)} rows); update skipped"
    return f"non-finite {where} at epoch {report.get('epoch')}; optimizer step and the rest of the update skipped"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(encode_nonfinite(data), indent=2, default=str) + "\n")
    os.replace(tmp, path)
