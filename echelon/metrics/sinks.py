"""Where metric records go: JSONL (always), console line, Weights & Biases.

A sink takes whole records (flat dicts keyed by :mod:`echelon.metrics.names`) and never
aggregates; aggregation is the hub's job.
"""

from __future__ import annotations

import math
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Optional, TextIO

from echelon.metrics import names as N
from echelon.metrics import schema


class Sink:
    """Interface: ``write(record)``, ``flush()``, ``close()``."""

    def write(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.flush()


class JsonlSink(Sink):
    """Appends one JSON object per line and flushes it to the OS after every record.

    Lines follow :mod:`echelon.metrics.schema`: strict JSON with NaN and infinities written as
    the strings ``"nan"``, ``"inf"``, ``"-inf"`` (read back by :mod:`echelon.metrics.logread`).

    Appending (never truncating) keeps the history of a resumed run in one file. Each record
    is one ``write`` of a complete line, so a crash loses at most the line being written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: Optional[TextIO] = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            raise RuntimeError(f"JSONL sink {self.path} is closed")
        # Non-finite floats become "nan"/"inf"/"-inf" (schema.dumps), never null: a run whose
        # loss exploded must not produce a log that looks clean.
        self._fh.write(schema.dumps(record) + "\n")
        self._fh.flush()

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None


def format_console_line(record: dict[str, Any]) -> str:
    """One human line for an update record (the plain-text progress when not on a TTY)."""

    def fmt(key: str, label: str, spec: str) -> Optional[str]:
        value = record.get(key)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return None
        return f"{label} {value:{spec}}"

    parts = [
        fmt(N.TRAIN_UPDATE, "upd", "d"),
        fmt(N.TRAIN_ENV_STEPS, "steps", ",d"),
        fmt(N.PERF_SPS, "sps", ".0f"),
        fmt(N.EPISODE_RETURN_MEAN, "ret", ".2f"),
        fmt(N.EPISODE_WIN_RATE, "win", ".2f"),
        fmt(N.TRAIN_LOSS, "loss", ".3f"),
        fmt(N.POLICY_LAG_MAX, "lag", "d"),
        fmt(N.PERF_DROPPED_FRAGMENTS, "dropped", "d"),
        fmt(N.PERF_WORKER_RESTARTS, "restarts", "d"),
    ]
    return " | ".join(p for p in parts if p)


class ConsoleSink(Sink):
    """Prints one line per update record (other kinds are the driver's to announce)."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        if record.get(N.KIND) == N.KIND_UPDATE:
            print(format_console_line(record), file=self.stream, flush=True)


class WandbSink(Sink):
    """Weights & Biases run under ``RUN_DIR/wandb`` (offline) or online.

    The API key is read by ``wandb`` from the environment (``WANDB_API_KEY``) only; nothing
    here takes or stores it. The run id is kept in ``RUN_DIR/wandb_run_id`` so a resumed
    training run continues the same W&B run.
    """

    def __init__(self, cfg: Any, run_dir: str | Path) -> None:
        import wandb  # imported here: a disabled sink must not pay wandb's import time

        mode = cfg.metrics.wandb_mode
        if mode == "online" and not os.environ.get("WANDB_API_KEY"):
            raise RuntimeError(
                "metrics.wandb_mode=online needs WANDB_API_KEY in the environment; "
                "set it, or use metrics.wandb_mode=offline (sync later with `wandb sync`)"
            )
        run_dir = Path(run_dir)
        id_file = run_dir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:12]
        if not id_file.is_file():
            tmp = id_file.with_suffix(".tmp")
            tmp.write_text(run_id)
            os.replace(tmp, id_file)
        from echelon.config import config_to_dict

        self._wandb = wandb
        self._run = wandb.init(
            project=cfg.metrics.wandb_project,
            dir=str(run_dir),
            mode=mode,
            id=run_id,
            resume="allow",
            config=config_to_dict(cfg),
            name=run_dir.name,
            settings=wandb.Settings(console="off", silent=True),
        )
        self.mode = mode

    def write(self, record: dict[str, Any]) -> None:
        if record.get(N.KIND) == N.KIND_WARNING:
            self._alert(record)
            return
        if record.get(N.KIND) != N.KIND_UPDATE:
            return
        data = {
            k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and "/" in k
        }
        self._run.log(data, step=int(record.get(N.TRAIN_UPDATE, 0)))

    def _alert(self, record: dict[str, Any]) -> None:
        # W&B alerts (e-mail / Slack) need a server: online only; offline runs keep the JSONL record.
        if self.mode != "online":
            return
        self._run.alert(
            title=f"echelon: {record.get(N.WARNING_ALARM)}",
            text=str(record.get(N.WARNING_MESSAGE)),
            level=self._wandb.AlertLevel.WARN,
            wait_duration=0,
        )

    def location(self) -> str:
        if self.mode == "online" and getattr(self._run, "url", None):
            return str(self._run.url)
        return str(self._run.dir).removesuffix("/files")

    def close(self) -> None:
        if self._run is not None:
            self._run.finish()
            self._run = None
