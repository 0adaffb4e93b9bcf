"""The comparison's arithmetic: rates from (time, env steps, agent steps) marks, equal-env-step lookup."""

from echelon.baselines.compare import _rates, _ratio, along_curve, at_env_steps


def test_rates_end_to_end_and_steady():
    # Set-up takes 10 s, then 100 env steps/s.
    r = _rates([(10.0, 1000, 5000), (20.0, 2000, 10000), (30.0, 3000, 15000)])
    assert r["env_steps_per_s"] == 100.0 and r["agent_steps_per_s"] == 500.0  # 3000 / 30 s
    assert r["steady_env_steps_per_s"] == 100.0  # (3000 - 1000) / (30 - 10)
    assert r["iterations"] == 3 and r["wall_s"] == 30.0
    assert _rates([(5.0, 100, 500)])["steady_env_steps_per_s"] is None


def test_at_env_steps_takes_the_first_point_at_or_past_the_target():
    curve = [(1024, -4.0, 0.0), (2048, -3.0, 0.0), (3072, -1.0, 0.1)]
    assert at_env_steps(curve, 2048) == {"env_steps": 2048, "return_mean": -3.0, "win_rate": 0.0}
    assert at_env_steps(curve, 2049)["env_steps"] == 3072
    assert at_env_steps(curve, 4000) is None


def test_ratio_only_against_a_positive_baseline():
    assert _ratio(10.0, 4.0) == 2.5
    assert _ratio(-1.0, -2.0) is None and _ratio(1.0, 0.0) is None and _ratio(None, 1.0) is None


def test_along_curve_compares_at_each_rllib_point_ours_reached():
    ours = [(1000, None, None), (2000, 10.0, 0.2), (3000, 20.0, 0.5), (4000, 30.0, 0.4)]
    # RLlib's first point has no window yet; its last lies past ours' end.
    rllib = [(900, None, None), (1500, 12.0, 0.1), (2900, 22.0, 0.6), (5000, 40.0, 0.9)]
    out = along_curve(ours, rllib)
    # 1500 -> ours at 2000 (10.0, 0.2); 2900 -> ours at 3000 (20.0, 0.5); 5000 not reached.
    assert out["points"] == 2 and out["from_env_steps"] == 1500
    assert out["ours"] == {"return_mean": 15.0, "win_rate": 0.35}
    assert out["rllib"] == {"return_mean": 17.0, "win_rate": 0.35}
    assert out["ours_level_or_ahead"] == {"return_mean": 0, "win_rate": 1}
    assert along_curve(ours, [(5000, 40.0, 0.9)]) is None
    # RLlib has figures at 500 env steps where ours has none yet: the comparison starts at 1500.
    early = along_curve(ours, [(500, 5.0, 0.0), *rllib[1:]])
    assert early["points"] == 2 and early["from_env_steps"] == 1500
