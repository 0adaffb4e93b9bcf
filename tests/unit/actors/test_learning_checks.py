"""The learning checks' figures from a score series (pure), and their per-task aggregate."""

import pytest

from echelon.actors.learning_checks import MAX_LATE_DROP, TASKS, Task, aggregate, score_series, summarize
from echelon.metrics import names as N

TASK = Task("x.yaml", bar=450.0, lo=0.0, hi=500.0)


def series(values, step=1000):
    return [(step * (i + 1), float(v)) for i, v in enumerate(values)]


def test_first_at_bar_final10_best_span_and_late_drop():
    # 20 records: climbs to 500 by record 10, holds, then the last 2 (the final 10%) fall to 400.
    values = [50 * (i + 1) for i in range(10)] + [500] * 8 + [400, 400]
    out = summarize(series(values), TASK)
    assert out["first_at_bar"] == 9000  # 450 at record 9
    assert out["final10"] == 400.0
    assert out["best"] == 500.0  # best span of 2 consecutive records
    assert out["late_drop"] == pytest.approx(100 / 500)
    assert out["reached"] and not out["no_collapse"]  # 0.2 of the range > MAX_LATE_DROP


def test_best_is_a_span_not_one_lucky_window():
    values = [100] * 9 + [500] + [100] * 10  # one spike; 10% of 20 records = spans of 2
    out = summarize(series(values), TASK)
    assert out["best_window"] == 500 and out["best"] == 300.0
    assert out["late_drop"] == pytest.approx(200 / 500)


def test_a_run_that_never_reaches_the_bar_and_the_control():
    out = summarize(series([100, 200, 300]), TASK)
    assert out["first_at_bar"] is None and not out["reached"]
    control = Task("c.yaml", bar=None, below=300.0, lo=0.0, hi=500.0)
    assert summarize(series([50, 120, 290]), control)["reached"]
    assert not summarize(series([50, 120, 310]), control)["reached"]
    assert summarize([], TASK)["final10"] is None


def test_score_series_reads_update_records_only():
    recs = [
        {N.KIND: N.KIND_META},
        {N.KIND: N.KIND_UPDATE, N.TRAIN_ENV_STEPS: 10},  # no episode finished yet
        {N.KIND: N.KIND_UPDATE, N.TRAIN_ENV_STEPS: 20, N.RETURNS_MEAN: 3.5},
        {N.KIND: N.KIND_WARNING, N.TRAIN_ENV_STEPS: 20, N.RETURNS_MEAN: 99.0},
    ]
    assert score_series(recs, N.RETURNS_MEAN) == [(20, 3.5)]


def test_aggregate_mean_and_worst_seed():
    def res(seed, first, final, passed=True):
        return {"task": "t", "seed": seed, "first_at_bar": first, "final10": final, "best": 500.0,
                "late_drop": 0.01, "warnings": [], "wall_s": 1.0, "passed": passed}

    (agg,) = aggregate([res(1, 1000, 490.0), res(2, 3000, 470.0), res(3, 2000, 500.0)])
    assert agg["first_at_bar_mean"] == 2000 and agg["first_at_bar_worst"] == 3000
    assert agg["final10_mean"] == pytest.approx(486.6666, rel=1e-4) and agg["final10_worst"] == 470.0
    assert agg["passed"]
    (agg,) = aggregate([res(1, 1000, 490.0), res(2, None, 100.0, passed=False)])
    assert agg["first_at_bar_worst"] is None and not agg["passed"]


def test_task_table_is_consistent():
    assert 0 < MAX_LATE_DROP < 1
    for name, task in TASKS.items():
        assert task.lo < task.hi, name
        assert (task.bar is None) != (task.below is None), name
