"""Check a ``train_log.jsonl`` against the contract of :mod:`echelon.metrics.schema`.

Pure: :func:`validate_log` reads a file and returns a :class:`ValidationResult` (``ok``,
``errors`` each naming the line and the defect, and a ``summary`` dict); printing and exit codes
belong to ``scripts/validate_train_log.py``.

What is checked:

- every line is one JSON object; the first record is ``meta``; every meta record carries a
  ``schema_version`` of :data:`~echelon.metrics.schema.READABLE_VERSIONS` (keys of version 1 are
  read under their version-2 names);
- per kind, the required keys are present with the declared types (extra keys are allowed);
- every record carries the run's ``run_id``; update and error records carry
  ``trace_id == "<run_id>:<train/update>"``, and so do warning records;
- update records hold no NaN or infinity (those belong in error records);
- among the update records that stand (those a resume abandoned dropped, see
  :mod:`echelon.metrics.logread`): ``train/update`` strictly increases, ``train/env_steps``,
  ``train/agent_steps`` and ``train/optimizer_steps`` (when logged) never decrease, across
  resumes too (a resume restarts from its checkpoint's counters), and no update number appears
  twice.

Anomalies are reported in the summary without failing the log: gaps in the update numbers, an
abandoned range that matches no record, a log without a summary record (the run is still going
or died), non-finite numbers outside update and error records.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from echelon.metrics import names as N
from echelon.metrics import schema as S
from echelon.metrics.logread import LogLine, LogReadError, abandoned_indices, abandoned_range, scan_log

# Counters that must never decrease among the standing records (train/update must increase).
_MONOTONIC = (N.TRAIN_ENV_STEPS, N.TRAIN_AGENT_STEPS, S.TRAIN_OPTIMIZER_STEPS)


@dataclass(frozen=True)
class Defect:
    """One reason the log is invalid: ``line`` (1-based; 0 = the file as a whole) and ``message``."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ValidationResult:
    """``ok`` (no defects), ``errors`` (:class:`Defect` in line order) and the ``summary`` dict."""

    ok: bool
    errors: list[Defect]
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Plain dict for ``json.dumps`` (errors as ``{"line", "message"}``)."""
        return {
            "ok": self.ok,
            "errors": [{"line": d.line, "message": d.message} for d in self.errors],
            "summary": self.summary,
        }


def validate_log(path: str | Path) -> ValidationResult:
    """Validate the log file at ``path`` (a file that cannot be read is one defect at line 0)."""
    try:
        lines, problems = scan_log(path)
    except LogReadError as exc:
        return ValidationResult(False, [Defect(0, str(exc))], {"path": str(path)})
    result = validate_lines(lines, problems)
    result.summary = {"path": str(path), **result.summary}
    return result


def validate_lines(lines: list[LogLine], problems: list[tuple[int, str]] = ()) -> ValidationResult:
    """Validate parsed lines (``logread.scan_log`` output); ``problems`` are unparsable lines."""
    checker = _Checker(lines)
    for lineno, why in problems:
        checker.defect(lineno, f"malformed line: {why}")
    checker.run()
    errors = sorted(checker.errors, key=lambda d: d.line)
    return ValidationResult(not errors, errors, checker.summary())


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class _Point:
    """A place in the chain of counters: the last standing update or resume record."""

    lineno: int
    kind: str
    update: int
    counters: dict[str, int] = field(default_factory=dict)


class _Checker:
    """One pass over the records for their fields, then one over the standing ones for order."""

    def __init__(self, lines: list[LogLine]) -> None:
        self.lines = lines
        self.errors: list[Defect] = []
        self.anomalies: list[str] = []
        self.run_id: Optional[str] = None
        self.schema_version: Optional[int] = None
        self.dropped = abandoned_indices([ln.record for ln in lines])
        self.counts: dict[str, int] = {}
        self.resumes: list[dict[str, Any]] = []
        self.error_records: list[dict[str, Any]] = []
        self.warning_records: list[dict[str, Any]] = []
        self.stopped_by: Optional[str] = None
        self.standing_updates: list[tuple[int, int, Optional[int]]] = []  # (lineno, update, env_steps)

    def defect(self, lineno: int, message: str) -> None:
        self.errors.append(Defect(lineno, message))

    def anomaly(self, lineno: int, message: str) -> None:
        self.anomalies.append(f"line {lineno}: {message}")

    # -- pass 1: each record on its own ----------------------------------------------------------
    def run(self) -> None:
        if not self.lines:
            if not self.errors:
                self.defect(0, "the log holds no records (expected a 'meta' record first)")
            return
        first = self.lines[0]
        if first.record.get(N.KIND) != N.KIND_META:
            self.defect(
                first.lineno,
                f"first record is {first.record.get(N.KIND)!r}, expected a 'meta' record "
                "(config, seed and schema_version of the run)",
            )
        self.run_id = next(
            (ln.record.get(N.RUN_ID) for ln in self.lines if isinstance(ln.record.get(N.RUN_ID), str)), None
        )
        for ln in self.lines:
            self.check_record(ln)
        self.check_order()
        if self.counts.get(N.KIND_SUMMARY, 0) == 0:
            self.anomalies.append("no summary record: the run is still going or stopped without writing one")

    def check_record(self, ln: LogLine) -> None:
        rec, lineno = ln.record, ln.lineno
        kind = rec.get(N.KIND)
        if not isinstance(kind, str):
            self.defect(lineno, f"no record kind: key {N.KIND!r} is missing or not a string")
            return
        if kind not in S.REQUIRED:
            self.defect(lineno, f"unknown record kind {kind!r} (known: {', '.join(S.KINDS)})")
            return
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == N.KIND_UPDATE:
            self.check_finite(lineno, rec)
        elif kind != N.KIND_ERROR:
            self.note_nonfinite(lineno, kind, rec)
        if kind == N.KIND_META and N.SCHEMA_VERSION not in rec:
            self.defect(
                lineno,
                f"meta record has no {N.SCHEMA_VERSION!r}: it was written before the log contract "
                f"(echelon.metrics.schema, version {S.SCHEMA_VERSION})",
            )
        self.check_types(lineno, kind, rec)
        self.check_ids(lineno, kind, rec)
        # Kind-specific checks (update and episode records need none beyond their types).
        by_kind = {
            N.KIND_META: self.check_meta,
            N.KIND_RESUME: self.check_resume,
            N.KIND_ERROR: self.check_error,
            N.KIND_WARNING: self.check_warning,
            N.KIND_SUMMARY: self.check_summary,
        }
        if kind in by_kind:
            by_kind[kind](lineno, rec)

    def check_types(self, lineno: int, kind: str, rec: dict[str, Any]) -> None:
        required = S.REQUIRED[kind]
        missing = [k for k in required if k not in rec and k != N.SCHEMA_VERSION]
        if missing:
            keys = ", ".join(repr(k) for k in missing)
            self.defect(lineno, f"{kind} record lacks required key{'s' if len(missing) > 1 else ''} {keys}")
        specs = {**S.OPTIONAL[kind], **required}
        for key, allowed in specs.items():
            if key not in rec:
                continue
            value = rec[key]
            if isinstance(value, float) and not math.isfinite(value) and kind == N.KIND_UPDATE:
                continue  # reported by check_finite, once
            if not S.matches(value, allowed):
                self.defect(
                    lineno,
                    f"{kind} record: {key!r} is {S.type_tag(value)} ({_short(value)}), expected {' or '.join(allowed)}",
                )

    def check_finite(self, lineno: int, rec: dict[str, Any]) -> None:
        bad = [k for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            what = ", ".join(f"{k}={S.encode_nonfinite(rec[k])}" for k in bad)
            self.defect(
                lineno,
                f"non-finite value in update record ({what}); non-finite updates belong in error records",
            )

    def note_nonfinite(self, lineno: int, kind: str, rec: dict[str, Any]) -> None:
        bad = [k for k, v in rec.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            self.anomaly(lineno, f"non-finite value in {kind} record: {', '.join(bad)}")

    def check_ids(self, lineno: int, kind: str, rec: dict[str, Any]) -> None:
        run_id = rec.get(N.RUN_ID)
        if isinstance(run_id, str) and self.run_id is not None and run_id != self.run_id:
            self.defect(lineno, f"run_id {run_id!r} differs from the run's {self.run_id!r} (two runs in one log?)")
        if kind not in (N.KIND_UPDATE, N.KIND_ERROR, N.KIND_WARNING):
            return
        trace, update = rec.get(N.TRACE_ID), _int(rec.get(N.TRAIN_UPDATE))
        if isinstance(trace, str) and isinstance(run_id, str) and update is not None:
            expected = S.make_trace_id(run_id, update)
            if trace != expected:
                self.defect(lineno, f"trace_id {trace!r} does not match run_id and train/update ({expected!r})")

    def check_meta(self, lineno: int, rec: dict[str, Any]) -> None:
        version = rec.get(N.SCHEMA_VERSION)
        if _int(version) is not None:
            if self.schema_version is None:
                self.schema_version = version
            if version not in S.READABLE_VERSIONS:
                self.defect(
                    lineno, f"schema_version {version} is not one of {S.READABLE_VERSIONS}, the versions this "
                    "validator checks"
                )
        mode = rec.get("mode")
        if isinstance(mode, str) and mode not in S.MODES:
            self.defect(lineno, f"meta record: mode {mode!r} is not one of {', '.join(S.MODES)}")
        command = rec.get("command")
        if isinstance(command, list) and not all(isinstance(a, str) for a in command):
            self.defect(lineno, "meta record: 'command' must be a list of strings (the argv)")

    def check_resume(self, lineno: int, rec: dict[str, Any]) -> None:
        value = rec.get(N.RESUME_ABANDONED)
        if isinstance(value, list) and abandoned_range(rec) is None:
            self.defect(
                lineno, f"resume/abandoned {_short(value)} is not [first, last] update numbers with first <= last"
            )
        self.resumes.append({
            "line": lineno,
            "checkpoint": rec.get(N.RESUME_FROM),
            "update": rec.get(N.TRAIN_UPDATE),
            "env_steps": rec.get(N.TRAIN_ENV_STEPS),
            "abandoned": value,
            "skipped": len(rec.get(N.RESUME_SKIPPED) or ()),
        })

    def check_error(self, lineno: int, rec: dict[str, Any]) -> None:
        self.error_records.append({
            "line": lineno,
            "kind": rec.get(N.ERROR_KIND),
            "update": rec.get(N.TRAIN_UPDATE),
            "message": rec.get(N.ERROR_MESSAGE),
            "receipt": rec.get(N.ERROR_RECEIPT),
        })

    def check_warning(self, lineno: int, rec: dict[str, Any]) -> None:
        self.warning_records.append(
            {"line": lineno, "alarm": rec.get(N.WARNING_ALARM), "update": rec.get(N.TRAIN_UPDATE)}
        )

    def check_summary(self, lineno: int, rec: dict[str, Any]) -> None:
        self.stopped_by = rec.get("stopped_by") if isinstance(rec.get("stopped_by"), str) else self.stopped_by

    # -- pass 2: the order of the standing records -----------------------------------------------
    def check_order(self) -> None:
        prev: Optional[_Point] = None
        seen: dict[int, int] = {}  # standing update number -> line
        error_updates = {
            _int(ln.record.get(N.TRAIN_UPDATE)) for ln in self.lines if ln.record.get(N.KIND) == N.KIND_ERROR
        }
        for i, ln in enumerate(self.lines):
            kind = ln.record.get(N.KIND)
            if i in self.dropped:
                continue
            if kind == N.KIND_UPDATE:
                prev = self.order_update(ln, prev, seen, error_updates)
            elif kind == N.KIND_RESUME:
                prev = self.order_resume(ln, prev, seen)
            elif kind == N.KIND_SUMMARY and prev is not None:
                self.order_summary(ln, prev)

    @staticmethod
    def _counters(rec: dict[str, Any]) -> dict[str, int]:
        return {k: rec[k] for k in _MONOTONIC if _int(rec.get(k)) is not None}

    def order_update(
        self, ln: LogLine, prev: Optional[_Point], seen: dict[int, int], error_updates: set
    ) -> Optional[_Point]:
        update = _int(ln.record.get(N.TRAIN_UPDATE))
        if update is None:
            return prev  # a type defect already names this line
        if update in seen:
            self.defect(
                ln.lineno,
                f"duplicated update {update}: update {update} already stands at line {seen[update]} "
                "(a resume must name it in resume/abandoned)",
            )
            return prev
        point = _Point(ln.lineno, N.KIND_UPDATE, update, self._counters(ln.record))
        if prev is not None:
            if update <= prev.update:
                where = "the resume's checkpoint update" if prev.kind == N.KIND_RESUME else "update"
                self.defect(
                    ln.lineno, f"train/update went backwards: {update} after {where} {prev.update} (line {prev.lineno})"
                )
            elif update > prev.update + 1 and not all(u in error_updates for u in range(prev.update + 1, update)):
                missing = f"{prev.update + 1}..{update - 1}"
                self.anomaly(ln.lineno, f"updates {missing} are missing (previous at line {prev.lineno})")
            self.check_counters(point, prev)
        seen[update] = ln.lineno
        self.standing_updates.append((ln.lineno, update, _int(ln.record.get(N.TRAIN_ENV_STEPS))))
        return point

    def check_counters(self, point: _Point, prev: _Point) -> None:
        for key in _MONOTONIC:
            now, before = point.counters.get(key), prev.counters.get(key)
            if now is not None and before is not None and now < before:
                context = f"resume at line {prev.lineno}" if prev.kind == N.KIND_RESUME else f"line {prev.lineno}"
                reason = "" if point.kind == N.KIND_RESUME else " without a resume"
                self.defect(point.lineno, f"{key} went backwards{reason}: {now} after {before} ({context})")

    def order_resume(self, ln: LogLine, prev: Optional[_Point], seen: dict[int, int]) -> Optional[_Point]:
        rec = ln.record
        update = _int(rec.get(N.TRAIN_UPDATE))
        if update is None:
            return prev
        rng = abandoned_range(rec)
        ahead = sorted((u, line) for u, line in seen.items() if u > update)
        if ahead:
            listed = ", ".join(f"{u} (line {line})" for u, line in ahead[:5]) + (" ..." if len(ahead) > 5 else "")
            self.defect(
                ln.lineno,
                f"resume from checkpoint update {update}, but updates after it stand: {listed}; "
                f"resume/abandoned ({_short(rec.get(N.RESUME_ABANDONED))}) must cover them",
            )
        if rng is not None:
            first, last = rng
            if first <= update:
                self.defect(
                    ln.lineno,
                    f"resume/abandoned [{first}, {last}] starts at or before the checkpoint's update {update}",
                )
            elif first != update + 1:
                self.anomaly(
                    ln.lineno, f"resume/abandoned starts at {first}, expected {update + 1} (checkpoint update + 1)"
                )
            if not self._abandoned_any(ln.lineno, first, last):
                self.anomaly(ln.lineno, f"resume/abandoned [{first}, {last}] matches no earlier update record")
        point = _Point(ln.lineno, N.KIND_RESUME, update, self._counters(rec))
        if prev is not None and not ahead and prev.update <= update:
            self.check_counters(point, prev)
        return point

    def _abandoned_any(self, lineno: int, first: int, last: int) -> bool:
        for i in self.dropped:
            ln = self.lines[i]
            if ln.lineno < lineno and first <= ln.record.get(N.TRAIN_UPDATE, first - 1) <= last:
                return True
        return False

    def order_summary(self, ln: LogLine, prev: _Point) -> None:
        update = _int(ln.record.get(N.TRAIN_UPDATE))
        if update is not None and update < prev.update:
            self.defect(
                ln.lineno, f"summary says train/update {update}, behind update {prev.update} (line {prev.lineno})"
            )
        point = _Point(ln.lineno, N.KIND_SUMMARY, update or prev.update, self._counters(ln.record))
        self.check_counters(point, prev)

    # -- result ------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        ups = self.standing_updates
        steps = [s for _, _, s in ups if s is not None]
        return {
            "run_id": self.run_id,
            "schema_version": self.schema_version,
            "records": len(self.lines),
            "counts": dict(sorted(self.counts.items())),
            "updates": {
                "standing": len(ups),
                "abandoned": len(self.dropped),
                "first": ups[0][1] if ups else None,
                "last": ups[-1][1] if ups else None,
            },
            "env_steps": {"first": steps[0] if steps else None, "last": steps[-1] if steps else None},
            "resumes": self.resumes,
            "error_records": self.error_records,
            "warning_records": self.warning_records,
            "stopped_by": self.stopped_by,
            "anomalies": self.anomalies,
            "defects": len(self.errors),
        }


def _short(value: Any, limit: int = 40) -> str:
    text = repr(S.encode_nonfinite(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main_validate(path: str | Path, as_json: bool = False, max_errors: int = 50, out: Any = None) -> int:
    """The validator's command line: validate ``path``, print, return the exit code (0 valid, 1 not).

    Text mode prints up to ``max_errors`` defects as ``PATH:LINE: message`` and then the summary
    as indented JSON; ``as_json`` prints ``ValidationResult.to_json()`` as one JSON object.
    """
    out = out if out is not None else sys.stdout
    result = validate_log(path)
    if as_json:
        print(json.dumps(result.to_json(), indent=1), file=out)
    else:
        for defect in result.errors[:max_errors]:
            print(f"{path}:{defect.line}: {defect.message}", file=out)
        if len(result.errors) > max_errors:
            print(f"... and {len(result.errors) - max_errors} more defects (--json lists them all)", file=out)
        print(json.dumps(result.summary, indent=1), file=out)
        print(f"{path}: {'valid' if result.ok else 'INVALID'} ({len(result.errors)} defects)", file=out)
    return 0 if result.ok else 1
