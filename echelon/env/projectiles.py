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
    """Put new projectiles ``[N]`` into free pool slots of their match (dropped and counted when
    the pool is full). ``leg_u``: the uniform draw deciding a leg hit on arrival."""
    order = np.argsort(sim.p_active, axis=1, kind="stable")  # free (False) slots first
    nfree = (~sim.p_active).sum(1)
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
    pe, pp = nonzero(sim.p_active)
    weapon = sim.p_weapon[pe, pp]
    target = sim.p_target[pe, pp]
    shooter = sim.p_shooter[pe, pp]
    missile = weapon == S.MISSILE
    aim = sim.p_aim[pe, pp]
    home = missile & sim.alive[pe, target]
    if home.any():
        aim[home] = sim.pos[pe[home], target[home]]
        sim.p_aim[pe[home], pp[home]] = aim[home]
    if missile.any():
        still = _ams(sim, pe, pp, shooter, missile)
        if still is not None:
            pe, pp, weapon, target, shooter, aim = (
                pe[still], pp[still], weapon[still], target[still], shooter[still], aim[still])
    pos = sim.p_pos[pe, pp]
    vec = aim - pos
    dist = np.linalg.norm(vec, axis=1)
    step = S.W_SPEED[weapon] * sim.dt
    arrive = dist <= step
    frac = np.where(arrive, 1.0, step / np.maximum(dist, 1e-9))
    sim.p_pos[pe, pp] = pos + vec * frac[:, None]
    if not arrive.any():
        return
    ae, ap, aw, at, ash, aaim = pe[arrive], pp[arrive], weapon[arrive], target[arrive], shooter[arrive], aim[arrive]
    sim.p_active[ae, ap] = False
    target_pos = sim.pos[ae, at]
    reach = sim.radius[at] + S.PROJECTILE_HIT_SLACK
    hit = sim.alive[ae, at] & (np.linalg.norm(target_pos[:, :2] - aaim[:, :2], axis=1) <= reach)
    legs = sim.p_leg[ae, ap] < S.W_LEG[aw]
    if hit.any():
        sim._hits.append(Hits(ae[hit], ash[hit], at[hit], aw[hit], S.W_DAMAGE[aw[hit]], legs[hit],
                              sim.p_origin[ae[hit], ap[hit]], direct=True, projectile=True))
    splash = S.W_SPLASH[aw] > 0
    if splash.any():
        _splash(sim, ae[splash], ash[splash], at[splash], aw[splash], aaim[splash])


def _ams(sim, pe: np.ndarray, pp: np.ndarray, shooter: np.ndarray, missile: np.ndarray):
    """Each ready living AMS carrier of the target's side tries one missile within range (the
    lowest-index eligible carrier takes a missile first). ``pe, pp [N]`` are the live projectiles;
    returns a keep-mask ``[N]`` of the ones not shot down, or None when none was."""
    me, mp, mk = pe[missile], pp[missile], np.nonzero(missile)[0]
    mpos = sim.p_pos[me, mp]
    dd = np.linalg.norm(sim.pos[me] - mpos[:, None, :], axis=2)  # [K, M]
    elig = (sim.has_ams[None] & sim.alive[me] & (sim.ams_cd[me] <= READY) & (dd <= S.AMS_RANGE)
            & (sim.team[None] != sim.team[shooter[missile]][:, None]))
    anyk = elig.any(1)
    if not anyk.any():
        return None
    k = np.nonzero(anyk)[0]
    carrier = np.argmax(elig[k], axis=1)
    _, first = np.unique(me[k] * sim.M + carrier, return_index=True)  # one missile per carrier
    k, carrier = k[first], carrier[first]
    ke, kp = me[k], mp[k]
    sim.ams_cd[ke, carrier] = S.AMS_COOLDOWN
    add_team_stat(sim, "ams_attempts", ke, sim.team[carrier], 1.0)
    u = hash_uniform(sim.key[ke], sim.tick[ke], PURPOSE_AMS, kp)
    kill = u < S.AMS_PROB
    if not kill.any():
        return None
    shot_e, shot_p, by = ke[kill], kp[kill], carrier[kill]
    sim.p_active[shot_e, shot_p] = False
    add_team_stat(sim, "ams_intercepts", shot_e, sim.team[by], 1.0)
    xy = sim.p_pos[shot_e, shot_p]
    record_event(sim, EV["ams_intercept"], shot_e, S.MISSILE, by, sim.p_shooter[shot_e, shot_p], xy[:, 0], xy[:, 1])
    still = np.ones(len(pe), bool)
    still[mk[k[kill]]] = False
    return still


def _splash(sim, e, s, t, w, at_xy) -> None:
    """Splash of arrivals ``[K]`` (match, shooter, direct target, weapon, impact point): buildings
    and every living body whose edge is within the radius, except the direct target and the
    shooter (and the shooter's team unless ``friendly_fire``)."""
    damage_buildings(sim, e, at_xy, S.W_SPLASH[w], S.W_DAMAGE[w])
    dd = np.linalg.norm(sim.pos[e, :, :2] - at_xy[:, None, :2], axis=2)  # [K, M]
    victims = sim.alive[e] & (dd <= S.W_SPLASH[w][:, None] + sim.radius[None, :])
    victims[np.arange(len(e)), t] = False
    victims[np.arange(len(e)), s] = False
    if not sim.cfg.friendly_fire:
        victims &= sim.team[None] != sim.team[s][:, None]
    k, v = np.nonzero(victims)
    if len(k):
        sim._hits.append(Hits(e[k], s[k], v, w[k], S.W_DAMAGE[w[k]] * S.W_SPLASH_FRAC[w[k]], np.zeros(len(k), bool),
                              sim.pos[e[k], s[k]], direct=False, projectile=True))


def damage_buildings(sim, e: np.ndarray, xy: np.ndarray, radius: np.ndarray, damage: np.ndarray) -> None:
    """Blast damage to destructible building columns within ``radius`` of each impact; a column
    at 0 HP collapses to open ground (its match's derived terrain layers are recomputed)."""
    r = int(np.ceil(radius.max()))
    off = np.arange(-r, r + 1)
    ox, oy = np.meshgrid(off, off, indexing="ij")
    cx = np.floor(xy[:, 0]).astype(np.int64)[:, None] + ox.ravel()[None]
    cy = np.floor(xy[:, 1]).astype(np.int64)[:, None] + oy.ravel()[None]
    near = ((cx + 0.5 - xy[:, :1]) ** 2 + (cy + 0.5 - xy[:, 1:2]) ** 2 <= radius[:, None] ** 2)
    near &= (cx >= 0) & (cx < sim.X) & (cy >= 0) & (cy < sim.Y)
    k, j = np.nonzero(near)
    ee, xx, yy = e[k], cx[k, j], cy[k, j]
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
        for env in np.unique(ee[down]).tolist():
            sim.terrain_changed(env)
