"""Glicko-2 against Glickman's published worked example, idle RD growth, rating periods."""

import math

import pytest

from echelon.league import glicko2
from echelon.league.glicko2 import Rating, conservative, expected_score, rate_period, update

PLAYER = Rating(1500.0, 200.0, 0.06)
OPPONENTS = [(Rating(1400.0, 30.0), 1.0), (Rating(1550.0, 100.0), 0.0), (Rating(1700.0, 300.0), 0.0)]


def test_glickmans_worked_example():
    # http://www.glicko.net/glicko/glicko2.pdf, "Example calculation": r' = 1464.06, RD' = 151.52,
    # sigma' = 0.05999. The paper rounds mu' to -0.2069 before converting (-0.2069 * 173.7178 + 1500
    # = 1464.06); unrounded, mu' = -0.20694 gives 1464.05, so the rating is held to 0.01. Its
    # sigma' = 0.05999 is e^(A/2) with A = -5.62696 truncated to five places (0.0599960).
    new = update(PLAYER, OPPONENTS)
    assert new.rating == pytest.approx(1464.06, abs=0.01)
    assert new.rd == pytest.approx(151.52, abs=0.005)
    assert 0.05999 <= new.volatility < 0.06000
    assert math.log(new.volatility**2) == pytest.approx(-5.62696, abs=0.000005)
    mu, phi = glicko2.to_glicko2(new.rating, new.rd)
    assert mu == pytest.approx(-0.2069, abs=0.00005) and phi == pytest.approx(0.8722, abs=0.00005)


def test_worked_example_intermediate_quantities():
    # Step 3's table of the paper: g(phi_j) = 0.9955, 0.9531, 0.7242 and E = 0.639, 0.432, 0.303.
    mu, phi = glicko2.to_glicko2(1500.0, 200.0)
    assert (mu, phi) == (0.0, pytest.approx(1.1513, abs=0.00005))
    table = [(0.9955, 0.639), (0.9531, 0.432), (0.7242, 0.303)]
    for (opp, _), (g_pub, e_pub) in zip(OPPONENTS, table, strict=True):
        mu_j, phi_j = glicko2.to_glicko2(opp.rating, opp.rd)
        assert glicko2._g(phi_j) == pytest.approx(g_pub, abs=0.00005)
        assert glicko2._e(mu, mu_j, phi_j) == pytest.approx(e_pub, abs=0.0005)
    # Step 5 from the paper's v = 1.7785 and delta = -0.4834 (computed there from the rounded
    # table; unrounded they are 1.77898 and -0.48393): the Illinois iteration ends at A = -5.62696.
    sigma = glicko2.new_volatility(0.06, phi, 1.7785, -0.4834)
    assert math.log(sigma**2) == pytest.approx(-5.62696, abs=0.000005)


def test_scale_conversion_round_trips():
    assert glicko2.from_glicko2(*glicko2.to_glicko2(1234.5, 87.6)) == pytest.approx((1234.5, 87.6))
    assert glicko2.to_glicko2(1500.0 + 173.7178, 173.7178) == pytest.approx((1.0, 1.0))


def test_an_idle_player_only_has_its_rd_grow():
    new = update(PLAYER, [])
    # phi' = sqrt(phi^2 + sigma^2): 200 / 173.7178 = 1.15130 -> sqrt(1.15130^2 + 0.06^2) * 173.7178
    assert new.rd == pytest.approx(math.sqrt((200 / 173.7178) ** 2 + 0.06**2) * 173.7178, rel=1e-12)
    assert new.rd == pytest.approx(200.27, abs=0.005)
    assert (new.rating, new.volatility) == (1500.0, 0.06)
    # Many idle periods: the RD climbs to a new player's 350 and stops there.
    rating = PLAYER
    rds = []
    for _ in range(1500):
        rating = update(rating, [])
        rds.append(rating.rd)
    assert all(b >= a for a, b in zip(rds, rds[1:], strict=False)) and rds[-1] == pytest.approx(350.0)


def test_a_rating_period_uses_start_ratings_and_ignores_game_order():
    players = {"a": Rating(1600, 80), "b": Rating(1500, 120), "c": Rating(1400, 200), "idle": Rating(1700, 60)}
    games = [("a", "b", 1.0), ("b", "c", 0.5), ("c", "a", 1.0), ("a", "c", 0.0)]
    new = rate_period(players, games)
    again = rate_period(players, list(reversed(games)))
    assert all(again[k] == pytest.approx(new[k], rel=1e-12) for k in players)
    # a's update is exactly a single-player update against the start ratings of its opponents.
    expect_a = update(players["a"], [(players["b"], 1.0), (players["c"], 0.0), (players["c"], 0.0)])
    assert new["a"] == pytest.approx(expect_a)
    assert new["idle"] == update(players["idle"], [])
    assert new["c"].rating > players["c"].rating and new["a"].rating < players["a"].rating


def test_rate_period_rejects_unknown_players_and_bad_scores():
    with pytest.raises(KeyError, match="'z'"):
        rate_period({"a": Rating()}, [("a", "z", 1.0)])
    with pytest.raises(ValueError, match="score must be in"):
        rate_period({"a": Rating(), "b": Rating()}, [("a", "b", 2.0)])


def test_expected_score_and_conservative():
    assert expected_score(Rating(1500, 50), Rating(1500, 300)) == pytest.approx(0.5)
    strong, weak = Rating(1800, 50), Rating(1400, 50)
    p = expected_score(strong, weak)
    assert p + expected_score(weak, strong) == pytest.approx(1.0)
    # Little uncertainty: close to the Elo expectation 1 / (1 + 10^(-400/400)) = 0.909.
    assert 0.88 < p < 0.91
    assert expected_score(Rating(1800, 350), Rating(1400, 350)) < p  # uncertainty pulls toward 0.5
    assert conservative(1500.0, 350.0) == 800.0 and conservative(1464.06, 151.52) == pytest.approx(1161.02)
