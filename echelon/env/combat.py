"""Hit resolution of a substep: every queued hit at once, then paint, lava and deaths.

The weapons (:mod:`echelon.env.weapons`) and projectiles (:mod:`echelon.env.projectiles`) phases
queue :class:`Hits` groups and :class:`Paints` on ``sim``; :func:`resolve` applies them together
(simultaneous resolution: nobody's hit depends on another hit of the same substep), so the
order of the phases only decides the order of events and of floating-point sums.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from echelon.env import specs as S
from echelon.env.records import AS, EV, HEATMAP_BINS, RP, add_team_stat, record_event

# Timers count down by dt in floating point; a cooldown this close to 0 is over.
READY = 1e-6


class Hits(NamedTuple):
    """One group of hits of a substep: ``[H]`` arrays, plus two flags for the whole group."""

    env: np.ndarray  # match
    shooter: np.ndarray  # mech index of the attacker
    target: np.ndarray  # mech index hit
    weapon: np.ndarray  # weapon id
    damage: np.ndarray  # before the rear and paint multipliers
    leg: np.ndarray  # bool: the damage also comes off leg HP
    origin: np.ndarray  # [H, 3] where the shot came from (m), for the rear test
    direct: bool  # False for splash: no rear bonus, no target heat, a fraction of the stability hit
    projectile: bool  # event kind: projectile_hit, else laser_hit


class Paints(NamedTuple):
    """Paint shots of a substep, ``[N]`` arrays; applied after the substep's damage."""

    env: np.ndarray
    painter: np.ndarray
    target: np.ndarray


def resolve(sim, time: np.ndarray) -> None:
    """Apply every hit of this substep at once (simultaneous resolution), then paint, lava and
    deaths. ``time [E]``: seconds since match start."""
    dmg_in = sim.damage_in
    dmg_in[...] = 0.0
    hits = _concat(sim._hits)
    if hits is not None:
        _apply_hits(sim, hits, dmg_in, time)
    # Paint after damage so this substep's paints do not boost this substep's hits.
    for p in sim._paints:
        sim.paint_t[p.env, p.target, sim.pack[p.painter]] = S.PAINT_S
        sim.last_paint_t[p.env, p.target, p.painter] = time[p.env]
        add_team_stat(sim, "paints", p.env, sim.team[p.painter], 1.0)
        record_event(sim, EV["paint"], p.env, S.PAINTER, p.painter, p.target,
                     sim.pos[p.env, p.target, 0], sim.pos[p.env, p.target, 1])
    sim._paints = []
    sim._hits = []
    # Lava burns whoever stands in it (hazard damage, no shooter).
    burn = (sim.hazard_under > 0) * S.LAVA_DPS * sim.dt
    dmg_in += burn
    sim.agent_stats[..., AS["damage_taken"]] += burn
    sim.hp -= dmg_in
    np.maximum(sim.leg_hp, 0.0, out=sim.leg_hp)
    dying = sim.alive & (sim.hp <= 0)
    if dying.any():
        _deaths(sim, dying, time)
    if hits is not None:
        # Clear only the (match, shooter, target) cells this substep wrote (kill credit reads them).
        sim._dmg_pair[hits.env, hits.shooter, hits.target] = 0.0


def _concat(groups: list[Hits]) -> Hits | None:
    """All groups of the substep as one :class:`Hits` with per-hit ``direct`` / ``projectile``
    arrays (None when there were no hits)."""
    if not groups:
        return None
    cols = [np.concatenate([g[i] for g in groups]) for i in range(7)]
    direct = np.concatenate([np.full(len(g.env), g.direct) for g in groups])
    projectile = np.concatenate([np.full(len(g.env), g.projectile) for g in groups])
    return Hits(*cols, direct=direct, projectile=projectile)


def _apply_hits(sim, hits: Hits, dmg_in: np.ndarray, time: np.ndarray) -> None:
    """Damage (rear and paint multipliers), leg damage, target heat, stability, suppression,
    damage bookkeeping and hit events of every hit; HP damage is summed into ``dmg_in [E, M]``."""
    env, shooter, target, weapon = hits.env, hits.shooter, hits.target, hits.weapon
    leg, direct = hits.leg, hits.direct
    on_target = (env, target)
    target_pos = sim.pos[on_target]
    dx, dy = target_pos[:, 0] - hits.origin[:, 0], target_pos[:, 1] - hits.origin[:, 1]
    yaw = sim.yaw[on_target]
    rear = direct & ((np.cos(yaw) * dx + np.sin(yaw) * dy) > S.REAR_COS * np.hypot(dx, dy))
    painted = sim.paint_t[env, target, sim.pack[shooter]] > 0
    dmg = hits.damage * np.where(rear, S.REAR_MULT, 1.0) * np.where(painted, 1.0 + S.PAINT_BONUS, 1.0)
    np.add.at(dmg_in, on_target, dmg)
    np.add.at(sim.leg_hp, on_target, -dmg * leg)
    np.add.at(sim.heat, on_target, S.W_TARGET_HEAT[weapon] * direct)
    np.add.at(sim.stability, on_target, -S.W_STAB[weapon] * np.where(direct, 1.0, S.W_SPLASH_FRAC[weapon]))
    sup = S.W_SUPPRESS[weapon] > 0
    if sup.any():
        e, t = env[sup], target[sup]
        sim.suppress_t[e, t] = np.maximum(sim.suppress_t[e, t], S.W_SUPPRESS[weapon[sup]])
    np.add.at(sim._dmg_pair, (env, shooter, target), dmg)
    sim.under_fire_t[on_target] = S.UNDER_FIRE_S
    sim.last_dmg_t[env, target, shooter] = time[env]
    credit = dmg * sim.enemy[shooter, target]  # damage to enemies only earns reward and stats
    np.add.at(sim.agent_stats, (env, shooter, AS["damage_dealt"]), credit)
    np.add.at(sim.agent_stats, (env, target, AS["damage_taken"]), dmg)
    np.add.at(sim.agent_stats, (env, target, AS["enemy_damage_taken"]), credit)
    np.add.at(sim.reward_parts, (env, shooter, RP["damage"]), sim.cfg.rewards.damage * credit)
    add_team_stat(sim, "damage", env, sim.team[shooter], credit)
    # Heat-map bins span the match's own map.
    size_x, size_y = (sim.X, sim.Y) if sim.full_size else (sim.match_x[env], sim.match_y[env])
    bx = np.minimum((target_pos[:, 0] * (HEATMAP_BINS / size_x)).astype(np.int64), HEATMAP_BINS - 1)
    by = np.minimum((target_pos[:, 1] * (HEATMAP_BINS / size_y)).astype(np.int64), HEATMAP_BINS - 1)
    np.add.at(sim.damage_heatmap, (env, bx, by), dmg)
    kind = np.where(hits.projectile, EV["projectile_hit"], EV["laser_hit"])
    record_event(sim, kind, env, weapon, shooter, target, target_pos[:, 0], target_pos[:, 1], dmg, rear, leg, painted)


def _deaths(sim, dying: np.ndarray, time: np.ndarray) -> None:
    """Kill the mechs of ``dying [E, M]``: kill credit to the enemy that did the most damage this
    substep, assists, death penalty, kill events."""
    w = sim.cfg.rewards
    env, victim = np.nonzero(dying)
    dealt = sim._dmg_pair[env, :, victim]  # [K, attacker] damage this substep
    killer = np.argmax(dealt, axis=1)
    killer = np.where(dealt[np.arange(len(env)), killer] > 0, killer, -1)
    sim.alive[env, victim] = False
    sim.died[env, victim] = True
    sim.hp[env, victim] = 0.0
    sim.vel[env, victim] = 0.0
    sim.shutdown[env, victim] = False
    sim.death_pos[env, victim] = sim.pos[env, victim, :2]
    sim.reward_parts[env, victim, RP["death"]] += w.death
    add_team_stat(sim, "deaths", env, sim.team[victim], 1.0)
    credited = (killer >= 0) & sim.enemy[np.maximum(killer, 0), victim]
    if credited.any():
        k_env, k_mech = env[credited], killer[credited]
        np.add.at(sim.reward_parts, (k_env, k_mech, RP["kill"]), w.kill)
        np.add.at(sim.agent_stats, (k_env, k_mech, AS["kills"]), 1.0)
        add_team_stat(sim, "kills", k_env, sim.team[k_mech], 1.0)
    # Assists: once per kill to every enemy of the victim (other than the killer) who
    # damaged or painted it within the last ASSIST_WINDOW seconds.
    since = (time[env] - S.ASSIST_WINDOW)[:, None]
    recent = (sim.last_dmg_t[env, victim] >= since) | (sim.last_paint_t[env, victim] >= since)
    recent &= sim.enemy[victim] & (np.arange(sim.M)[None] != killer[:, None])
    k, helper = np.nonzero(recent)
    if len(k):
        np.add.at(sim.reward_parts, (env[k], helper, RP["assist"]), w.assist)
        np.add.at(sim.agent_stats, (env[k], helper, AS["assists"]), 1.0)
        add_team_stat(sim, "assists", env[k], sim.team[helper], 1.0)
    record_event(sim, EV["kill"], env, -1, killer, victim, sim.pos[env, victim, 0], sim.pos[env, victim, 1])
