"""The log validator: accepts the checked-in example log; each defect is named with its line."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from echelon.metrics import names as N
from echelon.metrics import schema as S
from echelon.metrics.logread import read_log
from echelon.metrics.validate import main_validate, validate_log

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "tests" / "data" / "example_train_log.jsonl"
# Line numbers of the example log (see tests/data/make_example_train_log.py).
META, UPD1, UPD2, ERR3, UPD3, UPD4, UPD5_OLD, UPD6_OLD, META2, RESUME, UPD5, UPD6, UPD7, UPD8, SUMMARY = range(1, 16)


def _example() -> list[dict]:
    return [json.loads(x) for x in EXAMPLE.read_text().splitlines()]


def _write(tmp_path, records) -> Path:
    path = tmp_path / "train_log.jsonl"
    path.write_text("".join(S.dumps(r) + "\n" for r in records))
    return path


def _messages(result) -> list[str]:
    return [str(d) for d in result.errors]


def test_example_log_is_valid():
    result = validate_log(EXAMPLE)
    assert result.ok, _messages(result)
    s = result.summary
    assert s["counts"] == {"meta": 2, "update": 10, "resume": 1, "error": 1, "summary": 1}
    assert s["updates"] == {"standing": 8, "abandoned": 2, "first": 1, "last": 8}
    assert s["env_steps"] == {"first": 128, "last": 1024}
    assert s["schema_version"] == S.SCHEMA_VERSION and s["run_id"] == "3f2a9c1e5b7d"
    assert [(r["line"], r["update"], r["abandoned"]) for r in s["resumes"]] == [(RESUME, 4, [5, 6])]
    assert [(e["line"], e["kind"], e["update"]) for e in s["error_records"]] == [(ERR3, "worker_exception", 3)]
    assert s["stopped_by"] == "done" and s["anomalies"] == [] and s["defects"] == 0


def test_missing_meta_record(tmp_path):
    result = validate_log(_write(tmp_path, _example()[1:]))
    assert not result.ok
    assert result.errors[0].line == 1
    assert "first record is 'update', expected a 'meta' record" in result.errors[0].message


def test_meta_without_schema_version_is_invalid(tmp_path):
    records = _example()
    del records[0][N.SCHEMA_VERSION]
    result = validate_log(_write(tmp_path, records))
    assert _messages(result) == [
        "line 1: meta record has no 'schema_version': it was written before the log contract "
        f"(echelon.metrics.schema, version {S.SCHEMA_VERSION})"
    ]


def test_missing_required_key(tmp_path):
    records = _example()
    del records[UPD2 - 1][N.TRAIN_LR]
    del records[RESUME - 1][N.RESUME_FROM]
    result = validate_log(_write(tmp_path, records))
    assert _messages(result) == [
        f"line {UPD2}: update record lacks required key 'train/lr'",
        f"line {RESUME}: resume record lacks required key 'resume/checkpoint'",
    ]


def test_wrong_type(tmp_path):
    records = _example()
    records[UPD3 - 1][N.TRAIN_ENV_STEPS] = "384"
    records[SUMMARY - 1]["stopped_by"] = 3
    result = validate_log(_write(tmp_path, records))
    assert _messages(result) == [
        f"line {UPD3}: update record: 'train/env_steps' is str ('384'), expected int",
        f"line {SUMMARY}: summary record: 'stopped_by' is int (3), expected str",
    ]


def test_nan_in_update_record(tmp_path):
    records = _example()
    records[UPD7 - 1][N.TRAIN_LOSS] = float("nan")
    records[UPD7 - 1][N.TRAIN_GRAD_NORM] = float("inf")
    path = _write(tmp_path, records)
    assert '"train/loss": "nan"' in path.read_text()  # written visibly, not as null
    result = validate_log(path)
    assert _messages(result) == [
        f"line {UPD7}: non-finite value in update record (train/loss=nan, train/grad_norm=inf); "
        "non-finite updates belong in error records"
    ]


def test_null_in_update_record_is_a_type_defect(tmp_path):
    # Logs written before the contract turned NaN into null: that must not pass as clean.
    records = _example()
    records[UPD2 - 1][N.TRAIN_ENTROPY] = None
    records[UPD2 - 1][N.POLICY_EXPLAINED_VAR] = None  # optional, but a number when present
    result = validate_log(_write(tmp_path, records))
    assert sorted(_messages(result)) == [
        f"line {UPD2}: update record: 'policy/explained_variance' is null (None), expected number",
        f"line {UPD2}: update record: 'train/entropy' is null (None), expected number",
    ]


def test_env_steps_backwards_without_resume(tmp_path):
    records = _example()
    records[UPD4 - 1][N.TRAIN_ENV_STEPS] = 300  # update 3 had 384
    result = validate_log(_write(tmp_path, records))
    assert _messages(result) == [
        f"line {UPD4}: train/env_steps went backwards without a resume: 300 after 384 (line {UPD3})"
    ]


def test_duplicated_update_after_a_resume(tmp_path):
    records = _example()
    records[RESUME - 1][N.RESUME_ABANDONED] = None  # the resume no longer abandons 5 and 6
    result = validate_log(_write(tmp_path, records))
    assert not result.ok
    msgs = _messages(result)
    assert msgs[0].startswith(f"line {RESUME}: resume from checkpoint update 4, but updates after it stand: "
                              f"5 (line {UPD5_OLD}), 6 (line {UPD6_OLD})")
    assert msgs[1:] == [
        f"line {UPD5}: duplicated update 5: update 5 already stands at line {UPD5_OLD} "
        "(a resume must name it in resume/abandoned)",
        f"line {UPD6}: duplicated update 6: update 6 already stands at line {UPD6_OLD} "
        "(a resume must name it in resume/abandoned)",
    ]


def test_update_number_backwards_and_ids(tmp_path):
    records = _example()
    records[UPD2 - 1][N.TRAIN_UPDATE] = 1
    records[UPD2 - 1][N.TRACE_ID] = "3f2a9c1e5b7d:1"
    records[UPD4 - 1][N.TRACE_ID] = "3f2a9c1e5b7d:40"
    records[UPD8 - 1][N.RUN_ID] = "other"
    records[UPD8 - 1][N.TRACE_ID] = "other:8"
    result = validate_log(_write(tmp_path, records))
    assert _messages(result) == [
        f"line {UPD2}: duplicated update 1: update 1 already stands at line {UPD1} "
        "(a resume must name it in resume/abandoned)",
        f"line {UPD4}: trace_id '3f2a9c1e5b7d:40' does not match run_id and train/update ('3f2a9c1e5b7d:4')",
        f"line {UPD8}: run_id 'other' differs from the run's '3f2a9c1e5b7d' (two runs in one log?)",
    ]


def test_abandoned_range_that_starts_too_early(tmp_path):
    records = _example()
    records[RESUME - 1][N.RESUME_ABANDONED] = [4, 6]  # would drop update 4, which the checkpoint holds
    result = validate_log(_write(tmp_path, records))
    assert f"line {RESUME}: resume/abandoned [4, 6] starts at or before the checkpoint's update 4" in _messages(result)


def test_anomalies_do_not_fail_the_log(tmp_path):
    records = [r for i, r in enumerate(_example(), start=1) if i not in (UPD7, SUMMARY)]
    result = validate_log(_write(tmp_path, records))
    assert result.ok, _messages(result)
    assert result.summary["anomalies"] == [
        f"line {UPD8 - 1}: updates 7..7 are missing (previous at line {UPD6})",
        "no summary record: the run is still going or stopped without writing one",
    ]


def test_malformed_and_empty_logs(tmp_path):
    path = tmp_path / "train_log.jsonl"
    path.write_text(EXAMPLE.read_text() + '{"type": "upd\n')
    result = validate_log(path)
    assert _messages(result) == [
        "line 16: malformed line: not valid JSON at column 10 (Unterminated string starting at)"
    ]
    path.write_text("")
    assert _messages(validate_log(path)) == ["the log holds no records (expected a 'meta' record first)"]
    assert not validate_log(tmp_path / "missing.jsonl").ok


def test_command_line(tmp_path):
    out = io.StringIO()
    assert main_validate(EXAMPLE, as_json=True, out=out) == 0
    assert json.loads(out.getvalue())["summary"]["counts"]["update"] == 10
    records = _example()[1:]
    out = io.StringIO()
    assert main_validate(_write(tmp_path, records), out=out) == 1
    assert "train_log.jsonl:1: first record is 'update'" in out.getvalue()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "validate_train_log.py"), str(EXAMPLE), "--json"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


@pytest.mark.parametrize("kind", [N.KIND_ERROR, N.KIND_SUMMARY])
def test_counters_of_error_and_summary_records_are_typed(tmp_path, kind):
    records = _example()
    line = ERR3 if kind == N.KIND_ERROR else SUMMARY
    records[line - 1][N.TRAIN_UPDATE] = 2.5
    result = validate_log(_write(tmp_path, records))
    assert f"line {line}: {kind} record: 'train/update' is float (2.5), expected int" in _messages(result)


V1_EXAMPLE = ROOT / "tests" / "data" / "example_train_log_v1.jsonl"


def test_schema_1_log_reads_under_current_names_and_validates():
    # A log written before the schema-2 renames (kept as written then) still validates, and every
    # reader sees its keys under the current spelling.
    result = validate_log(V1_EXAMPLE)
    assert result.ok, result.errors
    assert result.summary["schema_version"] == 1
    records = read_log(V1_EXAMPLE)
    upd = next(r for r in records if r[N.KIND] == N.KIND_UPDATE and N.RETURNS_MEAN in r)
    assert not set(N.RENAMED_IN_SCHEMA_2) & set(upd)
    assert upd[N.TRAIN_EPISODES] >= 0 and upd[N.SYSTEM_POLICY_LAG_MAX] == 0 and N.TRAIN_ENTROPY in upd


def test_unknown_schema_version_is_a_defect(tmp_path):
    records = _example()
    records[0][N.SCHEMA_VERSION] = 99
    assert "schema_version 99 is not one of (1, 2)" in _messages(validate_log(_write(tmp_path, records)))[0]


def test_league_keys_are_optional_and_typed(tmp_path):
    # Arena training adds league/ keys to update records: accepted when well typed, named when not.
    records = _example()
    records[UPD1 - 1].update({N.LEAGUE_POOL_SIZE: 2, N.LEAGUE_WINDOW_MATCHES: 8, N.LEAGUE_MIX_HEURISTIC: 0.25,
                              N.LEAGUE_WIN_RATE_CANDIDATE: 0.0})
    records[UPD2 - 1].update({N.LEAGUE_RATING: 1449.1, N.LEAGUE_RD: 162.6, N.LEAGUE_CONSERVATIVE: 1123.9})
    assert validate_log(_write(tmp_path, records)).ok
    records[UPD2 - 1][N.LEAGUE_POOL_SIZE] = 2.5
    records[UPD2 - 1][N.LEAGUE_RATING] = "high"
    assert _messages(validate_log(_write(tmp_path, records))) == [
        f"line {UPD2}: update record: 'league/pool_size' is float (2.5), expected int",
        f"line {UPD2}: update record: 'league/rating' is str ('high'), expected number",
    ]
