"""Metric families against hand-computed values, including empty and single-episode windows."""

import math

import pytest

from echelon.metrics import names as N
from echelon.metrics.episodes import agent_table, compact_episode
from echelon.metrics.families import (
    EpisodeRow,
    combat_stats,
    coordination_stats,
    kill_participation,
    outcome_rates,
    perception_stats,
    returns_stats,
    reward_component_stats,
    team_return_stats,
    window_families,
    window_families_of_rows,
    zone_stats,
)


def _agent(i, team, alive, dealt, taken, kills=0, assists=0, reward=0.0, cls="medium"):
    return {"id": i, "team": team, "class": cls, "alive": alive, "damage_dealt": dealt, "damage_taken": taken,
            "kills": kills, "assists": assists, "reward": reward}


def _match(length=100, stats=None, agents=(), winner="blue", reason="zone", ret=1.0, parts=None):
    ep = {"compact": True, "return": ret, "length": length, "winner": winner, "reason": reason,
          "stats": dict(stats or {}), "agents": list(agents)}
    if parts is not None:
        ep["reward_components"] = parts
    return ep


def _all_finite(d):
    return all(isinstance(v, float) and math.isfinite(v) for v in d.values())


def test_returns_stats_by_hand():
    s = returns_stats([1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40])
    assert s == pytest.approx({
        N.RETURNS_MEAN: 2.5, N.RETURNS_MEDIAN: 2.5, N.RETURNS_P10: 1.3, N.RETURNS_P90: 3.7,
        N.RETURNS_STD: math.sqrt(1.25), N.RETURNS_MAX: 4.0, N.RETURNS_LENGTH_MEAN: 25.0, N.RETURNS_WINDOW: 4.0,
    })


def test_returns_stats_empty_and_single_window():
    assert returns_stats([], []) == {}
    s = returns_stats([5.0], [7])
    assert s == {N.RETURNS_MEAN: 5.0, N.RETURNS_MEDIAN: 5.0, N.RETURNS_P10: 5.0, N.RETURNS_P90: 5.0,
                 N.RETURNS_STD: 0.0, N.RETURNS_MAX: 5.0, N.RETURNS_LENGTH_MEAN: 7.0, N.RETURNS_WINDOW: 1.0}


def test_outcome_rates_count_decided_episodes_only():
    s = outcome_rates(["blue", "red", "draw", "blue", "none", None], ["zone", "time", None, "elimination"])
    assert s == pytest.approx({N.RETURNS_WIN_RATE: 0.5, N.RETURNS_DRAW_RATE: 0.25, N.RETURNS_LOSS_RATE: 0.25,
                               N.RETURNS_END_ZONE_RATE: 1 / 3, N.RETURNS_END_ELIMINATION_RATE: 1 / 3,
                               N.RETURNS_END_TIME_RATE: 1 / 3})
    assert outcome_rates([None], [None]) == {}


def test_team_returns_only_when_both_teams_learn():
    eps = [{"team_returns": {"blue": 1.0, "red": -1.0}}, {"team_returns": {"blue": 3.0, "red": 1.0}}]
    assert team_return_stats(eps) == {N.RETURNS_MEAN_BLUE: 2.0, N.RETURNS_MEAN_RED: 0.0}
    assert team_return_stats([{"team_returns": {"blue": 1.0}}]) == {}


def test_reward_components_average_and_total():
    eps = [_match(parts={"zone": 1.0, "kill": 2.0}), _match(parts={"zone": 3.0, "kill": 0.0}), _match()]
    assert reward_component_stats(eps) == {N.reward_key("kill"): 1.0, N.reward_key("zone"): 2.0,
                                           N.REWARDS_TOTAL: 3.0}
    assert reward_component_stats([_match()]) == {}


def _combat_window():
    fought = _match(stats={"damage_blue": 40.0, "kills_blue": 2.0, "deaths_blue": 1.0}, agents=[
        _agent(0, "blue", True, 30.0, 10.0, kills=2), _agent(1, "blue", False, 10.0, 50.0, assists=1),
        _agent(2, "red", False, 5.0, 60.0), _agent(3, "red", True, 55.0, 20.0),
    ])
    quiet = _match(stats={"damage_blue": 0.0, "kills_blue": 0.0, "deaths_blue": 0.0}, agents=[
        _agent(0, "blue", True, 0.0, 0.0), _agent(1, "blue", True, 0.0, 0.0), _agent(2, "red", True, 0.0, 0.0),
    ])
    return fought, quiet


def test_combat_stats_by_hand():
    fought, quiet = _combat_window()
    # Kill participation: (2 + 0) / 2 and (0 + 1) / 2 -> 0.75.
    assert kill_participation(fought) == pytest.approx(0.75) and kill_participation(quiet) is None
    s = combat_stats([fought, quiet])
    assert s == pytest.approx({
        N.COMBAT_DAMAGE_DEALT: (20.0 + 0.0) / 2,  # 40 HP over 2 blue mechs, then 0
        N.COMBAT_DAMAGE_TAKEN: (30.0 + 0.0) / 2,  # (10 + 50) / 2, then 0
        N.COMBAT_DAMAGE_RATIO: 40.0 / (40.0 + 60.0),
        N.COMBAT_KILLS: 1.0, N.COMBAT_DEATHS: 0.5,
        N.COMBAT_SURVIVAL_RATE: (0.5 + 1.0) / 2,
        N.COMBAT_KILL_PARTICIPATION: 0.75,
    })
    # Nothing dealt or taken: no ratio (0/0), no participation (no kills); never NaN.
    s = combat_stats([quiet])
    assert N.COMBAT_DAMAGE_RATIO not in s and N.COMBAT_KILL_PARTICIPATION not in s and _all_finite(s)
    assert combat_stats([]) == {}


def test_zone_stats_by_hand():
    a = _match(length=100, stats={"zone_ticks_blue": 30.0, "zone_ticks_red": 10.0, "contested_ticks": 5.0,
                                  "first_zone_entry_step": 20.0})
    b = _match(length=50, stats={"zone_ticks_blue": 0.0, "zone_ticks_red": 25.0, "contested_ticks": 0.0,
                                 "first_zone_entry_step": -1.0})
    assert zone_stats([a, b]) == pytest.approx({N.ZONE_CONTROL_MARGIN: (0.2 - 0.5) / 2,
                                                N.ZONE_CONTESTED_RATIO: 0.025, N.ZONE_FIRST_ENTRY: (0.2 + 1.0) / 2})
    assert zone_stats([]) == {}


def test_coordination_and_perception_by_hand():
    a = _match(stats={"pack_dispersion_sum_blue": 40.0, "pack_dispersion_count_blue": 10.0,
                      "centroid_zone_dist_sum_blue": 100.0, "damage_blue": 40.0, "focus_fire_concentration_blue": 0.5,
                      "visible_contacts_sum_blue": 30.0, "visible_contacts_count_blue": 10.0,
                      "hostile_filter_on_count_blue": 5.0, "ecm_on_ticks_blue": 2.0, "eccm_on_ticks_blue": 1.0,
                      "scout_ticks_blue": 4.0})
    b = _match(stats={"pack_dispersion_sum_blue": 20.0, "pack_dispersion_count_blue": 10.0,
                      "centroid_zone_dist_sum_blue": 300.0, "damage_blue": 0.0, "focus_fire_concentration_blue": 0.0})
    assert coordination_stats([a, b]) == pytest.approx({N.COORD_PACK_DISPERSION: 3.0,
                                                        N.COORD_CENTROID_ZONE_DIST: 20.0, N.COORD_FOCUS_FIRE: 0.5})
    assert perception_stats([a, b]) == pytest.approx({N.PERCEPTION_VISIBLE_CONTACTS: 3.0,
                                                      N.PERCEPTION_HOSTILE_FILTER: 0.5, N.PERCEPTION_ECM: 0.5,
                                                      N.PERCEPTION_ECCM: 0.25})
    # No scout alive in the window: no EWAR rates rather than 0/0.
    assert N.PERCEPTION_ECM not in perception_stats([b]) and coordination_stats([]) == perception_stats([]) == {}


def test_window_families_zero_single_and_plain_env_windows_are_finite():
    assert window_families([]) == {}
    single = window_families([_combat_window()[0]])
    assert single[N.RETURNS_STD] == 0.0 and _all_finite(single)
    cartpole = window_families([{"return": 9.0, "length": 9}])  # no outcome, no stats
    assert set(cartpole) == {N.RETURNS_MEAN, N.RETURNS_MEDIAN, N.RETURNS_P10, N.RETURNS_P90, N.RETURNS_STD,
                             N.RETURNS_MAX, N.RETURNS_LENGTH_MEAN, N.RETURNS_WINDOW}


def test_compact_episode_keeps_what_the_families_read():
    raw = {"return": 2.0, "length": 40, "env": 3, "reward_components": {"zone": 1.5, "outcome": 0.5},
           "team_returns": {"blue": 2.0},
           "outcome": {"reason": "time", "winner": "draw", "stats": {"damage_blue": 7.0, "paints_blue": 3.0},
                       "agents": [_agent(0, "blue", True, 7.0, 1.0, reward=2.0)],
                       "death_positions": [(1.0, 2.0, "red")], "damage_heatmap": [[0.0] * 16] * 16,
                       "map_size": (40, 40)}}
    ep = compact_episode(raw)
    assert ep["winner"] == "draw" and ep["reason"] == "time" and ep["stats"] == {"damage_blue": 7.0}
    assert ep["deaths"] == [[1.0, 2.0, "red"]] and ep["damage_grid"].shape == (16, 16)
    assert ep["map_size"] == [40.0, 40.0] and "env" not in ep and compact_episode(ep) is ep
    assert set(compact_episode(raw, full=False)) == {"compact", "return", "length", "winner", "reason",
                                                     "team_returns"}
    columns, rows = agent_table(ep)
    assert columns[0] == "agent" and rows == [["blue_0", "blue", "medium", True, 7.0, 1.0, 0, 0, 2.0]]
    # The match's layout (curriculum over the match) travels in both forms.
    laid = compact_episode({**raw, "size": 56, "packs_per_team": 1}, full=False)
    assert (laid["size"], laid["packs_per_team"]) == (56, 1)
    assert compact_episode({**raw, "size": 56, "packs_per_team": 1})["size"] == 56


def _varied_match(i):
    """Match ``i`` of a varied stream: kills or none, damage or none, self-play team returns on
    every third, no agent rows on every fifth, a zero length on every seventh."""
    agents = [] if i % 5 == 4 else [
        _agent(0, "blue", i % 2 == 0, 10.0 * (i % 3), 3.0 + i, kills=i % 2, assists=i % 3),
        _agent(1, "blue", True, 0.5 * i, 0.0 if i % 4 else 7.0, kills=0, assists=1),
        _agent(2, "red", i % 3 == 0, 4.0, 2.0 * i, kills=1),
    ]
    stats = {"damage_blue": 10.0 * (i % 3) + 0.5 * i, "kills_blue": float(i % 2), "deaths_blue": float(i % 3),
             "zone_ticks_blue": 1.5 * i, "zone_ticks_red": 40.0 - i, "contested_ticks": float(i % 6),
             "first_zone_entry_step": -1.0 if i % 4 == 0 else 3.0 * i}
    ep = _match(length=0 if i % 7 == 6 else 50 + 13 * i, stats=stats, agents=agents,
                winner=("blue", "red", "draw", None)[i % 4], reason=("zone", "time", "elimination")[i % 3],
                ret=0.37 * i - 2.0, parts={"damage": 0.1 * i, "kill": float(i % 2)} if i % 2 else {"zone": 0.3 * i})
    if i % 3 == 0:
        ep["team_returns"] = {"blue": 0.1 * i, "red": -0.2 * i}
    return ep


def test_window_families_of_rows_equal_the_episode_version_exactly():
    eps = [_varied_match(i) for i in range(23)]
    for lo, hi in ((0, 1), (0, 23), (4, 15), (22, 23)):
        window = eps[lo:hi]
        rows = [EpisodeRow(ep) for ep in window]
        for full in (True, False):
            assert window_families_of_rows(rows, full=full) == window_families(window, full=full)
    assert window_families_of_rows([]) == {}


def test_hub_window_rows_follow_the_rolling_window_exactly(tmp_path):
    from echelon.metrics.hub import MetricsHub

    hub = MetricsHub(tmp_path, window=6)
    eps = [_varied_match(i) for i in range(17)]
    for i, ep in enumerate(eps):
        hub.add_episodes([ep])
        stats = hub.window_stats()
        assert stats.pop(N.TRAIN_EPISODES) == i + 1
        assert stats == window_families(eps[max(0, i - 5): i + 1])  # the same floats, not just close
    hub.close()
