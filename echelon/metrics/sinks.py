"""Where metric records go: JSONL (always), console line, Weights & Biases (the Ray dashboard
is fed by the metrics actor, :mod:`echelon.actors.metrics_actor`).

A sink takes whole records (flat dicts keyed by :mod:`echelon.metrics.names`) and never
aggregates; aggregation is the hub's job.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Optional, TextIO

from echelon.metrics import names as N
from echelon.metrics import schema
from echelon.metrics.media import Histogram, Image, Media, Table, Video

log = logging.getLogger("echelon.metrics")


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
        # loss exploded must not produce a log that looks clean. Media go as their JSON form.
        record = {k: (v.to_json() if isinstance(v, Media) else v) for k, v in record.items()}
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
        fmt(N.TRAIN_SPS, "sps", ".0f"),
        fmt(N.RETURNS_MEAN, "ret", ".2f"),
        fmt(N.RETURNS_WIN_RATE, "win", ".2f"),
        fmt(N.TRAIN_LOSS, "loss", ".3f"),
        fmt(N.SYSTEM_POLICY_LAG_MAX, "lag", "d"),
        fmt(N.SYSTEM_DROPPED_FRAGMENTS, "dropped", "d"),
        fmt(N.SYSTEM_WORKER_RESTARTS, "restarts", "d"),
    ]
    return " | ".join(p for p in parts if p)


class ConsoleSink(Sink):
    """Prints one line per update record (other kinds are the driver's to announce)."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        if record.get(N.KIND) == N.KIND_UPDATE:
            print(format_console_line(record), file=self.stream, flush=True)


def resolve_wandb_mode(mode: str, environ: Optional[dict] = None) -> str:
    """``metrics.wandb_mode`` -> the mode W&B runs in: ``auto`` is online when ``WANDB_API_KEY`` is
    set, else offline; ``online``, ``offline`` and ``disabled`` stand as they are."""
    env = os.environ if environ is None else environ
    if mode == "auto":
        return "online" if env.get("WANDB_API_KEY") else "offline"
    return mode


def wandb_tags(cfg: Any) -> list[str]:
    """Tags of a run's W&B run: the env, the match-up, the map (Echelon) and ``metrics.wandb_tags``."""
    tags = [f"env:{cfg.rollout.env}"]
    if cfg.rollout.env == "echelon":
        e = cfg.env
        n = 5 * e.packs_per_team
        tags += [f"{n}v{n}", f"map:{e.size_x}x{e.size_y}",
                 "self-play" if e.blue == "policy" and e.red == "policy" else "vs-heuristic"]
    tags += [str(t) for t in cfg.metrics.wandb_tags]
    return [t[:64] for t in tags]  # W&B refuses longer tags


class WandbSink(Sink):
    """Weights & Biases run under ``RUN_DIR/wandb`` (offline) or online; never stops training.

    The API key is read by ``wandb`` from the environment (``WANDB_API_KEY``) only; nothing
    here takes or stores it. The run id is kept in ``RUN_DIR/wandb_run_id`` so a resumed
    training run continues the same W&B run. Scalars go as numbers, :class:`Histogram` as
    ``wandb.Histogram``, :class:`Image` as ``wandb.Image``, :class:`Table` as ``wandb.Table``,
    :class:`Video` (a GIF file) as ``wandb.Video``.
    A failure of ``wandb.init`` or of a later call (no network, a refused key, a full disk) is
    logged once as a warning on the ``echelon`` logger and turns the sink off (``errors`` counts
    the failed calls); the JSONL log is unaffected.
    """

    def __init__(self, cfg: Any, run_dir: str | Path) -> None:
        self.mode = resolve_wandb_mode(cfg.metrics.wandb_mode)
        self.run_dir = Path(run_dir)
        self.errors = 0
        self._warned = False
        self._run: Any = None
        self._wandb: Any = None
        try:
            self._run = self._init(cfg)
        except Exception as exc:  # wandb raises many types (CommError, UsageError, OSError, ...)
            self._failed("init", exc)

    @classmethod
    def create(cls, cfg: Any, run_dir: str | Path) -> Optional["WandbSink"]:
        """The sink for ``cfg.metrics.wandb_mode``, None when W&B is disabled."""
        if resolve_wandb_mode(cfg.metrics.wandb_mode) == "disabled":
            return None
        return cls(cfg, run_dir)

    def _init(self, cfg: Any) -> Any:
        # wandb prints its own banner lines (credentials, sync hints) unless silenced; the one
        # line a user needs (where the run is) is in the run summary.
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb  # imported here: a disabled sink must not pay wandb's import time

        from echelon.config import config_to_dict

        id_file = self.run_dir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else uuid.uuid4().hex[:12]
        if not id_file.is_file():
            tmp = id_file.with_suffix(".tmp")
            tmp.write_text(run_id)
            os.replace(tmp, id_file)
        self._wandb = wandb
        return wandb.init(
            project=cfg.metrics.wandb_project,
            dir=str(self.run_dir),
            mode=self.mode,
            id=run_id,
            resume="allow",
            config=config_to_dict(cfg),
            tags=wandb_tags(cfg),
            name=self.run_dir.name,
            settings=wandb.Settings(console="off", silent=True, init_timeout=cfg.metrics.wandb_init_timeout_s),
        )

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        if not self._warned:
            self._warned = True
            first = (str(exc).splitlines() or [""])[0][:300]
            log.warning("W&B %s failed (%s: %s); W&B logging is off for this run, training and the JSONL log "
                        "go on", what, type(exc).__name__, first)
        run, self._run = self._run, None
        if run is not None:
            try:
                run.finish(exit_code=1)
            except Exception:  # the run is broken already; nothing more to report
                pass

    def _convert(self, value: Any) -> Any:
        wandb = self._wandb
        if isinstance(value, Histogram):
            return wandb.Histogram(np_histogram=(value.counts, value.edges))
        if isinstance(value, Image):
            return wandb.Image(str(self.run_dir / value.path), caption=value.caption or None)
        if isinstance(value, Table):
            return wandb.Table(columns=list(value.columns), data=[list(r) for r in value.rows])
        if isinstance(value, Video):
            return wandb.Video(str(self.run_dir / value.path), caption=value.caption or None, format="gif")
        return value

    def write(self, record: dict[str, Any]) -> None:
        if self._run is None:
            return
        if record.get(N.KIND) == N.KIND_WARNING:
            self._alert(record)
            return
        if record.get(N.KIND) != N.KIND_UPDATE:
            return
        # Metric keys only (group/name): numbers as they are, media converted; bools and
        # anything else stay out. Exact int and float first: they are nearly every value.
        data: dict[str, Any] = {}
        for k, v in record.items():
            if "/" not in k:
                continue
            t = type(v)
            if t is float or t is int:
                data[k] = v
            elif isinstance(v, Media):
                data[k] = self._convert(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                data[k] = v
        try:
            self._run.log(data, step=int(record.get(N.TRAIN_UPDATE, 0)))
        except Exception as exc:
            self._failed("log", exc)

    def _alert(self, record: dict[str, Any]) -> None:
        # W&B alerts (e-mail / Slack) need a server: online only; offline runs keep the JSONL record.
        if self.mode != "online":
            return
        try:
            self._run.alert(
                title=f"echelon: {record.get(N.WARNING_ALARM)}",
                text=str(record.get(N.WARNING_MESSAGE)),
                level=self._wandb.AlertLevel.WARN,
                wait_duration=0,
            )
        except Exception as exc:
            self._failed("alert", exc)

    def log_checkpoint(self, path: str | Path) -> None:
        """Log the checkpoint file (and its digest, when present) as a ``model`` artifact."""
        if self._run is None or path is None or not Path(path).is_file():
            return
        try:
            art = self._wandb.Artifact(f"checkpoint-{self._run.id}", type="model",
                                       metadata={"file": Path(path).name})
            art.add_file(str(path))
            digest = Path(str(path) + ".sha256")
            if digest.is_file():
                art.add_file(str(digest))
            self._run.log_artifact(art)
        except Exception as exc:
            self._failed("artifact", exc)

    def location(self) -> Optional[str]:
        if self._run is None:
            return None
        if self.mode == "online" and getattr(self._run, "url", None):
            return str(self._run.url)
        return str(self._run.dir).removesuffix("/files")

    def close(self) -> None:
        if self._run is not None:
            try:
                self._run.finish()
            except Exception as exc:
                self._failed("finish", exc)
            self._run = None
