"""Metric names: one place, unique, each under its group prefix; schema-1 spellings map onto them."""

from echelon.metrics import names as N


def test_metric_names_are_unique():
    names = N.all_names()
    values = list(names.values())
    dupes = {v for v in values if values.count(v) > 1}
    assert not dupes, f"metric keys defined twice: {dupes}"
    assert len(names) >= 90


def test_each_constant_lives_under_its_group_prefix():
    prefix_of_group = {"TRAIN": "train/", "POLICY": "policy/", "RETURNS": "returns/", "REWARDS": "rewards/",
                       "COMBAT": "combat/", "ZONE": "zone/", "COORD": "coordination/", "PERCEPTION": "perception/",
                       "DIST": "distributions/", "SPATIAL": "spatial/", "EPISODES": "episodes/", "PERF": "perf/",
                       "SYSTEM": "system/", "CURRICULUM": "curriculum/", "EVAL": "eval/", "LEAGUE": "league/",
                       "RESUME": "resume/", "ERROR": "error/", "WARNING": "warning/"}
    assert set(prefix_of_group.values()) == set(N.GROUPS)
    for const, key in N.all_names().items():
        group = const.split("_", 1)[0]
        assert key.startswith(prefix_of_group[group]), (const, key)
        assert key == key.lower() and " " not in key, key


def test_record_kinds_are_distinct():
    kinds = [N.KIND_META, N.KIND_UPDATE, N.KIND_RESUME, N.KIND_EPISODE, N.KIND_SUMMARY, N.KIND_ERROR]
    assert len(set(kinds)) == len(kinds)
    assert N.KIND == "type"  # the serial loop's record-kind key


def test_older_spellings_map_to_current_names_one_to_one():
    new = list(N.RENAMED_KEYS.values())
    assert len(set(new)) == len(new) and set(new) <= set(N.all_names().values())
    # Nothing writes an old spelling any more: none of them is a current name.
    assert not set(N.RENAMED_KEYS) & set(N.all_names().values())
    assert N.RENAMED_KEYS["train/curriculum_fire_prob"] == N.CURRICULUM_WEAPON_FIRE_PROB


def test_dynamic_keys_stay_in_their_family():
    assert N.trigger_rate_key("primary") == "policy/trigger_rate/primary"
    assert N.reward_key("zone") == "rewards/zone" and N.reward_key("zone") != N.REWARDS_TOTAL
    assert N.action_hist_key("yaw") == "distributions/action/yaw"
    assert set(N.STRIDED_GROUPS) <= set(N.GROUPS)


def test_wandb_layout_shows_only_metric_keys_in_six_rows():
    from echelon.metrics.wandb_layout import ROWS, layout_keys

    assert [title for title, _ in ROWS] == ["Progress", "Policy health", "Combat", "Coordination", "Distributions",
                                            "Spatial"]
    keys = layout_keys()
    assert keys and all(N.is_metric_key(k) for k in keys), [k for k in keys if not N.is_metric_key(k)]
    assert {N.DIST_ADVANTAGES, N.SPATIAL_MOVEMENT, N.EPISODES_AGENT_BREAKDOWN} <= set(keys)
