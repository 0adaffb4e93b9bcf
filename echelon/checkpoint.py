"""Atomic checkpoints: write to a temp file, fsync, ``os.replace``; load with ``weights_only=True``.

A checkpoint is a dict of tensors and plain Python values (numbers, strings, lists, dicts,
NumPy-free), e.g. ``{"model": state_dict, "optimizer": ..., "counters": {...}, "config": {...}}``.
Files are named ``ckpt_<update:08d>.pt`` under ``RUN_DIR/checkpoints/``.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or not a checkpoint of ours."""


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | Path, update: int) -> Path:
    return checkpoint_dir(run_dir) / f"ckpt_{update:08d}.pt"


def save_checkpoint(run_dir: str | Path, update: int, payload: dict[str, Any], keep: int | None = None) -> Path:
    """Atomically write ``payload`` as the checkpoint of ``update``; keep the newest ``keep``.

    A crash at any point leaves either the old file set or the new one, never a partial file
    under a checkpoint name.
    """
    directory = checkpoint_dir(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(run_dir, update)
    fd, tmp = tempfile.mkstemp(prefix=".tmp_ckpt_", suffix=".pt", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if keep is not None:
        for old in list_checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first (by update number)."""
    directory = checkpoint_dir(run_dir)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load one checkpoint file safely (``weights_only=True``); raise :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/corrupt zip archives
        # Only the exception type: torch's own text for a failed weights-only load advises
        # weights_only=False, which is wrong for a damaged file and unsafe for an untrusted one.
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or truncated ({type(exc).__name__}); "
            "delete it or resume from an older one"
        ) from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {str(path)!r} holds a {type(payload).__name__}, expected a dict")
    return payload


def find_latest_checkpoint(run_dir: str | Path) -> tuple[Path, dict[str, Any], list[tuple[Path, str]]]:
    """Newest loadable checkpoint and the newer ones that were skipped, with why.

    Returns ``(path, payload, skipped)``; ``skipped`` lists ``(path, reason)`` for every newer
    file that failed to load. Nothing is deleted or overwritten. Raises
    :class:`CheckpointError` when none is usable.
    """
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise CheckpointError(f"no checkpoints under {str(checkpoint_dir(run_dir))!r}; nothing to resume from")
    skipped: list[tuple[Path, str]] = []
    for path in reversed(candidates):
        try:
            return path, load_checkpoint(path), skipped
        except CheckpointError as exc:
            skipped.append((path, str(exc)))
            warnings.warn(f"skipping unusable checkpoint: {exc}", RuntimeWarning, stacklevel=2)
    raise CheckpointError(
        "no usable checkpoint in " + str(checkpoint_dir(run_dir)) + ": " + "; ".join(r for _, r in skipped)
    )


def load_latest_checkpoint(run_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """Newest loadable checkpoint of a run; falls back to older ones with a warning.

    Nothing is deleted or overwritten. Raises :class:`CheckpointError` when none is usable.
    """
    path, payload, _ = find_latest_checkpoint(run_dir)
    return path, payload


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
