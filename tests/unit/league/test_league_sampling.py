"""Opponent sampling: the pool and mix, and the drawn distribution (chi-square) for both modes."""

import math

import numpy as np
import pytest

from echelon.config import ConfigError, LeagueConfig, load_config
from echelon.league.glicko2 import Rating, expected_score
from echelon.league.league import League, LeagueError
from echelon.league.sampling import SELF, build_sampler, pfsp_weights

LEARNER = Rating(1500.0, 100.0)


def chi2_critical(df: int, alpha: float = 0.001) -> float:
    try:
        from scipy.stats import chi2

        return float(chi2.ppf(1.0 - alpha, df))
    except ImportError:  # Wilson-Hilferty approximation; z = 3.0902 is the normal 0.999 quantile
        assert alpha == 0.001
        return df * (1 - 2 / (9 * df) + 3.0902 * math.sqrt(2 / (9 * df))) ** 3


def chi2_statistic(draws, ids, probs) -> float:
    counts = np.array([sum(d == i for d in draws) for i in ids], dtype=float)
    expected = len(draws) * np.asarray(probs)
    assert counts.sum() == len(draws)  # nothing drawn outside ids
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.fixture
def league(tmp_path):
    lg = League.create(tmp_path / "league.json", {"obs_shape": [3]}, (0.5, 1.0))
    lg.entries["heuristic@0.5"].rating, lg.entries["heuristic@0.5"].rd = 1350.0, 60.0
    lg.entries["heuristic@1.0"].rating, lg.entries["heuristic@1.0"].rd = 1600.0, 60.0
    for i, (kind, rating, rd) in enumerate([("commander", 1700, 60), ("commander", 1500, 50),
                                            ("commander", 1300, 80), ("candidate", 1450, 200),
                                            ("candidate", 1650, 150), ("candidate", 1550, 300),
                                            ("retired", 1900, 50)]):
        entry = lg.add_candidate(f"e{i}", tmp_path / f"e{i}.pt", created=float(i))
        entry.kind, entry.rating, entry.rd, entry.games = kind, float(rating), float(rd), 10
    return lg


def test_pfsp_weights():
    assert pfsp_weights([0.1, 0.5, 0.9], 2.0) == pytest.approx([0.01, 0.25, 0.81])
    assert pfsp_weights([0.1, 0.5, 0.9], 0.0) == pytest.approx([1, 1, 1])
    assert pfsp_weights([0.0, 0.0], 3.0) == pytest.approx([1, 1])


@pytest.mark.parametrize("mode", ["uniform", "prioritised"])
def test_drawn_distribution_matches_the_weights(league, mode):
    cfg = LeagueConfig(sampling=mode, priority_exponent=2.0, heuristic_fraction=0.25, fixed_fire_probs=[0.5, 1.0],
                       recent_candidates=2)
    sampler = build_sampler(league, cfg, LEARNER)
    fixed, pool = ["heuristic@0.5", "heuristic@1.0"], ["e0", "e1", "e2", "e4", "e5"]  # e3: older candidate
    assert sampler.ids == tuple(fixed + pool)
    assert sampler.kinds == ("fixed", "fixed", "commander", "commander", "commander", "candidate", "candidate")

    def weights(ids):
        if mode == "uniform":
            w = np.ones(len(ids))
        else:
            w = np.array([(1 - expected_score(LEARNER, league.entries[i].glicko)) ** 2 for i in ids])
        return w / w.sum()

    expect = np.concatenate([0.25 * weights(fixed), 0.75 * weights(pool)])
    assert sampler.probs == pytest.approx(expect, abs=1e-12)
    if mode == "prioritised":  # the strongest opponents come up most
        assert sampler.probability("e0") > sampler.probability("e1") > sampler.probability("e2")
        assert sampler.probability("heuristic@1.0") > 3 * sampler.probability("heuristic@0.5")
    rng = np.random.default_rng(12345)
    draws = sampler.sample_opponents(rng, 100_000)
    critical = chi2_critical(len(expect) - 1)
    assert chi2_statistic(draws, sampler.ids, expect) < critical
    # One draw per reset (the rollout worker's call) follows the same law.
    singles = [sampler.sample_opponent(rng) for _ in range(20_000)]
    assert chi2_statistic(singles, sampler.ids, expect) < critical
    # The test has power: the other mode's weights are rejected by the same draws.
    other = build_sampler(league, LeagueConfig(sampling="prioritised" if mode == "uniform" else "uniform",
                                               heuristic_fraction=0.25, fixed_fire_probs=[0.5, 1.0],
                                               recent_candidates=2), LEARNER)
    assert chi2_statistic(draws, sampler.ids, other.probs) > 10 * critical


def test_seeded_draws_repeat(league):
    sampler = build_sampler(league, LeagueConfig(fixed_fire_probs=[0.5, 1.0]), LEARNER)
    first = sampler.sample_opponents(np.random.default_rng(7), 50)
    assert first == sampler.sample_opponents(np.random.default_rng(7), 50)
    assert len(set(first)) > 3
    assert sampler.sample_opponent(np.random.default_rng(7)) == first[0]


def test_mix_self_play_exclusion_and_empty_pool(league, tmp_path):
    cfg = LeagueConfig(heuristic_fraction=0.4, fixed_fire_probs=[1.0], self_play=True)
    sampler = build_sampler(league, cfg)
    assert sampler.ids == ("heuristic@1.0", SELF) and sampler.probs == pytest.approx((0.4, 0.6))
    assert sampler.kinds == ("fixed", SELF)
    # The learner's own snapshot (by id) is not its opponent, and its entry gives its rating.
    sampler = build_sampler(league, LeagueConfig(heuristic_fraction=0.0, recent_candidates=3), "e4", exclude=["e4"])
    assert "e4" not in sampler.ids and "heuristic@1.0" not in sampler.ids and sum(sampler.probs) == pytest.approx(1)
    # No pool yet: every match is against the heuristics, whatever the fraction.
    empty = League.create(tmp_path / "empty.json", {}, (0.5, 1.0))
    sampler = build_sampler(empty, LeagueConfig(heuristic_fraction=0.1, fixed_fire_probs=[0.5, 1.0],
                                                sampling="uniform"))
    assert sampler.probs == pytest.approx((0.5, 0.5))
    with pytest.raises(LeagueError, match="no entry 'heuristic@0.25'"):
        build_sampler(empty, LeagueConfig(fixed_fire_probs=[0.25]))
    with pytest.raises(LeagueError, match="offers no opponent"):
        build_sampler(empty, LeagueConfig(fixed_fire_probs=[], heuristic_fraction=0.0))


@pytest.mark.parametrize("override, fragment", [
    ("league.sampling=pfsp", "uniform|prioritised"),
    ("league.heuristic_fraction=1.5", "heuristic_fraction must be in [0, 1]"),
    ("league.fixed_fire_probs=[0.5,0.5]", "duplicates"),
    ("league.fixed_fire_probs=[1.2]", "each be in [0, 1]"),
    ("league.top_k=0", "league.top_k must be >= 1"),
    ("league.min_games=-1", "league.min_games must be >= 0"),
    ("league.priority_exponent=-1", "priority_exponent must be >= 0"),
    ("league.tau=0", "league.tau must be > 0"),
    ("league.colour=red", "Key 'colour' not in 'LeagueConfig'"),
])
def test_league_config_is_validated(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert fragment in str(err.value)


def test_league_config_is_off_by_default():
    cfg = load_config(None)
    assert not cfg.league.enabled and cfg.league.path is None
    assert load_config(None, ["league.path=runs/league.json"]).league.enabled
