"""Movement phase of a substep, and the pair geometry the other phases read.

:func:`move` turns and walks every mech (terrain blocking, mech-mech pushes, jets and gravity);
:func:`update_geometry` then refreshes the float32 pair geometry ``[E, i, j]`` that the next
substep's push and this substep's firing read.
"""

from __future__ import annotations

import numpy as np

from echelon.env import specs as S


def _clamp(a, lo, hi):
    """np.clip without its Python-level overhead (hot path)."""
    return np.minimum(np.maximum(a, lo), hi)


def move(sim, can_act: np.ndarray) -> None:
    """Turn, walk and fall every living mech one substep (``can_act [E, M]`` bool may steer).

    Walking is blocked per axis by columns higher than ``STEP_HEIGHT`` above the feet; mechs that
    overlapped at the end of the last substep are pushed apart; jump jets lift, gravity lands on
    the columns. Writes ``yaw``, ``pos``, ``vel`` and the jet heat.
    """
    dt = sim.dt
    act = sim.act_move  # forward, strafe, jets, turn
    alive = sim.alive
    eidx = np.arange(sim.E)[:, None]
    sim.yaw += act[..., 3] * sim.yaw_rate * dt * can_act
    cos_yaw, sin_yaw = np.cos(sim.yaw), np.sin(sim.yaw)
    fwd, strafe = act[..., 0], act[..., 1]
    norm = np.maximum(1.0, np.hypot(fwd, strafe))
    feet = sim._cells(sim.pos[..., 0], sim.pos[..., 1], eidx)
    on_ground = sim.pos[..., 2] <= np.take(sim.solid_h, feet) + 0.05
    hazard = np.take(sim.hazard, feet) * on_ground
    mult = (np.where(sim.leg_hp <= 0, S.LEGGED_SPEED, 1.0) * np.where(sim.vent, S.VENT_SPEED, 1.0)
            * np.where(hazard < 0, S.WATER_SPEED, 1.0) * np.where(sim.suppress_t > 0, S.SUPPRESS_SPEED, 1.0))
    speed = sim.speed * mult * can_act / norm
    vx = (fwd * cos_yaw - strafe * sin_yaw) * speed
    vy = (fwd * sin_yaw + strafe * cos_yaw) * speed
    x0, y0, z = sim.pos[..., 0], sim.pos[..., 1], sim.pos[..., 2]
    r = sim.radius
    nx = _clamp(x0 + vx * dt, r, sim.X - r)
    probe_x = nx + np.sign(vx) * r * 0.9
    blocked_x = np.take(sim.solid_h, sim._cells(probe_x, y0, eidx)) > z + S.STEP_HEIGHT
    nx = np.where(blocked_x, x0, nx)
    ny = _clamp(y0 + vy * dt, r, sim.Y - r)
    probe_y = ny + np.sign(vy) * r * 0.9
    blocked_y = np.take(sim.solid_h, sim._cells(nx, probe_y, eidx)) > z + S.STEP_HEIGHT
    ny = np.where(blocked_y, y0, ny)
    nx, ny = _push_apart(sim, nx, ny, z, eidx)
    # Vertical: jets lift jumpers, gravity pulls everything else down onto the columns.
    jets = sim.jumper & can_act & (act[..., 2] > 0) & (z < S.JUMP_MAX_Z)
    vz = np.where(jets, S.JUMP_SPEED * act[..., 2], sim.vel[..., 2] - S.GRAVITY * dt)
    nz = z + vz * dt
    ground = np.take(sim.solid_h, sim._cells(nx, ny, eidx))
    landed = nz <= ground
    nz = np.where(landed, ground, nz)
    vz = np.where(landed, 0.0, vz)
    sim.heat += jets * S.JUMP_HEAT * dt
    sim.vel[..., 0] = np.where(alive, (nx - x0) / dt, 0.0)
    sim.vel[..., 1] = np.where(alive, (ny - y0) / dt, 0.0)
    sim.vel[..., 2] = np.where(alive, vz, 0.0)
    sim.pos[..., 0] = np.where(alive, nx, x0)
    sim.pos[..., 1] = np.where(alive, ny, y0)
    sim.pos[..., 2] = np.where(alive, nz, z)


def _push_apart(sim, nx: np.ndarray, ny: np.ndarray, z: np.ndarray, eidx: np.ndarray):
    """Push living pairs that overlapped at the end of the last substep apart by half the overlap
    each (penetration is resolved one substep late; saves a pair pass per substep). A push into a
    blocking column is dropped. Returns the new ``(x, y)`` ``[E, M]``."""
    geo = sim.geo
    pe, pi, pj = np.nonzero(geo.dxy < sim.radius_sum)  # each touching pair twice: (i, j), (j, i)
    if not len(pe):
        return nx, ny
    alive = sim.alive
    both = alive[pe, pi] & alive[pe, pj]
    pe, pi, pj = pe[both], pi[both], pj[both]
    gap = geo.dxy[pe, pi, pj]
    push = 0.5 * (sim.radius_sum[pi, pj] - gap) / np.maximum(gap, 1e-6)
    # Sum the pushes per mech with bincount (much cheaper than np.add.at).
    flat = pe * sim.M + pi
    n = sim.E * sim.M
    r = sim.radius
    px = nx - np.bincount(flat, push * geo.dx[pe, pi, pj], n).reshape(sim.E, sim.M)
    py = ny - np.bincount(flat, push * geo.dy[pe, pi, pj], n).reshape(sim.E, sim.M)
    px = _clamp(px, r, sim.X - r)
    py = _clamp(py, r, sim.Y - r)
    ok = np.take(sim.solid_h, sim._cells(px, py, eidx)) <= z + S.STEP_HEIGHT
    return np.where(ok, px, nx), np.where(ok, py, ny)


class PairGeometry:
    """Pair geometry after movement, float32 ``[E, i, j]`` (metres): ``dx, dy`` (j - i), ``dxy``
    (horizontal distance, +inf on the diagonal), ``d`` (3D distance, +inf on the diagonal); and
    ``cos_yaw, sin_yaw [E, M]`` float64 of the headings."""

    def __init__(self, num_envs: int, num_mechs: int):
        E, M = num_envs, num_mechs
        self.dx = np.zeros((E, M, M), np.float32)
        self.dy = np.zeros((E, M, M), np.float32)
        self.dxy = np.zeros((E, M, M), np.float32)
        self.d = np.zeros((E, M, M), np.float32)
        self.cos_yaw = np.ones((E, M))
        self.sin_yaw = np.zeros((E, M))


def update_geometry(sim) -> None:
    """Recompute ``sim.geo`` from the current positions and headings."""
    geo = sim.geo
    x = sim.pos[..., 0].astype(np.float32)
    y = sim.pos[..., 1].astype(np.float32)
    geo.dx = x[:, None, :] - x[:, :, None]
    geo.dy = y[:, None, :] - y[:, :, None]
    d2 = geo.dx * geo.dx
    d2 += geo.dy * geo.dy
    geo.dxy = np.sqrt(d2)
    geo.dxy += sim._diag_inf
    z = sim.pos[..., 2]
    if (z != 0).any():
        zf = z.astype(np.float32)
        dz = zf[:, None, :] - zf[:, :, None]
        d2 += dz * dz
        geo.d = np.sqrt(d2)
        geo.d += sim._diag_inf
    else:
        geo.d = geo.dxy
    geo.cos_yaw, geo.sin_yaw = np.cos(sim.yaw), np.sin(sim.yaw)
