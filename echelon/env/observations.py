"""Decision-step sensing and the flat observation (layout: :mod:`echelon.env.obs_layout`).

:func:`observe` runs once per decision step: it computes the decision cache of the sim (pair
distances, line of sight, ECM/ECCM sensor quality, visibility, sorted contact slots) and
writes ``sim.obs [E, M, FLAT_OBS_DIM]`` float32. Scales are fixed metre/second constants
(``POS_SCALE`` etc.), never the map size. Dead agents observe zeros.

Bounded by construction: offsets (contacts, squad, zone) and velocities are vectors whose
direction is kept and whose length ``L`` reads as ``tanh(L / scale)`` (near-linear, ``L / scale``,
at combat ranges; never above 1 on any map size); fractions of a cap (heat) are clipped at
``HEAT_CLIP``. Every value lies in ``[-1.5, 1.5]``.
"""

from __future__ import annotations

import numpy as np

from echelon.env import specs as S
from echelon.env.obs_layout import (
    BLOCK_SLICES, CONTACT_DIM, CONTACT_IDX as CI, DESC_IDX as DI, EGO_IDX as GI, MAX_CONTACTS,
    MAX_SQUAD, PANEL_GRID, SQUAD_DIM, SQUAD_IDX as QI,
)

POS_SCALE = 50.0  # m
Z_SCALE = 10.0  # m
VEL_SCALE = 10.0  # m/s
ZONE_R_SCALE = 10.0  # m
PANEL_SPACING = 2.0  # m between panel samples
PANEL_H_SCALE = 5.0  # m of column height that reads as fully blocked
HEAT_CLIP = 1.5  # heat / heat cap is clipped here (above 1 the mech is shut down)

_u = (np.arange(PANEL_GRID) - (PANEL_GRID - 1) / 2.0) * PANEL_SPACING
_PU, _PV = (a.ravel().astype(np.float32) for a in np.meshgrid(_u, _u, indexing="ij"))  # ego-frame offsets [G*G]


def _squash2(x: np.ndarray, y: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vector (x, y) with its length L replaced by tanh(L / scale): returns (x', y', tanh(L / scale))."""
    n = np.sqrt(x * x + y * y)
    t = np.tanh(n / np.float32(scale))
    f = t / np.maximum(n, np.float32(1e-6))
    return x * f, y * f, t


def _los(sim, ev: np.ndarray) -> np.ndarray:
    """Line of sight [len(ev), M, M] bool for matches ``ev``.

    Traced for enemy pairs closer than ``cfg.sight_range`` only, at ``cfg.los_samples`` points
    between eye heights; a sample is blocked by a sight-blocking column above the line or by
    smoke (``sim.sight_eff``). Friends are not traced (always visible, never fired at).
    """
    cfg = sim.cfg
    pos = sim.pos[ev].astype(np.float32)
    eye = pos[..., 2] + (S.CLS_SIZE[sim.cls] * 0.8).astype(np.float32)[None]
    a, b = sim.pi, sim.pj
    dx = pos[:, b, 0] - pos[:, a, 0]
    dy = pos[:, b, 1] - pos[:, a, 1]
    ke, kp = np.nonzero(dx * dx + dy * dy <= cfg.sight_range**2)
    out = np.zeros((len(ev), sim.M, sim.M), bool)
    if len(ke) == 0:
        return out
    ka, kb = a[kp], b[kp]
    t = ((np.arange(cfg.los_samples) + 0.5) / cfg.los_samples).astype(np.float32)
    x = pos[ke, ka, 0][:, None] + dx[ke, kp][:, None] * t
    y = pos[ke, ka, 1][:, None] + dy[ke, kp][:, None] * t
    za = eye[ke, ka][:, None]
    z = za + (eye[ke, kb][:, None] - za) * t
    cx = np.clip(x.astype(np.int64), 0, sim.X - 1)
    cy = np.clip(y.astype(np.int64), 0, sim.Y - 1)
    cells = (ev[ke][:, None] * sim.X + cx) * sim.Y + cy
    ok = ~(np.take(sim.sight_eff, cells) > z).any(1)
    out[ke, ka, kb] = ok
    out[ke, kb, ka] = ok
    return out


def observe(sim, envs: np.ndarray | None = None) -> None:
    """Refresh the decision cache and ``sim.obs`` for matches ``envs`` (int array; None = all)."""
    E, M = sim.E, sim.M
    ev = np.arange(E) if envs is None else np.asarray(envs, dtype=np.int64)
    sel = slice(None) if envs is None else ev
    pos = sim.pos[sel].astype(np.float32)
    alive = sim.alive[sel]
    team = sim.team
    x, y, zz = pos[..., 0], pos[..., 1], pos[..., 2]
    dx = x[:, None, :] - x[:, :, None]
    dy = y[:, None, :] - y[:, :, None]
    d2 = dx * dx
    d2 += dy * dy
    if (zz != 0).any():
        dzz = zz[:, None, :] - zz[:, :, None]
        d2 += dzz * dzz
    d = np.sqrt(d2)
    los = _los(sim, ev)
    # ECM / ECCM (ENV_SPEC): jam = max over enemy ECM scouts of 1 - d/50; eccm likewise from friends.
    ewar = sim.ewar[sel]
    n = len(ev)
    jam = np.zeros((n, M), np.float32)
    eccm = np.zeros((n, M), np.float32)
    same = ~sim.enemy
    if (ewar > 0).any():
        # Only scouts emit: work on the [n, M, num_scouts] columns.
        sc = sim.scout_ids
        near = np.maximum(0.0, 1.0 - d[:, :, sc] / np.float32(S.ECM_RANGE))
        ecm_src = ((ewar == 1) & alive)[:, sc]
        eccm_src = ((ewar == 2) & alive)[:, sc]
        if ecm_src.any():
            jam = (near * (sim.enemy[:, sc][None] & ecm_src[:, None, :])).max(2)
        if eccm_src.any():
            eccm = (near * (same[:, sc][None] & eccm_src[:, None, :])).max(2)
    q = np.clip(1.0 - S.JAM_WEIGHT * jam + S.ECCM_WEIGHT * eccm, S.QUALITY_MIN, S.QUALITY_MAX)
    alive_j = alive[:, None, :]
    not_self = ~np.eye(M, dtype=bool)[None]
    paint = sim.paint_t[sel] > 0  # [n, j, pack]
    if sim.cfg.obs_mode == "full":
        vis = alive_j & not_self
    else:
        painted_by_mine = np.take(paint, sim.pack, axis=2).transpose(0, 2, 1)  # [n, i, j]
        hot = sim.heat[sel] > S.HOT_FRAC * sim.heat_cap
        emits = ewar > 0
        vis = alive_j & not_self & (
            same[None]
            | (painted_by_mine & (q >= S.LOCK_QUALITY)[:, :, None])
            | (d <= (S.RADAR_RANGE * q)[:, :, None])
            | los
            | (hot | emits)[:, None, :]
        )
    hostile_only = sim.hostile_only[sel]
    cand = vis & ((hostile_only == 0)[:, :, None] | sim.enemy[None])
    mode = sim.sort_mode[sel][:, :, None]
    hp_frac = sim.hp[sel] / sim.max_hp
    # Sort keys: distance; biggest first (tonnage dominates, distance breaks ties); most damaged first.
    key = ((mode == 1) * (-1e3 * sim.tons).astype(np.float32)[None, None, :]
           + (mode == 2) * (1e3 * hp_frac).astype(np.float32)[:, None, :])
    key += d
    key[~cand] = np.inf
    order = np.argsort(key, axis=2, kind="stable")[:, :, :MAX_CONTACTS]
    filled = np.take_along_axis(cand, order, 2)
    ids = np.where(filled, order, -1)
    if envs is None:
        sim.dist, sim.los, sim.visible = d, los, vis
    else:
        sim.dist[sel] = d
        sim.los[sel] = los
        sim.visible[sel] = vis
    sim.quality[sel] = q
    sim.jam[sel] = jam
    sim.eccm[sel] = eccm
    sim.contact_ids[sel] = ids
    sim.n_contacts[sel] = filled.sum(2)

    # Every field of every block is written below, so no clearing pass is needed.
    out = sim.obs[sel] if envs is not None else sim.obs
    yaw = sim.yaw[sel].astype(np.float32)
    c, s = np.cos(yaw), np.sin(yaw)
    vel = sim.vel[sel]
    heat_frac = sim.heat[sel] / sim.heat_cap
    stab_frac = sim.stability[sel] / sim.max_stab
    fallen = sim.fallen_t[sel] > 0
    legged = sim.leg_hp[sel] <= 0
    shutdown = sim.shutdown[sel]

    # ---- contacts
    oc = np.clip(order, 0, M - 1)
    flat = np.arange(n)[:, None, None] * M + oc  # [n, M, C] index into [n * M] per-mech arrays

    def g(a: np.ndarray) -> np.ndarray:
        return np.take(a.reshape(-1), flat)

    cont = out[..., BLOCK_SLICES["contacts"]].reshape(n, M, MAX_CONTACTS, CONTACT_DIM)
    rx = g(x) - x[..., None]
    ry = g(y) - y[..., None]
    rz = g(zz) - zz[..., None]
    dd = np.sqrt(rx * rx + ry * ry + rz * rz)
    rvx = g(vel[..., 0]).astype(np.float32) - vel[..., 0, None].astype(np.float32)
    rvy = g(vel[..., 1]).astype(np.float32) - vel[..., 1, None].astype(np.float32)
    cc, ss = c[..., None], s[..., None]
    f = filled.astype(np.float32)
    cont[..., CI["valid"]] = f
    cont[..., CI["hostile"]] = sim.enemy[np.arange(M)[:, None], oc] * f
    ex, ey, _ = _squash2(rx * cc + ry * ss, -rx * ss + ry * cc, POS_SCALE)
    cont[..., CI["rel_x"]] = ex * f
    cont[..., CI["rel_y"]] = ey * f
    cont[..., CI["rel_z"]] = np.tanh(rz / np.float32(Z_SCALE)) * f
    cont[..., CI["dist"]] = np.tanh(dd / np.float32(POS_SCALE)) * f
    vx, vy, _ = _squash2(rvx * cc + rvy * ss, -rvx * ss + rvy * cc, VEL_SCALE)
    cont[..., CI["rel_vx"]] = vx * f
    cont[..., CI["rel_vy"]] = vy * f
    cont[..., CI["closing"]] = np.tanh(-(rx * rvx + ry * rvy) / np.maximum(dd, 1e-6) / np.float32(VEL_SCALE)) * f
    ccls = sim.cls[oc]
    for k, name in enumerate(("cls_scout", "cls_light", "cls_medium", "cls_heavy")):
        cont[..., CI[name]] = (ccls == k) * f
    cont[..., CI["hp"]] = g(hp_frac) * f
    cont[..., CI["heat"]] = np.minimum(g(heat_frac), HEAT_CLIP) * f
    cont[..., CI["stability"]] = g(stab_frac) * f
    cont[..., CI["fallen"]] = g(fallen) * f
    cont[..., CI["legged"]] = g(legged) * f
    P = sim.num_packs
    cont[..., CI["painted"]] = np.take(paint.reshape(-1), flat * P + sim.pack[None, :, None]) * f
    cont[..., CI["shutdown"]] = g(shutdown) * f
    out[..., BLOCK_SLICES["contact_mask"]] = f

    # ---- squad (pack mates, fixed order)
    sq = out[..., BLOCK_SLICES["squad"]].reshape(n, M, MAX_SQUAD, SQUAD_DIM)
    mid = sim.squad_ids  # [M, MAX_SQUAD]
    mate_alive = alive[:, mid]
    ma = mate_alive.astype(np.float32)
    srx = pos[:, mid, 0] - pos[:, :, None, 0]
    sry = pos[:, mid, 1] - pos[:, :, None, 1]
    sq[..., QI["alive"]] = ma
    sq[..., QI["hp"]] = hp_frac[:, mid] * ma
    sq[..., QI["heat"]] = np.minimum(heat_frac[:, mid], HEAT_CLIP) * ma
    qx, qy, qd = _squash2(srx * cc + sry * ss, -srx * ss + sry * cc, POS_SCALE)
    sq[..., QI["rel_x"]] = qx * ma
    sq[..., QI["rel_y"]] = qy * ma
    sq[..., QI["dist"]] = qd * ma
    sq[..., QI["comm_0"]:QI["comm_0"] + sim.comm.shape[2]] = sim.comm[sel][:, mid] * ma[..., None]
    out[..., BLOCK_SLICES["squad_mask"]] = ma

    # ---- ego
    eg = out[..., BLOCK_SLICES["ego"]]
    eg[..., GI["alive"]] = 1.0
    eg[..., GI["hp"]] = hp_frac
    eg[..., GI["leg_hp"]] = sim.leg_hp[sel] / sim.max_leg
    eg[..., GI["heat"]] = np.minimum(heat_frac, HEAT_CLIP)
    eg[..., GI["stability"]] = stab_frac
    eg[..., GI["fallen"]] = sim.fallen_t[sel] / S.KNOCKDOWN_S
    eg[..., GI["legged"]] = legged
    eg[..., GI["shutdown"]] = shutdown
    enemy_pack = sim.team[:, None] != (np.arange(sim.num_packs) // sim.cfg.packs_per_team)[None, :]  # [M, packs]
    eg[..., GI["painted"]] = (paint & enemy_pack[None]).any(2)
    wcd = np.maximum(S.W_COOLDOWN[sim.weapon], 1e-9)  # [M, 4]
    cd = sim.cd[sel]
    for k, slot in enumerate(S.SLOT_NAMES):
        eg[..., GI[f"cd_{slot}"]] = cd[..., k] / wcd[:, k]
    vx0 = vel[..., 0].astype(np.float32)
    vy0 = vel[..., 1].astype(np.float32)
    eg[..., GI["vel_fwd"]], eg[..., GI["vel_strafe"]], _ = _squash2(vx0 * c + vy0 * s, -vx0 * s + vy0 * c, VEL_SCALE)
    eg[..., GI["vel_z"]] = np.tanh(vel[..., 2] / VEL_SCALE)
    eg[..., GI["sensor_quality"]] = q
    eg[..., GI["jam"]] = jam
    eg[..., GI["suppressed"]] = sim.suppress_t[sel] / S.W_SUPPRESS[S.AUTOCANNON]
    eg[..., GI["under_fire"]] = sim.under_fire_t[sel] > 0
    inc = np.zeros((n, M), np.float32)
    act = sim.p_active[sel] & (sim.p_weapon[sel] == S.MISSILE)
    pe, pp = np.nonzero(act)
    if len(pe):
        inc[pe, sim.p_target[ev[pe], pp]] = 1.0
    eg[..., GI["incoming_missile"]] = inc
    zc = sim.zone_center[sel]
    zx = zc[:, None, 0] - pos[..., 0]
    zy = zc[:, None, 1] - pos[..., 1]
    zd = np.hypot(zx, zy)
    zr = sim.zone_radius[sel][:, None]
    eg[..., GI["zone_x"]], eg[..., GI["zone_y"]], eg[..., GI["zone_dist"]] = _squash2(
        (zx * c + zy * s).astype(np.float32), (-zx * s + zy * c).astype(np.float32), POS_SCALE)
    eg[..., GI["zone_radius"]] = zr / ZONE_R_SCALE
    eg[..., GI["in_zone"]] = zd <= zr
    sc = sim.score[sel] / sim.win_score
    eg[..., GI["score_own"]] = sc[:, team]
    eg[..., GI["score_enemy"]] = sc[:, 1 - team]
    eg[..., GI["time_frac"]] = (sim.step_count[sel] / sim.cfg.max_steps)[:, None]
    mode2 = sim.sort_mode[sel]
    eg[..., GI["sort_closest"]] = mode2 == 0
    eg[..., GI["sort_biggest"]] = mode2 == 1
    eg[..., GI["sort_damaged"]] = mode2 == 2
    eg[..., GI["hostile_only"]] = hostile_only

    # ---- descriptor
    de = out[..., BLOCK_SLICES["descriptor"]]
    for k, name in enumerate(("cls_scout", "cls_light", "cls_medium", "cls_heavy")):
        de[..., DI[name]] = sim.cls == k
    has = sim.weapon != S.NO_WEAPON
    for k, slot in enumerate(S.SLOT_NAMES):
        de[..., DI[f"{slot}_has"]] = has[:, k]
        de[..., DI[f"{slot}_range"]] = S.W_RANGE[sim.weapon[:, k]] / POS_SCALE
        de[..., DI[f"{slot}_ready"]] = (cd[..., k] <= 1e-6) & has[None, :, k]
    de[..., DI["jump_jets"]] = sim.jumper
    de[..., DI["ewar"]] = sim.has_ewar
    de[..., DI["ams"]] = sim.has_ams

    # ---- panel: PANEL_GRID^2 samples around me, ego-rotated; blocked height and hazard.
    _panel(sim, out[..., BLOCK_SLICES["panel"]], pos, c, s, ev)

    out[~alive] = 0.0
    if envs is not None:
        sim.obs[sel] = out


class PanelScratch:
    """Buffers of the terrain panel, ``[E, M, PANEL_GRID**2]``, written in place by every
    :func:`observe` (a partial observe of ``n`` matches uses the first ``n`` rows): sample
    points ``x, y`` and ``value`` (float32, m), ``off`` / ``flag`` (bool), cell ids ``cx, cy``
    (int64) and ``hazard`` (int8). Tens of thousands of points a step: fresh temporaries of this
    size cost more in allocation than in arithmetic."""

    def __init__(self, num_envs: int, num_mechs: int):
        shape = (num_envs, num_mechs, PANEL_GRID * PANEL_GRID)
        self.x = np.zeros(shape, np.float32)
        self.y = np.zeros(shape, np.float32)
        self.value = np.zeros(shape, np.float32)
        self.off = np.zeros(shape, bool)
        self.flag = np.zeros(shape, bool)
        self.cx = np.zeros(shape, np.int64)
        self.cy = np.zeros(shape, np.int64)
        self.hazard = np.zeros(shape, np.int8)


def _panel(sim, pn: np.ndarray, pos: np.ndarray, c: np.ndarray, s: np.ndarray, ev: np.ndarray) -> None:
    """Write the panel block ``pn [n, M, 2 * G2]``: blocked height (column height above my feet /
    PANEL_H_SCALE, clipped to [0, 1]; 1 off the map) then hazard (+1 lava, -1 water; 0 off the
    map) at ``G2`` samples around each mech, ego-rotated (``pos`` float32 [n, M, 3] m, ``c, s``
    float32 heading cosine and sine)."""
    n = len(ev)
    buf = sim.panel_scratch
    px, py, value, off, flag = buf.x[:n], buf.y[:n], buf.value[:n], buf.off[:n], buf.flag[:n]
    # px = x + u cos - v sin, py = y + u sin + v cos, each operation in this order (rounding).
    np.multiply(_PU, c[..., None], out=px)
    np.add(pos[..., 0, None], px, out=px)
    np.multiply(_PV, s[..., None], out=value)
    px -= value
    np.multiply(_PU, s[..., None], out=py)
    np.add(pos[..., 1, None], py, out=py)
    np.multiply(_PV, c[..., None], out=value)
    py += value
    # Off the match's map: the allocation's edge, or a smaller match's own edge.
    size_x, size_y = (sim.X, sim.Y) if sim.full_size else (sim.match_x[ev, None, None], sim.match_y[ev, None, None])
    np.less(px, 0, out=off)
    off |= np.greater_equal(px, size_x, out=flag)
    off |= np.less(py, 0, out=flag)
    off |= np.greater_equal(py, size_y, out=flag)
    cells = sim._cells(px, py, ev[:, None, None], out=(buf.cx[:n], buf.cy[:n]))
    # Cell ids are in range by construction (mode="clip" only spares take its buffered bounds check).
    rel_h = np.take(sim.solid_h, cells, out=value, mode="clip")
    rel_h -= pos[..., 2, None]
    rel_h /= np.float32(PANEL_H_SCALE)
    np.clip(rel_h, 0.0, 1.0, out=rel_h)
    np.copyto(rel_h, 1.0, where=off)
    hz = np.take(sim.hazard, cells, out=buf.hazard[:n], mode="clip")
    np.copyto(hz, 0, where=off)
    G2 = PANEL_GRID * PANEL_GRID
    pn[..., :G2] = rel_h
    pn[..., G2:] = hz
