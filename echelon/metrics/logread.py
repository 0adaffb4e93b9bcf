"""Reading ``train_log.jsonl`` back: parse, decode non-finite numbers, drop abandoned updates.

Used by the validator and the plotter, so both see the same records, with keys of an older
schema renamed to the current spelling (:func:`rename_legacy_keys`). A resumed run appends to
the same file; the interrupted process may have logged updates after its last checkpoint,
which the resumed process redoes. The resume record names those update numbers
(``resume/abandoned = [first, last]``) and :func:`standing_records` drops them, so every update
number that stands appears once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from echelon.metrics import names as N
from echelon.metrics.schema import decode_nonfinite


class LogReadError(ValueError):
    """A log file is missing or a line is not one JSON object; the message names the line."""


@dataclass(frozen=True)
class LogLine:
    """One parsed line: ``lineno`` (1-based, as editors count) and the decoded ``record``."""

    lineno: int
    record: dict[str, Any]


def _reject_constant(name: str) -> float:
    # Python's json accepts the non-standard NaN/Infinity tokens; the contract writes strings.
    raise ValueError(f"bare {name} is not JSON (non-finite numbers are written as \"nan\", \"inf\", \"-inf\")")


def parse_line(text: str) -> dict[str, Any]:
    """Decode one log line into a record; raise ``ValueError`` saying what is wrong with it."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON at column {exc.colno} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ValueError(f"a JSON {type(value).__name__}, expected an object")
    return rename_legacy_keys(decode_nonfinite(value))


def rename_legacy_keys(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with older key spellings renamed to today's (:data:`names.RENAMED_KEYS`: schema 1's and
    the later rename of ``train/curriculum_fire_prob``).

    A key already present under its new name wins (a record never holds both in practice).
    """
    if not any(old in record for old in N.RENAMED_KEYS):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        new = N.RENAMED_KEYS.get(key)
        if new is None:
            out[key] = value
        elif new not in record:
            out[new] = value
    return out


def scan_log(path: str | Path) -> tuple[list[LogLine], list[tuple[int, str]]]:
    """Every parsable line of ``path`` and the problems of the others.

    Returns ``(lines, problems)``: ``lines`` in file order, ``problems`` as ``(lineno, message)``
    for lines that are not one JSON object. Blank lines are skipped silently. Raises
    :class:`LogReadError` when the file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogReadError(f"cannot read log {str(path)!r}: {exc}") from None
    lines: list[LogLine] = []
    problems: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(LogLine(lineno, parse_line(raw)))
        except ValueError as exc:
            problems.append((lineno, str(exc)))
    return lines, problems


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of ``path`` in file order, non-finite strings decoded back to floats.

    Raises :class:`LogReadError` naming the first malformed line (``path:LINE: why``).
    """
    lines, problems = scan_log(path)
    if problems:
        lineno, why = problems[0]
        raise LogReadError(f"{path}:{lineno}: {why}")
    return [line.record for line in lines]


def abandoned_range(record: dict[str, Any]) -> Optional[tuple[int, int]]:
    """``(first, last)`` of a resume record's ``resume/abandoned``, None when absent or malformed."""
    value = record.get(N.RESUME_ABANDONED)
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and value[0] <= value[1]
    ):
        return int(value[0]), int(value[1])
    return None


def abandoned_indices(records: list[dict[str, Any]]) -> set[int]:
    """Indices (into ``records``) of the update records that a later resume abandons.

    An update record is abandoned when a resume record *after* it names a range containing its
    ``train/update``. The range reaches back over every earlier resume too: a resume that had
    to skip an unusable checkpoint restarts further back than the previous one did.
    """
    dropped: set[int] = set()
    for i, rec in enumerate(records):
        rng = abandoned_range(rec) if rec.get(N.KIND) == N.KIND_RESUME else None
        if rng is None:
            continue
        first, last = rng
        for j in range(i):
            upd = records[j].get(N.TRAIN_UPDATE)
            if records[j].get(N.KIND) == N.KIND_UPDATE and isinstance(upd, int) and first <= upd <= last:
                dropped.add(j)
    return dropped


def standing_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` without the update records abandoned by resumes (see :func:`abandoned_indices`)."""
    dropped = abandoned_indices(records)
    return [rec for i, rec in enumerate(records) if i not in dropped]


def is_finite_number(value: Any) -> bool:
    """True for an int or a finite float (bools are not numbers in the log)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)
