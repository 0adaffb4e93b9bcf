"""Glicko-2 ratings as pure functions (Glickman, "Example of the Glicko-2 system", 2022,
http://www.glicko.net/glicko/glicko2.pdf; the step numbers below are the paper's).

A rating is ``(rating, rd, volatility)`` on the Glicko scale: ``rating`` and ``rd`` (rating
deviation, one standard deviation of the rating's uncertainty) in rating points, a new player at
1500 / 350 / 0.06. The update works on the Glicko-2 scale ``mu = (rating - 1500) / 173.7178``,
``phi = rd / 173.7178``. Games are grouped into *rating periods*: every player's update in a
period uses the other players' ratings as they were at the period's start, so the order of games
inside a period does not matter. A player with no game in a period only has its RD grow (the
uncertainty of a rating nobody tested), up to the RD of a new player.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Sequence

SCALE = 173.7178  # Glicko-2 scale factor: 400 / ln(10)
START_RATING = 1500.0
START_RD = 350.0
START_VOLATILITY = 0.06
# An anchor (a fixed policy: the heuristic entries of a league) holds its rating for good: its
# RD is that of a well-known player, so games against it count fully, and it never moves.
ANCHOR_RD = 30.0
TAU = 0.5  # system constant: how fast volatility can change (Glickman suggests 0.3 to 1.2)
EPSILON = 1e-6  # convergence tolerance of the volatility iteration (step 5)


class Rating(NamedTuple):
    """One player's rating: ``rating`` and ``rd`` in rating points, ``volatility`` (Glicko-2 sigma)."""

    rating: float = START_RATING
    rd: float = START_RD
    volatility: float = START_VOLATILITY


def conservative(rating: float, rd: float) -> float:
    """``rating - 2 * rd``: a rating the player is ~97.7% likely to be above (what rankings use)."""
    return rating - 2.0 * rd


def to_glicko2(rating: float, rd: float) -> tuple[float, float]:
    """Glicko scale -> Glicko-2 scale ``(mu, phi)`` (step 2)."""
    return (rating - START_RATING) / SCALE, rd / SCALE


def from_glicko2(mu: float, phi: float) -> tuple[float, float]:
    """Glicko-2 scale ``(mu, phi)`` -> ``(rating, rd)`` in rating points (step 8)."""
    return SCALE * mu + START_RATING, SCALE * phi


def _g(phi: float) -> float:
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / (math.pi * math.pi))


def _e(mu: float, mu_j: float, phi_j: float) -> float:
    return 1.0 / (1.0 + math.exp(-_g(phi_j) * (mu - mu_j)))


def expected_score(a: Rating, b: Rating) -> float:
    """Expected score of ``a`` against ``b`` in [0, 1] (1 win, 0.5 draw, 0 loss).

    Both uncertainties widen the logistic: ``g(sqrt(phi_a^2 + phi_b^2))`` (Glickman's Glicko
    predictive formula), so two unrated players expect ~0.5 whatever their nominal ratings.
    """
    mu_a, phi_a = to_glicko2(a.rating, a.rd)
    mu_b, phi_b = to_glicko2(b.rating, b.rd)
    return _e(mu_a, mu_b, math.hypot(phi_a, phi_b))


def new_volatility(sigma: float, phi: float, v: float, delta: float, tau: float = TAU,
                   eps: float = EPSILON) -> float:
    """Step 5: the new volatility ``sigma'``, the root of ``f`` found by the Illinois algorithm.

    ``phi`` is the player's Glicko-2 deviation, ``v`` the estimated variance of its rating from
    the period's games (step 3), ``delta`` the estimated improvement (step 4).
    """
    a = math.log(sigma * sigma)
    phi2, delta2, tau2 = phi * phi, delta * delta, tau * tau

    def f(x: float) -> float:
        ex = math.exp(x)
        return ex * (delta2 - phi2 - v - ex) / (2.0 * (phi2 + v + ex) ** 2) - (x - a) / tau2

    big_a = a
    if delta2 > phi2 + v:
        big_b = math.log(delta2 - phi2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > eps:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0  # the Illinois step: halve the stale end's value so the bracket keeps shrinking
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2.0)


def update(player: Rating, games: Sequence[tuple[Rating, float]], tau: float = TAU,
           max_rd: float = START_RD) -> Rating:
    """The player's rating after one period of ``games``: ``[(opponent's pre-period rating, score)]``.

    ``score`` is 1 for a win, 0.5 a draw, 0 a loss. With no games only the RD grows,
    ``phi' = sqrt(phi^2 + sigma^2)`` (step 6 alone), capped at ``max_rd`` rating points so an
    idle player is never less certain than a new one.
    """
    mu, phi = to_glicko2(player.rating, player.rd)
    sigma = player.volatility
    if not games:
        phi_idle = min(math.sqrt(phi * phi + sigma * sigma), max_rd / SCALE)
        return Rating(player.rating, phi_idle * SCALE, sigma)
    inv_v = 0.0
    gain = 0.0  # sum of g(phi_j) * (s_j - E_j)
    for opp, score in games:
        mu_j, phi_j = to_glicko2(opp.rating, opp.rd)
        g_j, e_j = _g(phi_j), _e(mu, mu_j, phi_j)
        inv_v += g_j * g_j * e_j * (1.0 - e_j)  # step 3
        gain += g_j * (score - e_j)
    v = 1.0 / inv_v
    delta = v * gain  # step 4
    sigma_new = new_volatility(sigma, phi, v, delta, tau)
    phi_star = math.sqrt(phi * phi + sigma_new * sigma_new)  # step 6
    phi_new = 1.0 / math.sqrt(1.0 / (phi_star * phi_star) + 1.0 / v)  # step 7
    mu_new = mu + phi_new * phi_new * gain
    rating, rd = from_glicko2(mu_new, min(phi_new, max_rd / SCALE))
    return Rating(rating, rd, sigma_new)


def rate_period(players: Mapping[str, Rating], results: Sequence[tuple[str, str, float]], tau: float = TAU,
                max_rd: float = START_RD) -> dict[str, Rating]:
    """One rating period for a pool: every player's new rating from ``results``.

    ``players`` maps id -> rating at the period's start; ``results`` is ``[(a, b, score_for_a)]``
    (each game counts for both: ``a`` scored ``s`` against ``b``, ``b`` scored ``1 - s`` against
    ``a``). Players in ``players`` without a game only have their RD grow. Raises ``KeyError``
    naming an id that is not in ``players`` and ``ValueError`` for a score outside [0, 1].
    """
    games: dict[str, list[tuple[Rating, float]]] = {pid: [] for pid in players}
    for a, b, score in results:
        for pid in (a, b):
            if pid not in players:
                raise KeyError(f"result ({a!r}, {b!r}, {score}) names {pid!r}, which is not a rated player")
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"result ({a!r}, {b!r}, {score}): a score must be in [0, 1] (1 win, 0.5 draw, 0 loss)")
        games[a].append((players[b], float(score)))
        games[b].append((players[a], 1.0 - float(score)))
    return {pid: update(players[pid], games[pid], tau, max_rd) for pid in players}
