"""Zone phase of a decision step: control points, the approach potential, and the end check."""

from __future__ import annotations

import numpy as np

from echelon.env.records import RP, ST


def potential(sim) -> np.ndarray:
    """Approach potential ``[E, M]``: minus the distance to the zone centre over the match's map
    size (its longer side, m)."""
    d = np.hypot(sim.pos[..., 0] - sim.zone_center[:, None, 0], sim.pos[..., 1] - sim.zone_center[:, None, 1])
    return -d / (sim.map_size if sim.full_size else sim.match_side[:, None])


def score_zone(sim) -> None:
    """Zone points of the step (ENV_SPEC): a team alone in the zone ticks 1; when contested each
    team ticks 0.25 + 0.75 x its tonnage margin. Writes ``zone_ticks [E, 2]``, ``score``, the zone
    reward part and the zone stats."""
    cfg = sim.cfg
    d = np.hypot(sim.pos[..., 0] - sim.zone_center[:, None, 0], sim.pos[..., 1] - sim.zone_center[:, None, 1])
    inside = sim.alive & (d <= sim.zone_radius[:, None])
    blue = (inside * sim.tons * (sim.team == 0)).sum(1)
    red = (inside * sim.tons * (sim.team == 1)).sum(1)
    tot = np.maximum(blue + red, 1e-9)
    contested = (blue > 0) & (red > 0)
    margin_b = (blue - red) / tot
    tick_b = np.where(contested, 0.25 + 0.75 * np.maximum(0.0, margin_b), (blue > 0) * 1.0)
    tick_r = np.where(contested, 0.25 + 0.75 * np.maximum(0.0, -margin_b), (red > 0) * 1.0)
    ticks = sim.zone_ticks
    ticks[:, 0] = tick_b
    ticks[:, 1] = tick_r
    sim.score += ticks * cfg.step_seconds
    sim.reward_parts[..., RP["zone"]] = cfg.rewards.zone * ticks[:, sim.team] * inside
    sim.stats[:, ST["zone_ticks_blue"]] += tick_b
    sim.stats[:, ST["zone_ticks_red"]] += tick_r
    sim.stats[:, ST["contested_ticks"]] += contested
    first_entry = sim.stats[:, ST["first_zone_entry_step"]]  # a view: written in place
    first = (first_entry < 0) & inside.any(1)
    first_entry[first] = sim.step_count[first]


def check_end(sim) -> None:
    """Zone win, then elimination, then time limit (truncation): writes ``env_done``,
    ``env_truncated``, ``end_reason`` and ``winner`` ``[E]``."""
    score = sim.score
    zone_win = (score >= sim.win_score - 1e-9).any(1)
    zone_winner = _higher(score[:, 0], score[:, 1], 2)
    alive_b = (sim.alive & (sim.team == 0)).any(1)
    alive_r = (sim.alive & (sim.team == 1)).any(1)
    elim = ~(alive_b & alive_r) & ~zone_win
    elim_winner = np.where(alive_b & ~alive_r, 0, np.where(alive_r & ~alive_b, 1, 2))
    timeout = (sim.step_count >= sim.cfg.max_steps) & ~zone_win & ~elim
    hp_b = (sim.hp * sim.alive * (sim.team == 0)).sum(1)
    hp_r = (sim.hp * sim.alive * (sim.team == 1)).sum(1)
    time_winner = _higher(score[:, 0], score[:, 1], _higher(hp_b, hp_r, 2))
    sim.end_reason[...] = np.where(zone_win, 1, np.where(elim, 2, np.where(timeout, 3, 0)))
    sim.winner[...] = np.where(zone_win, zone_winner, np.where(elim, elim_winner, np.where(timeout, time_winner, -1)))
    sim.env_done[...] = zone_win | elim | timeout
    sim.env_truncated[...] = timeout


def _higher(blue: np.ndarray, red: np.ndarray, tie) -> np.ndarray:
    """0 where blue is higher, 1 where red is, else ``tie``."""
    return np.where(blue > red, 0, np.where(red > blue, 1, tie))
