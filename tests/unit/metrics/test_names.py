"""Metric names: one place, unique, each under its group prefix."""

from echelon.metrics import names as N


def test_metric_names_are_unique():
    names = N.all_names()
    values = list(names.values())
    dupes = {v for v in values if values.count(v) > 1}
    assert not dupes, f"metric keys defined twice: {dupes}"
    assert len(names) >= 40


def test_each_constant_lives_under_its_group_prefix():
    prefix_of_group = {"TRAIN": "train/", "POLICY": "policy/", "PERF": "perf/", "EPISODE": "episode/",
                       "RESUME": "resume/", "ERROR": "error/",
                       "WARNING": "warning/"}
    for const, key in N.all_names().items():
        group = const.split("_", 1)[0]
        assert key.startswith(prefix_of_group[group]), (const, key)
        assert key == key.lower() and " " not in key, key


def test_record_kinds_are_distinct():
    kinds = [N.KIND_META, N.KIND_UPDATE, N.KIND_RESUME, N.KIND_EPISODE, N.KIND_SUMMARY, N.KIND_ERROR]
    assert len(set(kinds)) == len(kinds)
    assert N.KIND == "type"  # the serial loop's record-kind key
