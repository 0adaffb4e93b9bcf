"""Metric math over a window of finished episodes: pure functions, no logging.

Each function takes a sequence of compact episode records (:func:`echelon.metrics.episodes.compact_episode`)
and returns ``{metric key: float}`` with the keys of :mod:`echelon.metrics.names`. An empty window,
or one where a quantity is undefined (no damage dealt, no scout alive), leaves that key out rather
than writing NaN or a misleading 0: update records must stay finite (the log contract) and a
missing value never reads as a real one. The policy team is blue (``env.blue = "policy"``).

Units and definitions are listed in docs/observability.md ("The metric families").
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from echelon.metrics import names as N

POLICY_TEAM = "blue"
OTHER_TEAM = "red"

# ENV_SPEC end reasons -> the window rate key of each.
END_REASON_KEYS = {
    "zone": N.RETURNS_END_ZONE_RATE,
    "elimination": N.RETURNS_END_ELIMINATION_RATE,
    "time": N.RETURNS_END_TIME_RATE,
}

Episode = dict[str, Any]


def _stat(ep: Episode, name: str, default: float = 0.0) -> float:
    return float(ep.get("stats", {}).get(name, default))


def _echelon(episodes: Sequence[Episode]) -> list[Episode]:
    """The episodes that carry Echelon match stats (other envs report only return and length)."""
    return [ep for ep in episodes if ep.get("stats")]


def returns_stats(returns: Sequence[float], lengths: Sequence[float]) -> dict[str, float]:
    """``returns/`` summary of a window: mean, median, p10, p90, std (population), max, mean length.

    ``returns [W]`` in return units, ``lengths [W]`` in env steps. Empty window: ``{}``.
    Percentiles interpolate linearly (NumPy's default), so a single episode gives its return for
    every statistic and a std of 0.
    """
    if len(returns) == 0:
        return {}
    r = np.asarray(returns, dtype=np.float64)
    return {
        N.RETURNS_MEAN: float(r.mean()),
        N.RETURNS_MEDIAN: float(np.median(r)),
        N.RETURNS_P10: float(np.percentile(r, 10)),
        N.RETURNS_P90: float(np.percentile(r, 90)),
        N.RETURNS_STD: float(r.std()),
        N.RETURNS_MAX: float(r.max()),
        N.RETURNS_LENGTH_MEAN: float(np.mean(np.asarray(lengths, dtype=np.float64))),
        N.RETURNS_WINDOW: float(len(r)),
    }


def outcome_rates(winners: Sequence[Optional[str]], reasons: Sequence[Optional[str]] = ()) -> dict[str, float]:
    """Win / draw / loss rates of blue and the share of each end reason.

    Rates are over the episodes that reported a winner (resp. a reason) and are left out when
    none did (CartPole), so a missing win rate never reads as 0. ``"none"`` counts as undecided.
    """
    out: dict[str, float] = {}
    decided = [w for w in winners if w in ("blue", "red", "draw")]
    if decided:
        n = float(len(decided))
        out[N.RETURNS_WIN_RATE] = sum(w == POLICY_TEAM for w in decided) / n
        out[N.RETURNS_DRAW_RATE] = sum(w == "draw" for w in decided) / n
        out[N.RETURNS_LOSS_RATE] = sum(w == OTHER_TEAM for w in decided) / n
    ended = [r for r in reasons if r is not None]
    if ended:
        for reason, key in END_REASON_KEYS.items():
            out[key] = sum(r == reason for r in ended) / float(len(ended))
    return out


def team_return_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """``returns/mean_blue`` and ``returns/mean_red`` when both teams learn (self-play).

    Each episode's ``team_returns`` holds the mean episode return of each learning team's agents;
    with only one learning team the per-team mean would repeat ``returns/mean``, so it is left out.
    """
    return _team_returns_of([_team_returns_row(ep) for ep in episodes])


def _team_returns_row(ep: Episode) -> Optional[dict]:
    team = ep.get("team_returns") or {}
    return team if len(team) == 2 else None


def _team_returns_of(rows: Sequence[Optional[dict]]) -> dict[str, float]:
    both = [t for t in rows if t is not None]
    if not both:
        return {}
    return {
        N.RETURNS_MEAN_BLUE: float(np.mean([t["blue"] for t in both])),
        N.RETURNS_MEAN_RED: float(np.mean([t["red"] for t in both])),
    }


def reward_component_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """``rewards/<component>``: per-episode agent-mean of each component's episode sum, averaged.

    Each episode's ``reward_components`` maps a component to the mean over the match's learning
    agents of that agent's sum of the component over the match (the env sums them). The total
    is the sum of the components' means, which equals the mean episode return of those episodes.
    """
    return _reward_components_of([ep.get("reward_components") for ep in episodes])


def _reward_components_of(rows: Sequence[Optional[dict]]) -> dict[str, float]:
    eps = [comp for comp in rows if comp]
    if not eps:
        return {}
    parts = sorted({k for comp in eps for k in comp})
    out = {N.reward_key(k): float(np.mean([comp.get(k, 0.0) for comp in eps])) for k in parts}
    out[N.REWARDS_TOTAL] = float(sum(out[N.reward_key(k)] for k in parts))
    return out


def _team_agents(ep: Episode, team: str) -> list[dict]:
    return [a for a in ep.get("agents", ()) if a.get("team") == team]


def kill_participation(ep: Episode, team: str = POLICY_TEAM) -> Optional[float]:
    """Mean over ``team``'s mechs of (own kills + assists) / team kills; None without team kills.

    Assists are paid once per kill to each painter and damager of the victim, so one mech's
    share is at most 1 (it shot or helped on every kill).
    """
    return _participation(_team_agents(ep, team), _stat(ep, f"kills_{team}"))


def _participation(agents: list[dict], kills: float) -> Optional[float]:
    if kills <= 0 or not agents:
        return None
    return float(np.mean([(a["kills"] + a["assists"]) / kills for a in agents]))


def combat_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """``combat/`` of the policy team (blue) over the window.

    ``damage_dealt`` / ``damage_taken``: HP points per blue mech per match (taken counts every
    source: enemies, friendly splash, lava). ``damage_ratio``: dealt / (dealt + taken) of the
    window's team totals (0.5 = even trade; absent when nothing was dealt or taken).
    ``kills`` / ``deaths``: per match. ``kill_participation``: :func:`kill_participation` averaged
    over the matches with a blue kill. ``survival_rate``: share of blue mechs alive at the end.
    """
    return _combat_of([_combat_row(ep) for ep in episodes])


def _combat_row(ep: Episode) -> Optional[tuple]:
    """``(dealt, taken, mechs, alive, kills, deaths, participation or None)`` of blue in one match;
    None when the match has no Echelon stats or no blue agent rows."""
    if not ep.get("stats"):
        return None
    agents = _team_agents(ep, POLICY_TEAM)
    if not agents:
        return None
    kills = _stat(ep, "kills_blue")
    return (_stat(ep, "damage_blue"), sum(a["damage_taken"] for a in agents), len(agents),
            sum(bool(a["alive"]) for a in agents), kills, _stat(ep, "deaths_blue"), _participation(agents, kills))


def _combat_of(rows: Sequence[Optional[tuple]]) -> dict[str, float]:
    eps = [r for r in rows if r is not None]
    if not eps:
        return {}
    dealt = np.array([r[0] for r in eps])
    taken = np.array([r[1] for r in eps])
    mechs = np.array([r[2] for r in eps], dtype=np.float64)
    alive = np.array([r[3] for r in eps])
    out = {
        N.COMBAT_DAMAGE_DEALT: float(np.mean(dealt / mechs)),
        N.COMBAT_DAMAGE_TAKEN: float(np.mean(taken / mechs)),
        N.COMBAT_KILLS: float(np.mean([r[4] for r in eps])),
        N.COMBAT_DEATHS: float(np.mean([r[5] for r in eps])),
        N.COMBAT_SURVIVAL_RATE: float(np.mean(alive / mechs)),
    }
    if dealt.sum() + taken.sum() > 0:
        out[N.COMBAT_DAMAGE_RATIO] = float(dealt.sum() / (dealt.sum() + taken.sum()))
    kp = [r[6] for r in eps if r[6] is not None]
    if kp:
        out[N.COMBAT_KILL_PARTICIPATION] = float(np.mean(kp))
    return out


def zone_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """``zone/`` over the window, each a fraction of the match (its length in env steps).

    ``control_margin``: (blue − red zone point-ticks) / steps, in [−1, 1]. ``contested_ratio``:
    contested steps / steps. ``first_entry_frac``: the step anyone first stood in the zone /
    steps, 1.0 when nobody did.
    """
    return _zone_of([_zone_row(ep) for ep in episodes])


def _zone_row(ep: Episode) -> Optional[tuple[float, float, float, float]]:
    """``(length, blue − red zone ticks, contested ticks, first entry step or -1)`` of one match;
    None without Echelon stats or with a zero length."""
    if not ep.get("stats") or not ep.get("length", 0) > 0:
        return None
    return (float(ep["length"]), _stat(ep, "zone_ticks_blue") - _stat(ep, "zone_ticks_red"),
            _stat(ep, "contested_ticks"), _stat(ep, "first_zone_entry_step", -1.0))


def _zone_of(rows: Sequence[Optional[tuple]]) -> dict[str, float]:
    eps = [r for r in rows if r is not None]
    if not eps:
        return {}
    length = np.array([r[0] for r in eps])
    margin = np.array([r[1] for r in eps]) / length
    contested = np.array([r[2] for r in eps]) / length
    first = np.array([r[3] for r in eps])
    first_frac = np.where(first >= 0, np.minimum(first / length, 1.0), 1.0)
    return {
        N.ZONE_CONTROL_MARGIN: float(margin.mean()),
        N.ZONE_CONTESTED_RATIO: float(contested.mean()),
        N.ZONE_FIRST_ENTRY: float(first_frac.mean()),
    }


def _ratio_of_sums(episodes: Sequence[Episode], num: str, den: str) -> Optional[float]:
    d = sum(_stat(ep, den) for ep in episodes)
    return float(sum(_stat(ep, num) for ep in episodes) / d) if d > 0 else None


def coordination_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """``coordination/`` of blue over the window (strided family).

    ``pack_dispersion`` (m): mean distance of living pack mates to their pack centroid, per
    pack-step (window sums of the env's per-step sums / counts). ``centroid_zone_dist`` (m): pack
    centroid to zone centre, per pack-step. ``focus_fire``: damage on the most-damaged enemy /
    damage blue dealt to enemies, averaged over matches where blue dealt damage (1 = every shot
    on one target, 1/M when spread evenly over M enemies).
    """
    eps = _echelon(episodes)
    out: dict[str, float] = {}
    disp = _ratio_of_sums(eps, "pack_dispersion_sum_blue", "pack_dispersion_count_blue")
    if disp is not None:
        out[N.COORD_PACK_DISPERSION] = disp
    dist = _ratio_of_sums(eps, "centroid_zone_dist_sum_blue", "pack_dispersion_count_blue")
    if dist is not None:
        out[N.COORD_CENTROID_ZONE_DIST] = dist
    focus = [_stat(ep, "focus_fire_concentration_blue") for ep in eps if _stat(ep, "damage_blue") > 0]
    if focus:
        out[N.COORD_FOCUS_FIRE] = float(np.mean(focus))
    return out


def perception_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """``perception/`` of blue over the window (strided with coordination), ratios of window sums.

    ``visible_contacts``: contacts per living mech per step. ``hostile_filter_rate``: share of
    living mech-steps with ``hostile_only`` on. ``scout_ecm_rate`` / ``scout_eccm_rate``: share of
    living scout-steps with ECM (resp. ECCM) on; absent when no scout lived.
    """
    eps = _echelon(episodes)
    out: dict[str, float] = {}
    pairs = (
        (N.PERCEPTION_VISIBLE_CONTACTS, "visible_contacts_sum_blue", "visible_contacts_count_blue"),
        (N.PERCEPTION_HOSTILE_FILTER, "hostile_filter_on_count_blue", "visible_contacts_count_blue"),
        (N.PERCEPTION_ECM, "ecm_on_ticks_blue", "scout_ticks_blue"),
        (N.PERCEPTION_ECCM, "eccm_on_ticks_blue", "scout_ticks_blue"),
    )
    for key, num, den in pairs:
        value = _ratio_of_sums(eps, num, den)
        if value is not None:
            out[key] = value
    return out


class EpisodeRow:
    """What the per-update families read of one match, extracted once when it arrives
    (:func:`episode_row`); :func:`window_families_of_rows` aggregates a window of them. The hub
    keeps one per episode of its window, so an update that ends a match re-reads only that
    match instead of every agent row of the window."""

    __slots__ = ("ret", "length", "winner", "reason", "team_returns", "reward_components", "combat", "zone")

    def __init__(self, ep: Episode) -> None:
        self.ret = ep["return"]
        self.length = ep["length"]
        self.winner = ep.get("winner")
        self.reason = ep.get("reason")
        self.team_returns = _team_returns_row(ep)
        self.reward_components = ep.get("reward_components")
        self.combat = _combat_row(ep)
        self.zone = _zone_row(ep)


def episode_row(ep: Episode) -> EpisodeRow:
    """The :class:`EpisodeRow` of one compact episode record."""
    return EpisodeRow(ep)


def window_families_of_rows(rows: Sequence[EpisodeRow], *, full: bool = True) -> dict[str, float]:
    """:func:`window_families` of the episodes these rows were made from (the same numbers)."""
    out = returns_stats([r.ret for r in rows], [r.length for r in rows])
    out.update(outcome_rates([r.winner for r in rows], [r.reason for r in rows]))
    out.update(_team_returns_of([r.team_returns for r in rows]))
    if full:
        out.update(_reward_components_of([r.reward_components for r in rows]))
        out.update(_combat_of([r.combat for r in rows]))
        out.update(_zone_of([r.zone for r in rows]))
    return out


def window_families(episodes: Sequence[Episode], *, full: bool = True) -> dict[str, float]:
    """Every per-update family of a window: returns/ (and, when ``full``, rewards/, combat/, zone/)."""
    return window_families_of_rows([episode_row(ep) for ep in episodes], full=full)
