"""Projectile phase of a substep: spawning into the pool, AMS interception, flight, arrival.

Projectiles live in the per-match pool ``p_* [E, P]``. Missiles home on a living target and can
be shot down by the other side's AMS; ballistic rounds fly to where the target stood when fired.
An arrival queues a direct hit (:class:`combat.Hits`) when the target is within reach, and
splash hits around the impact; missile blasts also damage building columns.
"""

from __future__ import annotations

import numpy as np

from echelon.env import mapgen
from echelon.env import specs as S
from echelon.env.arrays import nonzero
from echelon.env.combat import READY, Hits
from echelon.env.records import EV, add_team_stat, record_event
from echelon.env.rng import PURPOSE_AMS, hash_uniform


def spawn(sim, env, shooter, target, weapon, leg_u) -> None:
    """Put new projectiles ``[N]`` into the lowest free pool slots of their match (dropped and
    counted when the match's ``p_cap`` projectiles already fly). ``leg_u``: the uniform draw
    deciding a leg hit on arrival."""
    order = np.argsort(sim.p_active, axis=1, kind="stable")  # free (False) slots first
    # Slots are taken lowest first, so a match never uses a slot at or above its p_cap.
    nfree = sim.p_cap - sim.p_active.sum(1)
    srt = np.argsort(env, kind="stable")
    env, shooter, target, weapon, leg_u = env[srt], shooter[srt], target[srt], weapon[srt], leg_u[srt]
    first = np.searchsorted(env, env, side="left")
    rank = np.arange(len(env)) - first  # index among this substep's new projectiles of the match
    ok = rank < nfree[env]
    if not ok.all():
        add_team_stat(sim, "projectiles_dropped", env[~ok], sim.team[shooter[~ok]], 1.0)
        env, shooter, target, weapon, leg_u, rank = (
            env[ok], shooter[ok], target[ok], weapon[ok], leg_u[ok], rank[ok])
    p = order[env, rank]
    sim.p_active[env, p] = True
    start = sim.pos[env, shooter].copy()
    start[:, 2] += S.CLS_SIZE[sim.cls[shooter]] * 0.6
    sim.p_pos[env, p] = start
    sim.p_origin[env, p] = sim.pos[env, shooter]
    sim.p_aim[env, p] = sim.pos[env, target]
    sim.p_weapon[env, p] = weapon
    sim.p_shooter[env, p] = shooter
    sim.p_target[env, p] = target
    sim.p_leg[env, p] = leg_u
    ms = weapon == S.MISSILE
    if ms.any():
        e, m = env[ms], shooter[ms]
        add_team_stat(sim, "missile_launches", e, sim.team[m], 1.0)
        record_event(sim, EV["missile_launch"], e, S.MISSILE, m, target[ms], sim.pos[e, m, 0], sim.pos[e, m, 1])


def fly(sim) -> None:
    """Home missiles, let AMS shoot at them, move every projectile and resolve arrivals."""
    if not sim.p_active.any():
        return
    env, slot = nonzero(sim.p_active)  # the live projectiles [N]: match, pool slot
    weapon = sim.p_weapon[env, slot]
    target = sim.p_target[env, slot]
    shooter = sim.p_shooter[env, slot]
    missile = weapon == S.MISSILE
    aim = sim.p_aim[env, slot]
    home = missile & sim.alive[env, target]
    if home.any():
        aim[home] = sim.pos[env[home], target[home]]
        sim.p_aim[env[home], slot[home]] = aim[home]
    if missile.any():
        still = _ams(sim, env, slot, shooter, missile)
        if still is not None:
            env, slot, weapon, target, shooter, aim = (
                env[still], slot[still], weapon[still], target[still], shooter[still], aim[still])
    pos = sim.p_pos[env, slot]
    vec = aim - pos
    dist = np.linalg.norm(vec, axis=1)
    step = S.W_SPEED[weapon] * sim.dt
    arrive = dist <= step
    frac = np.where(arrive, 1.0, step / np.maximum(dist, 1e-9))
    sim.p_pos[env, slot] = pos + vec * frac[:, None]
    if arrive.any():
        _arrive(sim, env[arrive], slot[arrive], weapon[arrive], target[arrive], shooter[arrive], aim[arrive])


def _arrive(sim, env, slot, weapon, target, shooter, aim) -> None:
    """Projectiles ``[A]`` reaching their aim point (m): free the slot, queue the direct hit when
    the (living) target is within its radius + slack of the point, and the splash."""
    sim.p_active[env, slot] = False
    target_pos = sim.pos[env, target]
    reach = sim.radius[target] + S.PROJECTILE_HIT_SLACK
    hit = sim.alive[env, target] & (np.linalg.norm(target_pos[:, :2] - aim[:, :2], axis=1) <= reach)
    legs = sim.p_leg[env, slot] < S.W_LEG[weapon]
    if hit.any():
        sim._hits.append(Hits(env[hit], shooter[hit], target[hit], weapon[hit], S.W_DAMAGE[weapon[hit]], legs[hit],
                              sim.p_origin[env[hit], slot[hit]], direct=True, projectile=True))
    splash = S.W_SPLASH[weapon] > 0
    if splash.any():
        _splash(sim, env[splash], shooter[splash], target[splash], weapon[splash], aim[splash])


def _ams(sim, env: np.ndarray, slot: np.ndarray, shooter: np.ndarray, missile: np.ndarray):
    """Each ready living AMS carrier of the target's side tries one missile within range (the
    lowest-index eligible carrier takes a missile first). ``env, slot [N]`` are the live
    projectiles; returns a keep-mask ``[N]`` of the ones not shot down, or None when none was."""
    idx = np.nonzero(missile)[0]  # the missiles among the live projectiles
    m_env, m_slot = env[idx], slot[idx]
    dist = np.linalg.norm(sim.pos[m_env] - sim.p_pos[m_env, m_slot][:, None, :], axis=2)  # [K, M]
    eligible = (sim.has_ams[None] & sim.alive[m_env] & (sim.ams_cd[m_env] <= READY) & (dist <= S.AMS_RANGE)
                & (sim.team[None] != sim.team[shooter[idx]][:, None]))
    targeted = eligible.any(1)
    if not targeted.any():
        return None
    k = np.nonzero(targeted)[0]
    carrier = np.argmax(eligible[k], axis=1)
    _, first = np.unique(m_env[k] * sim.M + carrier, return_index=True)  # one missile per carrier
    k, carrier = k[first], carrier[first]
    shot_env, shot_slot = m_env[k], m_slot[k]
    sim.ams_cd[shot_env, carrier] = S.AMS_COOLDOWN
    add_team_stat(sim, "ams_attempts", shot_env, sim.team[carrier], 1.0)
    u = hash_uniform(sim.key[shot_env], sim.tick[shot_env], PURPOSE_AMS, shot_slot)
    kill = u < S.AMS_PROB
    if not kill.any():
        return None
    down_env, down_slot, by = shot_env[kill], shot_slot[kill], carrier[kill]
    sim.p_active[down_env, down_slot] = False
    add_team_stat(sim, "ams_intercepts", down_env, sim.team[by], 1.0)
    xy = sim.p_pos[down_env, down_slot]
    record_event(sim, EV["ams_intercept"], down_env, S.MISSILE, by, sim.p_shooter[down_env, down_slot],
                 xy[:, 0], xy[:, 1])
    still = np.ones(len(env), bool)
    still[idx[k[kill]]] = False
    return still


def _splash(sim, env, shooter, target, weapon, at) -> None:
    """Splash of arrivals ``[K]`` (match, shooter, direct target, weapon, impact point ``[K, 3]``
    m): buildings, and every living body whose edge is within the radius except the direct target
    and the shooter (and the shooter's team unless ``friendly_fire``)."""
    damage_buildings(sim, env, at, S.W_SPLASH[weapon], S.W_DAMAGE[weapon])
    dist = np.linalg.norm(sim.pos[env, :, :2] - at[:, None, :2], axis=2)  # [K, M]
    victims = sim.alive[env] & (dist <= S.W_SPLASH[weapon][:, None] + sim.radius[None, :])
    victims[np.arange(len(env)), target] = False
    victims[np.arange(len(env)), shooter] = False
    if not sim.cfg.friendly_fire:
        victims &= sim.team[None] != sim.team[shooter][:, None]
    k, victim = np.nonzero(victims)
    if len(k):
        e, s, w = env[k], shooter[k], weapon[k]
        sim._hits.append(Hits(e, s, victim, w, S.W_DAMAGE[w] * S.W_SPLASH_FRAC[w], np.zeros(len(k), bool),
                              sim.pos[e, s], direct=False, projectile=True))


def damage_buildings(sim, env: np.ndarray, xy: np.ndarray, radius: np.ndarray, damage: np.ndarray) -> None:
    """Blast damage to destructible building columns within ``radius`` (m) of each impact ``xy``;
    a column at 0 HP collapses to open ground (its match's derived terrain layers are recomputed)."""
    r = int(np.ceil(radius.max()))
    off = np.arange(-r, r + 1)
    ox, oy = np.meshgrid(off, off, indexing="ij")
    cx = np.floor(xy[:, 0]).astype(np.int64)[:, None] + ox.ravel()[None]
    cy = np.floor(xy[:, 1]).astype(np.int64)[:, None] + oy.ravel()[None]
    near = ((cx + 0.5 - xy[:, :1]) ** 2 + (cy + 0.5 - xy[:, 1:2]) ** 2 <= radius[:, None] ** 2)
    size_x, size_y = (sim.X, sim.Y) if sim.full_size else (sim.match_x[env, None], sim.match_y[env, None])
    near &= (cx >= 0) & (cx < size_x) & (cy >= 0) & (cy < size_y)
    k, j = np.nonzero(near)
    ee, xx, yy = env[k], cx[k, j], cy[k, j]
    bld = sim.material[ee, xx, yy] == mapgen.BUILDING
    if not bld.any():
        return
    ee, xx, yy, dmg = ee[bld], xx[bld], yy[bld], damage[k[bld]]
    np.add.at(sim.building_hp, (ee, xx, yy), -dmg)
    down = sim.building_hp[ee, xx, yy] <= 0
    if down.any():
        sim.material[ee[down], xx[down], yy[down]] = mapgen.GROUND
        sim.height[ee[down], xx[down], yy[down]] = 0.0
        sim.building_hp[ee[down], xx[down], yy[down]] = 0.0
        for e in np.unique(ee[down]).tolist():
            sim.terrain_changed(e)
