"""Weapons phase of a substep: target choice and firing of every ready slot whose trigger is held.

Hitscan hits and paint are queued for :func:`combat.resolve`; projectiles spawn into the pool
(:mod:`echelon.env.projectiles`); smoke clouds are laid at once (they block sight from the next
decision step, when sight is traced again).
"""

from __future__ import annotations

import numpy as np

from echelon.env import projectiles
from echelon.env import specs as S
from echelon.env.arrays import clamp, nonzero
from echelon.env.combat import READY, Hits, Paints
from echelon.env.records import EV, add_team_stat, record_event
from echelon.env.rng import PURPOSE_LEG, hash_uniform

_SLOT_TRIGGER = np.array(S.SLOT_TRIGGER)


def arm(sim) -> None:
    """Per decision step: the slots ``[E, M, 4]`` that may fire in this step's substeps (trigger
    held, slot not empty, and some enemy in sight for weapons that need it: sight is traced once
    per step, so a mech that sees no enemy now has no target for any of them until the next)."""
    blind = (sim.weapon == S.MISSILE) | (sim.weapon == S.SMOKE)  # [M, 4] may fire without sight
    could_target = sim.los.any(axis=2)[..., None] | blind[None]
    np.logical_and(sim.act_trigger[..., _SLOT_TRIGGER], sim.weapon != S.NO_WEAPON, out=sim.may_fire)
    sim.may_fire &= could_target


def fire(sim, fire_ok: np.ndarray) -> None:
    """Pick targets and fire every ready slot armed this step (:func:`arm`), for the mechs of
    ``fire_ok [E, M]`` (bool), all slots in one pass over the K (match, mech, slot) triples that
    want to fire ([K, M] arrays over candidate targets)."""
    want = sim.want_fire
    np.less_equal(sim.cd, READY, out=want)
    want &= sim.may_fire
    want &= fire_ok[..., None]
    env, mech, slot = nonzero(want)
    if len(env) == 0:
        return
    weapon = sim.weapon[mech, slot]
    target, smoke = _pick_targets(sim, env, mech, weapon)
    shoot = (target >= 0) | smoke
    if not shoot.any():
        return
    env, mech, slot, weapon, target = env[shoot], mech[shoot], slot[shoot], weapon[shoot], target[shoot]
    sim.cd[env, mech, slot] = S.W_COOLDOWN[weapon]
    np.add.at(sim.heat, (env, mech), S.W_HEAT[weapon])
    add_team_stat(sim, "shots", env, sim.team[mech], 1.0)
    hitscan = S.W_SPEED[weapon] == 0
    leg_u = hash_uniform(sim.key[env], sim.tick[env], PURPOSE_LEG, sim.draw_id[env, mech] * 4 + slot)
    hs = hitscan & (S.W_DAMAGE[weapon] > 0)
    if hs.any():
        e, m = env[hs], mech[hs]
        sim._hits.append(Hits(e, m, target[hs], weapon[hs], S.W_DAMAGE[weapon[hs]], leg_u[hs] < S.W_LEG[weapon[hs]],
                              sim.pos[e, m], direct=True, projectile=False))
    flies = ~hitscan
    if flies.any():
        projectiles.spawn(sim, env[flies], mech[flies], target[flies], weapon[flies], leg_u[flies])
    paint = weapon == S.PAINTER
    if paint.any():
        sim._paints.append(Paints(env[paint], mech[paint], target[paint]))
    smoke = weapon == S.SMOKE
    if smoke.any():
        deploy_smoke(sim, env[smoke], mech[smoke], target[smoke])


def _pick_targets(sim, env: np.ndarray, mech: np.ndarray, weapon: np.ndarray):
    """Target of each firing triple ``[K]`` (-1 none): the focus if it is valid, else the nearest
    valid enemy. Valid: a living enemy in range, in sight and inside the weapon's arc; smoke
    needs only range; missiles also lock onto targets painted by the shooter's pack.
    Returns ``(target [K], smoke [K] bool)``."""
    M = sim.M
    geo = sim.geo
    shooter = env * M + mech  # flat (match, mech) row of each triple
    rows = np.arange(len(env))
    dist = _distances(geo, env, mech, shooter, rows)  # [K, M]
    enemy_alive = sim.enemy[mech] & sim.alive[env]
    valid = enemy_alive & sim.los.reshape(-1, M)[shooter] & (dist <= S.W_RANGE[weapon][:, None])
    # The arc test only for the (triple, target) pairs still valid: cosine between the heading
    # and the direction to the target.
    k, j = nonzero(valid)
    if len(k):
        pair = shooter[k] * M + j  # flat [E, M, M] index
        cos_to = ((np.take(geo.dx, pair) * geo.cos_yaw.reshape(-1)[shooter[k]]
                   + np.take(geo.dy, pair) * geo.sin_yaw.reshape(-1)[shooter[k]])
                  / np.maximum(np.take(geo.dxy, pair), 1e-6))
        valid[k, j] = cos_to >= S.W_COS_ARC[weapon[k]]
    smoke = weapon == S.SMOKE
    if smoke.any():
        valid[smoke] = enemy_alive[smoke] & (dist[smoke] <= S.W_RANGE[S.SMOKE])
    missile = weapon == S.MISSILE
    if missile.any() and sim.paint_t.any():
        # Pack paint lock: a target painted by my pack within LOCK_RANGE, no sight needed.
        k = np.nonzero(missile)[0]
        painted = sim.paint_t[env[k], :, sim.pack[mech[k]]] > 0  # [k, M]
        lock = (painted & enemy_alive[k] & (dist[k] <= S.LOCK_RANGE)
                & (sim.quality.reshape(-1)[shooter[k]] >= S.LOCK_QUALITY)[:, None])
        valid[k] |= lock
    focus = sim.focus.reshape(-1)[shooter]
    focus_ok = (focus >= 0) & valid[rows, clamp(focus, 0, M - 1)]
    masked = np.where(valid, dist, np.inf)
    nearest = np.argmin(masked, axis=1)
    has = np.isfinite(masked[rows, nearest])
    return np.where(focus_ok, focus, np.where(has, nearest, -1)), smoke


def _distances(geo, env: np.ndarray, mech: np.ndarray, shooter: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """3D distance (m, float32, +inf to itself) from each shooter ``[K]`` to every mech: ``[K, M]``.

    Only the shooters' rows, with the operations (and rounding) of a full pair table."""
    M = geo.dx.shape[2]
    dx = geo.dx.reshape(-1, M)[shooter]
    dy = geo.dy.reshape(-1, M)[shooter]
    dz = geo.z[env] - geo.z[env, mech][:, None]
    d2 = dx * dx
    d2 += dy * dy
    d2 += dz * dz
    dist = np.sqrt(d2, out=d2)
    dist[rows, mech] = np.inf
    return dist


def deploy_smoke(sim, env: np.ndarray, mech: np.ndarray, target: np.ndarray) -> None:
    """Lay a cloud on each target (on the thrower when ``target`` is -1); a mech's third cloud
    replaces its first. Stamps the cloud's cells into ``smoke_cnt`` and ``sight_eff``."""
    target_pos = sim.pos[env, np.where(target >= 0, target, mech), :2]
    slot = 2 * mech + sim.smoke_parity[env, mech]
    sim.smoke_parity[env, mech] ^= 1
    old = sim.smoke_t[env, slot] > 0
    if old.any():
        clear_smoke(sim, env[old], slot[old])
    sim.smoke_t[env, slot] = S.SMOKE_S
    sim.smoke_pos[env, slot] = target_pos
    cx = np.floor(target_pos[:, 0]).astype(np.int64)[:, None] + sim._disc[None, :, 0]
    cy = np.floor(target_pos[:, 1]).astype(np.int64)[:, None] + sim._disc[None, :, 1]
    size_x, size_y = (sim.X, sim.Y) if sim.full_size else (sim.match_x[env, None], sim.match_y[env, None])
    inside = (cx >= 0) & (cx < size_x) & (cy >= 0) & (cy < size_y)
    flat = np.where(inside, (env[:, None] * sim.X + cx) * sim.Y + cy, -1)
    sim.smoke_cells[env, slot] = flat
    sim.smoke_on[env, slot] = True
    cells = flat[inside]
    np.add.at(sim.smoke_cnt.reshape(-1), cells, np.int16(1))
    sim.sight_eff.reshape(-1)[cells] = 1e9
    record_event(sim, EV["smoke"], env, S.SMOKE, mech, target, target_pos[:, 0], target_pos[:, 1])


def clear_smoke(sim, env: np.ndarray, slot: np.ndarray) -> None:
    """Remove clouds ``(env, slot)``: unstamp their cells, restoring sight where no cloud is left."""
    flat = sim.smoke_cells[env, slot]
    cells = flat[flat >= 0]
    np.add.at(sim.smoke_cnt.reshape(-1), cells, np.int16(-1))
    count = sim.smoke_cnt.reshape(-1)[cells]
    sim.sight_eff.reshape(-1)[cells] = np.where(count > 0, 1e9, sim.sight_h.reshape(-1)[cells])
    sim.smoke_cells[env, slot] = -1
    sim.smoke_on[env, slot] = False
