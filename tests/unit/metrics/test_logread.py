"""Reading train_log.jsonl: decoding, malformed lines by number, abandoned update records dropped."""

import math

import pytest

from echelon.metrics import names as N
from echelon.metrics import schema as S
from echelon.metrics.logread import LogReadError, abandoned_indices, read_log, scan_log, standing_records


def _write(path, records, extra_lines=()):
    text = "".join(S.dumps(r) + "\n" for r in records) + "".join(x + "\n" for x in extra_lines)
    path.write_text(text)
    return path


def _upd(u):
    return {N.KIND: N.KIND_UPDATE, N.TRAIN_UPDATE: u, N.TRAIN_ENV_STEPS: 10 * u}


def _resume(u, abandoned):
    return {N.KIND: N.KIND_RESUME, N.TRAIN_UPDATE: u, N.RESUME_ABANDONED: abandoned}


def test_read_log_decodes_nonfinite_strings(tmp_path):
    path = _write(tmp_path / "log.jsonl", [{N.KIND: N.KIND_UPDATE, N.TRAIN_LOSS: math.inf, "x": math.nan}])
    (rec,) = read_log(path)
    assert rec[N.TRAIN_LOSS] == math.inf and math.isnan(rec["x"])


def test_malformed_line_is_named_by_number(tmp_path):
    path = _write(tmp_path / "log.jsonl", [_upd(1)], extra_lines=["", '{"type": "update", "train/upd', "[1, 2]"])
    with pytest.raises(LogReadError, match=r"log.jsonl:3: not valid JSON"):
        read_log(path)
    lines, problems = scan_log(path)
    assert [ln.lineno for ln in lines] == [1]
    assert [p[0] for p in problems] == [3, 4] and "expected an object" in problems[1][1]


def test_bare_nan_token_is_rejected(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"type": "update", "train/loss": NaN}\n')
    with pytest.raises(LogReadError, match=r":1: .*bare NaN"):
        read_log(path)


def test_missing_file_is_a_read_error(tmp_path):
    with pytest.raises(LogReadError, match="cannot read log"):
        read_log(tmp_path / "nope.jsonl")


def test_standing_records_drop_the_abandoned_range():
    records = [{N.KIND: N.KIND_META}, _upd(1), _upd(2), _upd(3), _upd(4), _resume(2, [3, 4]), _upd(3), _upd(4)]
    assert abandoned_indices(records) == {3, 4}
    standing = standing_records(records)
    assert [r[N.TRAIN_UPDATE] for r in standing if r[N.KIND] == N.KIND_UPDATE] == [1, 2, 3, 4]
    assert standing[-1] is records[-1] and standing[3] is records[5]


def test_a_later_resume_can_reach_back_past_an_earlier_one():
    # Second resume had to skip checkpoint 4 and restart from 2: it abandons 3..5 across both segments.
    records = [_upd(1), _upd(2), _upd(3), _upd(4), _upd(5), _resume(4, [5, 5]), _upd(5), _resume(2, [3, 5]), _upd(3)]
    assert abandoned_indices(records) == {2, 3, 4, 6}
    assert [r[N.TRAIN_UPDATE] for r in standing_records(records) if r[N.KIND] == N.KIND_UPDATE] == [1, 2, 3]


def test_null_or_malformed_range_drops_nothing():
    records = [_upd(1), _upd(2), _resume(1, None), _resume(1, [2]), _resume(1, [3, 2])]
    assert abandoned_indices(records) == set()
