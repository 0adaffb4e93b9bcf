"""Movement phase of a substep, and the pair geometry the other phases read.

:func:`move` turns and walks every mech (terrain blocking, mech-mech pushes, jets and gravity);
:func:`update_geometry` then refreshes the float32 pair geometry ``[E, i, j]`` that the next
substep's push and this substep's firing read.
"""

from __future__ import annotations

import numpy as np

from echelon.env import specs as S
from echelon.env.arrays import clamp


class Controls:
    """Movement terms reused by every substep of a decision step.

    Per match and mech ``[E, M]`` (m), set at each reset: ``x_max, y_max`` (highest centre
    coordinate on the match's map). Static per mech ``[M]`` (m): ``probe`` (how far ahead of the
    centre walking checks for blocking columns). Fixed by the
    step's actions ``[E, M]`` float64: ``turn`` (rad per substep at full control), ``fwd``,
    ``strafe`` (stick), ``norm`` (stick length, at least 1), ``vent_speed`` (speed factor of
    venting), ``jet_vz`` (m/s climb if jetting), ``jets_wanted`` (bool: a jumper holding the jets).
    """

    def __init__(self, sim):
        shape = (sim.E, sim.M)
        self.x_max = np.broadcast_to(sim.X - sim.radius, shape).copy()
        self.y_max = np.broadcast_to(sim.Y - sim.radius, shape).copy()
        self.probe = sim.radius * 0.9
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
    cells = sim._cells(sim.pos[..., 0], sim.pos[..., 1], sim.env_index)
    _sense_ground(sim, cells, np.take(sim.solid_h, cells), sim.pos[..., 2])
    update_geometry(sim)


def _sense_ground(sim, cells: np.ndarray, ground: np.ndarray, z: np.ndarray) -> None:
    """``hazard_under [E, M]`` int8: +1 lava, -1 water under the feet of living mechs standing on
    the ground, else 0, from the flat cell under each mech, its column height (m) and the feet
    height (m). Written after every move; read by the next move, combat and heat."""
    on_ground = z <= ground + 0.05
    np.multiply(np.take(sim.hazard, cells) * on_ground, sim.alive, out=sim.hazard_under)


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
    step_top = z + S.STEP_HEIGHT  # columns above this block walking (m)
    nx = clamp(x0 + vx * dt, r, ctl.x_max)
    probe_x = nx + np.sign(vx) * ctl.probe
    blocked_x = np.take(sim.solid_h, sim._cells(probe_x, y0, eidx)) > step_top
    nx = np.where(blocked_x, x0, nx)
    ny = clamp(y0 + vy * dt, r, ctl.y_max)
    probe_y = ny + np.sign(vy) * ctl.probe
    blocked_y = np.take(sim.solid_h, sim._cells(nx, probe_y, eidx)) > step_top
    ny = np.where(blocked_y, y0, ny)
    nx, ny = _push_apart(sim, nx, ny, step_top)
    # Vertical: jets lift jumpers, gravity pulls everything else down onto the columns.
    jets = ctl.jets_wanted & can_act & (z < S.JUMP_MAX_Z)
    vz = np.where(jets, ctl.jet_vz, sim.vel[..., 2] - S.GRAVITY * dt)
    nz = z + vz * dt
    cells = sim._cells(nx, ny, eidx)
    ground = np.take(sim.solid_h, cells)
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
    # Living mechs now stand at (nx, ny, nz); dead ones get no hazard whatever their cell.
    _sense_ground(sim, cells, ground, nz)


def _touch_distance(sim) -> np.ndarray:
    """``[E, i, j]`` float32 (m): the touching distance of two living mechs, 0 (never touching)
    when either is dead; rebuilt only when ``alive`` changed since the last call."""
    geo = sim.geo
    if not np.array_equal(geo.touch_alive, sim.alive):
        np.copyto(geo.touch_alive, sim.alive)
        np.multiply(sim.radius_sum, sim.alive[:, :, None] & sim.alive[:, None, :], out=geo.touch)
    return geo.touch


def _push_apart(sim, nx: np.ndarray, ny: np.ndarray, step_top: np.ndarray):
    """Push living pairs that overlapped at the end of the last substep apart by half the overlap
    each (penetration is resolved one substep late; saves a pair pass per substep). A push onto a
    column above ``step_top`` is dropped. Returns the new ``(x, y)`` ``[E, M]``."""
    geo, ctl = sim.geo, sim.controls
    E, M = sim.E, sim.M
    touch = _touch_distance(sim)
    pair = np.flatnonzero(np.less(geo.dxy, touch, out=geo.close))  # flat [E, i, j]; (i, j) and (j, i)
    if not len(pair) and not (geo.dxy < sim.radius_sum).any():
        return nx, ny  # nobody touches, living or dead: positions stay as they are (unclamped)
    gap = np.take(geo.dxy, pair)
    push = 0.5 * (np.take(touch, pair) - gap) / np.maximum(gap, 1e-6)
    # Sum the pushes per mech (match * M + i) with bincount (much cheaper than np.add.at).
    mech = pair // M
    px = nx - np.bincount(mech, push * np.take(geo.dx, pair), E * M).reshape(E, M)
    py = ny - np.bincount(mech, push * np.take(geo.dy, pair), E * M).reshape(E, M)
    px = clamp(px, sim.radius, ctl.x_max)
    py = clamp(py, sim.radius, ctl.y_max)
    ok = np.take(sim.solid_h, sim._cells(px, py, sim.env_index)) <= step_top
    return np.where(ok, px, nx), np.where(ok, py, ny)


class PairGeometry:
    """Horizontal pair geometry of the mechs, float32 ``[E, i, j]`` (metres), in preallocated
    buffers written by :func:`update_geometry`: ``dx, dy`` (j - i) and ``dxy`` (distance, +inf on
    the diagonal); ``x, y, z [E, M]`` float32 positions they come from. ``cos_yaw, sin_yaw [E, M]``
    float64 of the headings are written by :func:`move` after turning. ``touch [E, M, M]`` float32
    is the touching distance of living pairs (0 otherwise) for the ``touch_alive [E, M]`` it was
    built from; ``close [E, M, M]`` bool is scratch for the push-apart pass.
    """

    def __init__(self, num_envs: int, num_mechs: int):
        E, M = num_envs, num_mechs
        f4 = np.float32
        self.dx = np.zeros((E, M, M), f4)
        self.dy = np.zeros((E, M, M), f4)
        self.dxy = np.zeros((E, M, M), f4)
        self.x = np.zeros((E, M), f4)
        self.y = np.zeros((E, M), f4)
        self.z = np.zeros((E, M), f4)
        self.cos_yaw = np.ones((E, M))
        self.sin_yaw = np.zeros((E, M))
        self.close = np.zeros((E, M, M), bool)
        self.touch = np.zeros((E, M, M), f4)
        self.touch_alive = np.zeros((E, M), bool)
        self._sq = np.zeros((E, M, M), f4)
        # The diagonal as a strided view: set to +inf after every update.
        self._dxy_diag = self.dxy.reshape(E, M * M)[:, :: M + 1]


def update_geometry(sim) -> None:
    """Recompute ``sim.geo`` from the current positions, in place. (3D distances are computed
    by the weapons phase for the rows of the mechs that fire.)"""
    geo = sim.geo
    np.copyto(geo.x, sim.pos[..., 0], casting="same_kind")
    np.copyto(geo.y, sim.pos[..., 1], casting="same_kind")
    np.copyto(geo.z, sim.pos[..., 2], casting="same_kind")
    np.subtract(geo.x[:, None, :], geo.x[:, :, None], out=geo.dx)
    np.subtract(geo.y[:, None, :], geo.y[:, :, None], out=geo.dy)
    d2, sq = geo.dxy, geo._sq  # d2 is summed in the dxy buffer, then rooted in place
    np.multiply(geo.dx, geo.dx, out=d2)
    np.multiply(geo.dy, geo.dy, out=sq)
    d2 += sq
    np.sqrt(d2, out=geo.dxy)
    geo._dxy_diag[...] = np.inf
