"""Movement phase of a substep, and the pair geometry the other phases read.

:func:`move` turns and walks every mech (terrain blocking, mech-mech pushes, jets and gravity);
:func:`update_geometry` then refreshes the float32 pair geometry ``[E, i, j]`` that the next
substep's push and this substep's firing read.
"""

from __future__ import annotations

import numpy as np

from echelon.env import specs as S
from echelon.env.arrays import clamp, nonzero


class Controls:
    """Movement terms fixed for a whole decision step by its actions, ``[E, M]`` float64:
    ``turn`` (rad per substep at full control), ``fwd``, ``strafe`` (stick), ``norm`` (stick length,
    at least 1), ``vent_speed`` (speed factor of venting), ``jet_vz`` (m/s climb if jetting) and
    ``jets_wanted`` (bool: a jumper holding the jets)."""

    def __init__(self, num_envs: int, num_mechs: int):
        shape = (num_envs, num_mechs)
        self.turn = np.zeros(shape)
        self.fwd = np.zeros(shape)
        self.strafe = np.zeros(shape)
        self.norm = np.ones(shape)
        self.vent_speed = np.ones(shape)
        self.jet_vz = np.zeros(shape)
        self.jets_wanted = np.zeros(shape, bool)


def begin_step(sim) -> None:
    """Start of a decision step: this step's movement controls, the ground under every mech and
    the horizontal pair geometry (positions may have been edited since the last substep: resets,
    tests), which the first push-apart reads."""
    act, ctl = sim.act_move, sim.controls
    np.multiply(act[..., 3], sim.yaw_rate, out=ctl.turn)
    ctl.turn *= sim.dt
    np.copyto(ctl.fwd, act[..., 0])
    np.copyto(ctl.strafe, act[..., 1])
    np.hypot(ctl.fwd, ctl.strafe, out=ctl.norm)
    np.maximum(1.0, ctl.norm, out=ctl.norm)
    ctl.vent_speed[...] = np.where(sim.vent, S.VENT_SPEED, 1.0)
    np.multiply(S.JUMP_SPEED, act[..., 2], out=ctl.jet_vz)
    np.logical_and(sim.jumper, act[..., 2] > 0, out=ctl.jets_wanted)
    sense_ground(sim)
    update_geometry(sim, heights=False)


def sense_ground(sim) -> None:
    """``hazard_under [E, M]`` int8: +1 lava, -1 water under the feet of living mechs standing on
    the ground, else 0 (after every move; read by the next move, combat and heat)."""
    feet = sim._cells(sim.pos[..., 0], sim.pos[..., 1], sim.env_index)
    on_ground = sim.pos[..., 2] <= np.take(sim.solid_h, feet) + 0.05
    np.multiply(np.take(sim.hazard, feet) * on_ground, sim.alive, out=sim.hazard_under)


def move(sim, can_act: np.ndarray) -> None:
    """Turn, walk and fall every living mech one substep (``can_act [E, M]`` bool may steer).

    Walking is blocked per axis by columns higher than ``STEP_HEIGHT`` above the feet; mechs that
    overlapped at the end of the last substep are pushed apart; jump jets lift, gravity lands on
    the columns. Writes ``yaw``, ``pos``, ``vel``, the jet heat and ``hazard_under``.
    """
    dt = sim.dt
    ctl = sim.controls
    alive = sim.alive
    eidx = sim.env_index
    sim.yaw += ctl.turn * can_act
    cos_yaw = np.cos(sim.yaw, out=sim.geo.cos_yaw)
    sin_yaw = np.sin(sim.yaw, out=sim.geo.sin_yaw)
    # Speed factors multiply in this order (legs, vent, water, suppression): floating point.
    mult = np.where(sim.leg_hp <= 0, S.LEGGED_SPEED, 1.0)
    mult *= ctl.vent_speed
    mult *= np.where(sim.hazard_under < 0, S.WATER_SPEED, 1.0)
    mult *= np.where(sim.suppress_t > 0, S.SUPPRESS_SPEED, 1.0)
    speed = sim.speed * mult * can_act / ctl.norm
    fwd, strafe = ctl.fwd, ctl.strafe
    vx = (fwd * cos_yaw - strafe * sin_yaw) * speed
    vy = (fwd * sin_yaw + strafe * cos_yaw) * speed
    x0, y0, z = sim.pos[..., 0], sim.pos[..., 1], sim.pos[..., 2]
    r = sim.radius
    nx = clamp(x0 + vx * dt, r, sim.X - r)
    probe_x = nx + np.sign(vx) * r * 0.9
    blocked_x = np.take(sim.solid_h, sim._cells(probe_x, y0, eidx)) > z + S.STEP_HEIGHT
    nx = np.where(blocked_x, x0, nx)
    ny = clamp(y0 + vy * dt, r, sim.Y - r)
    probe_y = ny + np.sign(vy) * r * 0.9
    blocked_y = np.take(sim.solid_h, sim._cells(nx, probe_y, eidx)) > z + S.STEP_HEIGHT
    ny = np.where(blocked_y, y0, ny)
    nx, ny = _push_apart(sim, nx, ny, z, eidx)
    # Vertical: jets lift jumpers, gravity pulls everything else down onto the columns.
    jets = ctl.jets_wanted & can_act & (z < S.JUMP_MAX_Z)
    vz = np.where(jets, ctl.jet_vz, sim.vel[..., 2] - S.GRAVITY * dt)
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
    sense_ground(sim)


def _push_apart(sim, nx: np.ndarray, ny: np.ndarray, z: np.ndarray, eidx: np.ndarray):
    """Push living pairs that overlapped at the end of the last substep apart by half the overlap
    each (penetration is resolved one substep late; saves a pair pass per substep). A push into a
    blocking column is dropped. Returns the new ``(x, y)`` ``[E, M]``."""
    geo = sim.geo
    np.less(geo.dxy, sim.radius_sum, out=geo.close)
    pe, pi, pj = nonzero(geo.close)  # each touching pair twice: (i, j), (j, i)
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
    px = clamp(px, r, sim.X - r)
    py = clamp(py, r, sim.Y - r)
    ok = np.take(sim.solid_h, sim._cells(px, py, eidx)) <= z + S.STEP_HEIGHT
    return np.where(ok, px, nx), np.where(ok, py, ny)


class PairGeometry:
    """Pair geometry of the mechs, float32 ``[E, i, j]`` (metres), in preallocated buffers.

    ``dx, dy`` (j - i), ``dxy`` (horizontal distance, +inf on the diagonal) and ``d`` (3D
    distance, +inf on the diagonal; the same buffer as ``dxy`` while every mech stands at z = 0)
    are written by :func:`update_geometry`; ``cos_yaw, sin_yaw [E, M]`` float64 of the headings by
    :func:`move` after turning. ``close [E, M, M]`` bool is scratch for the push-apart pass.
    """

    def __init__(self, num_envs: int, num_mechs: int):
        E, M = num_envs, num_mechs
        f4 = np.float32
        self.dx = np.zeros((E, M, M), f4)
        self.dy = np.zeros((E, M, M), f4)
        self.dxy = np.zeros((E, M, M), f4)
        self.d3 = np.zeros((E, M, M), f4)
        self.d = self.dxy
        self.cos_yaw = np.ones((E, M))
        self.sin_yaw = np.zeros((E, M))
        self.close = np.zeros((E, M, M), bool)
        self._d2 = np.zeros((E, M, M), f4)
        self._sq = np.zeros((E, M, M), f4)
        self._xyz = np.zeros((3, E, M), f4)
        # Diagonals as strided views: written to +inf after every update.
        self._dxy_diag = self.dxy.reshape(E, M * M)[:, :: M + 1]
        self._d3_diag = self.d3.reshape(E, M * M)[:, :: M + 1]


def update_geometry(sim, heights: bool = True) -> None:
    """Recompute ``sim.geo`` from the current positions, in place. ``heights=False`` skips the 3D
    distance (``d`` is then stale until the next full update)."""
    geo = sim.geo
    x, y, z = geo._xyz
    np.copyto(x, sim.pos[..., 0], casting="same_kind")
    np.copyto(y, sim.pos[..., 1], casting="same_kind")
    np.subtract(x[:, None, :], x[:, :, None], out=geo.dx)
    np.subtract(y[:, None, :], y[:, :, None], out=geo.dy)
    d2, sq = geo._d2, geo._sq
    np.multiply(geo.dx, geo.dx, out=d2)
    np.multiply(geo.dy, geo.dy, out=sq)
    d2 += sq
    np.sqrt(d2, out=geo.dxy)
    geo._dxy_diag[...] = np.inf
    if not heights:
        return
    if sim.pos[..., 2].any():
        np.copyto(z, sim.pos[..., 2], casting="same_kind")
        np.subtract(z[:, None, :], z[:, :, None], out=sq)
        np.multiply(sq, sq, out=sq)
        d2 += sq
        np.sqrt(d2, out=geo.d3)
        geo._d3_diag[...] = np.inf
        geo.d = geo.d3
    else:
        geo.d = geo.dxy
