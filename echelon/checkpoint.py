"""The one checkpoint format of both training loops: payload, atomic write, digest, load, fallback.

A checkpoint is ``RUN_DIR/checkpoints/ckpt_<update:08d>.pt`` (``torch.save`` of the payload,
loaded with ``weights_only=True``) plus its digest sidecar ``ckpt_<update:08d>.pt.sha256`` (the
SHA-256 of the ``.pt`` file's bytes). Both are written to temp files, fsynced and renamed, the
sidecar first: a crash leaves the old set or the new one, and a file whose bytes were damaged
after the write (a flipped block, a half-copied file) fails its digest instead of loading with
wrong numbers in it.

The payload (:func:`build_payload` / :func:`parse_payload`) is a dict of tensors and plain Python
values: ``format``, ``learner`` (``Learner.state_dict()``), ``counters`` (:class:`Counters`),
``config`` (``config_to_dict``), ``run_id``, ``trace_id`` (joins the checkpoint to the update
record of the same update), ``rng`` (``{"learner": ..., "driver": ...}``, each
:func:`capture_rng_state` or None), ``curriculum`` (the driver's curriculum state or None) and
``time`` (seconds since the epoch). The serial loop and the Ray driver write and read exactly this.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch

log = logging.getLogger(__name__)

FORMAT = "echelon-checkpoint-v2"
_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")
DIGEST_SUFFIX = ".sha256"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, foreign or cannot be written; the message says which."""


@dataclass
class Counters:
    """Run progress, saved in every checkpoint and continued on resume (cumulative counts)."""

    update: int = 0
    env_steps: int = 0
    agent_steps: int = 0
    episodes: int = 0
    dropped_fragments: int = 0
    worker_restarts: int = 0
    lost_fragments: int = 0  # delivered fragments lost before the learner got them (0 by design)


@dataclass
class TrainingState:
    """What a run continues from: the parsed payload of one checkpoint."""

    learner: dict
    counters: Counters
    config: dict
    run_id: str
    trace_id: Optional[str] = None
    learner_rng: Optional[dict] = None
    driver_rng: Optional[dict] = None
    curriculum: Any = None


def build_payload(state: TrainingState) -> dict[str, Any]:
    """The checkpoint payload of ``state`` (see the module docstring)."""
    return {
        "format": FORMAT,
        "learner": state.learner,
        "counters": dataclasses.asdict(state.counters),
        "config": state.config,
        "run_id": state.run_id,
        "trace_id": state.trace_id,
        "rng": {"learner": state.learner_rng, "driver": state.driver_rng},
        "curriculum": state.curriculum,
        "time": time.time(),
    }


def parse_payload(payload: dict[str, Any], where: str = "checkpoint") -> TrainingState:
    """Inverse of :func:`build_payload`; raises :class:`CheckpointError` for a foreign payload."""
    if payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{where} is not an Echelon checkpoint of format {FORMAT!r} (format {payload.get('format')!r})"
        )
    missing = [k for k in ("learner", "counters", "config", "run_id") if not payload.get(k)]
    learner = payload.get("learner")
    if isinstance(learner, dict):
        missing += [f"learner.{k}" for k in ("model", "optimizer", "counters") if k not in learner]
    if missing:
        raise CheckpointError(f"{where} lacks {', '.join(missing)}")
    try:
        counters = Counters(**payload["counters"])
    except TypeError as exc:
        raise CheckpointError(f"{where} has unreadable counters ({exc})") from None
    rng = payload.get("rng") or {}
    return TrainingState(
        learner=learner,
        counters=counters,
        config=payload["config"],
        run_id=str(payload["run_id"]),
        trace_id=payload.get("trace_id"),
        learner_rng=rng.get("learner"),
        driver_rng=rng.get("driver"),
        curriculum=payload.get("curriculum"),
    )


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | Path, update: int) -> Path:
    return checkpoint_dir(run_dir) / f"ckpt_{update:08d}.pt"


def digest_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def _write_atomic(directory: Path, final: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp_" + final.name + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(run_dir: str | Path, update: int, payload: dict[str, Any], keep: int | None = None) -> Path:
    """Atomically write ``payload`` and its digest as the checkpoint of ``update``; keep the newest ``keep``.

    The payload is serialised in memory first, so a full disk or a permission problem surfaces as
    one :class:`CheckpointError` naming the path and the cause, and the older checkpoints are
    untouched.
    """
    directory = checkpoint_dir(run_dir)
    final = checkpoint_path(run_dir, update)
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(directory, digest_path(final), (hashlib.sha256(data).hexdigest() + "\n").encode())
        _write_atomic(directory, final, data)
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, "error")
        raise CheckpointError(
            f"could not write checkpoint {str(final)!r}: {exc.strerror or exc} ({name}); "
            "older checkpoints are intact"
        ) from exc
    if keep is not None:
        for old in list_checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)
            digest_path(old).unlink(missing_ok=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first (by update number)."""
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load one checkpoint file after checking its digest; ``weights_only=True``.

    Raises :class:`CheckpointError` for a missing file, a missing or mismatching digest, or bytes
    that do not unpickle under ``weights_only``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    data = path.read_bytes()
    side = digest_path(path)
    if not side.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} has no digest file {side.name}")
    expected = side.read_text().strip()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {str(path)!r} fails its SHA-256 digest (damaged after it was written)"
        )
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt archives
        # Only the exception type: torch's own text for a failed weights-only load advises
        # weights_only=False, which is wrong for a damaged file and unsafe for an untrusted one.
        raise CheckpointError(f"checkpoint {str(path)!r} does not load ({type(exc).__name__})") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(payload).__name__}, expected a dict")
    return payload


def load_training_state(path: str | Path) -> TrainingState:
    """:func:`load_checkpoint` then :func:`parse_payload` (digest, loadable, ours, complete)."""
    return parse_payload(load_checkpoint(path), where=f"checkpoint {str(path)!r}")


class ResumePoint(NamedTuple):
    """The newest usable checkpoint of a run and the newer ones that were not usable."""

    path: Path
    state: TrainingState
    skipped: list  # [(path, reason)] newest first


def find_latest_checkpoint(run_dir: str | Path) -> ResumePoint:
    """Newest usable checkpoint (digest, loadable, complete payload); older ones are the fallback.

    Every newer file that is unusable is listed in ``skipped`` with its reason; nothing is
    deleted, moved or logged here (:func:`set_aside`, called by the loop that resumes, does that).
    Raises :class:`CheckpointError` when none is usable.
    """
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise CheckpointError(f"no checkpoints under {str(checkpoint_dir(run_dir))!r}; nothing to resume from")
    skipped: list[tuple[Path, str]] = []
    for path in reversed(candidates):
        try:
            return ResumePoint(path, load_training_state(path), skipped)
        except CheckpointError as exc:
            skipped.append((path, str(exc)))
    raise CheckpointError(
        "no usable checkpoint in " + str(checkpoint_dir(run_dir)) + ": " + "; ".join(r for _, r in skipped)
    )


def set_aside(skipped: list[tuple[Path, str]]) -> list[Path]:
    """Rename unusable checkpoints (and their digests) to ``*.unusable[N]``; returns the new paths.

    Their bytes stay for inspection under a name the checkpoint list ignores, so neither a later
    save of the same update nor keep-last-K pruning can overwrite or delete them.
    """
    moved = []
    for path, reason in skipped:
        path = Path(path)
        if not path.exists():
            continue
        target = path.with_name(path.name + ".unusable")
        n = 1
        while target.exists():
            target = path.with_name(f"{path.name}.unusable{n}")
            n += 1
        os.replace(path, target)
        side = digest_path(path)
        if side.exists():
            os.replace(side, target.with_name(target.name + DIGEST_SUFFIX))
        log.warning("set aside unusable checkpoint %s as %s: %s", path, target.name, reason)
        moved.append(target)
    return moved


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy (legacy global) and torch CPU generator states, ``weights_only``-loadable.

    NumPy's state array is stored as a tensor (plain ndarrays are refused by
    ``torch.load(weights_only=True)``).
    """
    import random

    import numpy as np

    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    import random

    import numpy as np

    random.setstate((state["python_version"], tuple(state["python"]), None))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
