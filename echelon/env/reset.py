"""Starting matches: each match's layout (map side, packs per team), its map, spawns, clean state.

The batch is allocated for its largest match: ``X x Y = cfg.size_x x cfg.size_y`` cells and
``cfg.packs_per_team`` packs a team (``T`` mechs). Every reset of a match (the first and every
auto-reset) draws its layout from the match's *layout generator*
``SeedSequence([seed, match_id, LAYOUT_STREAM])``: a square side ``s`` from ``sim.size_range``
then ``k`` packs from ``sim.packs_range`` (uniform integers, both ends included; ``size_range``
None, on a non-square allocation without a range, keeps ``X x Y`` and draws no side). The
stream is the match's own and apart from its map generator, so the map, the match key and the
heuristic's key are exactly those of a match built with a fixed side ``s`` and ``k`` packs from
the same seed and match id, whatever the other matches of the batch draw; with no ranges
configured (every match ``X x Y`` with every pack) nothing else changes.

A match of side ``s`` plays in the corner ``[0, s) x [0, s)`` of its terrain arrays; the cells
beyond are reinforced walls ``WALL_HEIGHT`` m tall (they block movement and sight), and the
phases bound every lookup by the match's own size: :meth:`EchelonSim.cell_bounds`, the movement
clamps ``controls.x_max / y_max [E, M]``, the observation panel's map edge, smoke and blast cells,
the approach potential's ``match_side`` and the damage heat map's bins.

A match of ``k`` packs plays with packs ``0 .. k-1`` of each team, mechs ``0 .. 5k-1`` (blue) and
``T .. T+5k-1`` (red). The other mechs are absent: ``present`` False, never alive (so never seen,
targeted, counted in the outcome or rewarded), parked far off the map and apart from each other
(no line of sight is traced to them, nobody touches them). Two more things keep a small match in
a big batch identical to the same match played alone: counter-based draws are keyed by
``draw_id [E, M]``, a mech's index in a match of its own packs (red mech ``T + j`` is ``5k + j``
there), and at most ``p_cap [E] = 4 x 10k`` projectiles fly at once, the pool of a ``k``-pack sim.
Observations, rewards, flags and events are then bit-identical; float sums over the mech axis
(remaining HP, pack dispersion, focus-fire share in the outcome) agree to rounding only, since
NumPy groups the terms of the allocation's longer rows differently.

Per-match layout arrays on the sim: ``match_x, match_y [E]`` int64 (cells), ``match_side [E]``
float64 (m, the longer side: the approach potential's map size), ``match_packs [E]`` int64,
``present [E, M]`` bool, ``draw_id [E, M]`` int64, ``p_cap [E]`` int64; ``full_size`` /
``all_present`` (bool) say that every match spans the whole allocation, so the phases keep their
scalar fast paths.
"""

from __future__ import annotations

import numpy as np

from echelon.config import check_range
from echelon.env import mapgen
from echelon.env.records import ST

# Third SeedSequence word of the layout generators (the heuristic's keys use 7).
LAYOUT_STREAM = 11
# Height (m) of the reinforced wall filling a smaller match's cells beyond its map: above any
# mech's feet plus the panel's PANEL_H_SCALE, so the panel reads it as fully blocked.
WALL_HEIGHT = 100.0
# Absent mechs stand at x = PARK_AT * (1 + 2 * team) - PARK_GAP * m, y = PARK_AT (m): far beyond
# sight range of the map and of the other team's parked mechs, PARK_GAP apart (no touching).
PARK_AT = -1.0e4
PARK_GAP = 10.0


def init(sim) -> None:
    """Allocate the per-match layout arrays (every match full size, every pack present) and the
    curriculum ranges from the config."""
    cfg, E, M = sim.cfg, sim.E, sim.M
    if cfg.size_range is not None:
        sim.size_range = (int(cfg.size_range[0]), int(cfg.size_range[1]))
    else:
        sim.size_range = (sim.X, sim.X) if sim.X == sim.Y else None
    sim.packs_range = tuple(int(v) for v in (cfg.packs_range or (cfg.packs_per_team, cfg.packs_per_team)))
    sim.match_x = np.full(E, sim.X, np.int64)
    sim.match_y = np.full(E, sim.Y, np.int64)
    sim.match_side = np.full(E, sim.map_size)
    sim.match_packs = np.full(E, cfg.packs_per_team, np.int64)
    sim.present = np.ones((E, M), bool)
    sim.draw_id = np.tile(np.arange(M, dtype=np.int64), (E, 1))
    sim.p_cap = np.full(E, sim.P, np.int64)
    sim.full_size = True
    sim.all_present = True
    sim.local_index = np.arange(M) % sim.T  # [M] index of a mech inside its team
    sim.layout_rngs = [np.random.default_rng(np.random.SeedSequence([0, i, LAYOUT_STREAM])) for i in range(E)]


def seed(sim, seed: int, match_ids) -> None:
    """Slot i's layout generator from ``SeedSequence([seed, match_ids[i], LAYOUT_STREAM])``."""
    sim.layout_rngs = [np.random.default_rng(np.random.SeedSequence([int(seed), int(i), LAYOUT_STREAM]))
                       for i in match_ids]


def set_ranges(sim, size_range=None, packs_range=None) -> None:
    """Replace the curriculum ranges (None = leave as is), validated against the allocation:
    ``size_range [lo, hi]`` with ``cfg.min_side <= lo <= hi <= min(X, Y)``, ``packs_range`` with
    ``1 <= lo <= hi <= cfg.packs_per_team``. Matches use them from their next reset.
    Raises :class:`~echelon.config.ConfigError` (a ValueError) saying what to change."""
    cfg = sim.cfg
    new_size = sim.size_range
    if size_range is not None:
        new_size = check_range("size_range", size_range, cfg.min_side, min(sim.X, sim.Y), "m", cfg.min_side_reason)
    new_packs = sim.packs_range
    if packs_range is not None:
        new_packs = check_range("packs_range", packs_range, 1, cfg.packs_per_team, "packs")
    sim.size_range, sim.packs_range = new_size, new_packs


def reset_envs(sim, envs: np.ndarray) -> None:
    """Start a new match in each slot of ``envs`` (int array): draw its layout, generate and load
    its map from the slot's map generator, draw its key, spawn its mechs, clear its state."""
    for e in np.asarray(envs, dtype=np.int64).tolist():
        size_x, size_y, packs = _draw_layout(sim, e)
        _set_layout(sim, e, size_x, size_y, packs)
        rng = sim.match_rngs[e]
        m = mapgen.generate_map(rng, sim.cfg, None if (size_x, size_y) == (sim.X, sim.Y) else (size_x, size_y))
        load_map(sim, e, m)
        sim.key[e] = np.uint64(int(rng.integers(0, 2**63)))
        _spawn(sim, e, m)
    sim.full_size = bool((sim.match_x == sim.X).all() and (sim.match_y == sim.Y).all())
    sim.all_present = bool(sim.present.all())
    _clear_state(sim, envs)


def _draw_layout(sim, e: int) -> tuple[int, int, int]:
    """``(size_x, size_y, packs)`` of slot ``e``'s next match, from its layout generator."""
    rng = sim.layout_rngs[e]
    if sim.size_range is None:
        size_x, size_y = sim.X, sim.Y
    else:
        size_x = size_y = int(rng.integers(sim.size_range[0], sim.size_range[1] + 1))
    packs = int(rng.integers(sim.packs_range[0], sim.packs_range[1] + 1))
    return size_x, size_y, packs


def _set_layout(sim, e: int, size_x: int, size_y: int, packs: int) -> None:
    """Write slot ``e``'s layout arrays and movement clamps for a ``size_x x size_y`` match of
    ``packs`` packs a team."""
    n = 5 * packs  # mechs a team
    sim.match_x[e], sim.match_y[e] = size_x, size_y
    sim.match_side[e] = float(max(size_x, size_y))
    sim.match_packs[e] = packs
    sim.present[e] = sim.local_index < n
    sim.draw_id[e] = sim.team * n + sim.local_index
    sim.p_cap[e] = 4 * 2 * n
    sim.controls.x_max[e] = size_x - sim.radius
    sim.controls.y_max[e] = size_y - sim.radius


def load_map(sim, e: int, m: "mapgen.MapData") -> None:
    """Copy a :class:`mapgen.MapData` of the match's size into the corner of slot ``e`` (terrain,
    zone); the cells beyond become reinforced walls ``WALL_HEIGHT`` tall."""
    sx, sy = m.material.shape
    sim.height[e, :sx, :sy] = m.height
    sim.material[e, :sx, :sy] = m.material
    sim.building_hp[e, :sx, :sy] = m.building_hp
    if (sx, sy) != (sim.X, sim.Y):
        for cells in ((e, slice(sx, None)), (e, slice(None, sx), slice(sy, None))):
            sim.height[cells] = WALL_HEIGHT
            sim.material[cells] = mapgen.REINFORCED
            sim.building_hp[cells] = 0.0
    sim.zone_center[e] = m.zone_center
    sim.zone_radius[e] = m.zone_radius
    sim.smoke_cnt[e] = 0
    sim.terrain_changed(e)


def _spawn(sim, e: int, m: "mapgen.MapData") -> None:
    """Spawn the present mechs of both teams in a grid around their spawn points, facing the
    zone; park the absent ones (see the module docstring)."""
    n = 5 * int(sim.match_packs[e])
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    spacing = min(4.0, 2.0 * m.spawn_half / max(cols, rows))
    k = np.arange(n)
    gx = (k % cols - (cols - 1) / 2.0) * spacing
    gy = (k // cols - (rows - 1) / 2.0) * spacing
    for team, centre in ((0, m.spawn_blue), (1, m.spawn_red)):
        sl = slice(team * sim.T, team * sim.T + n)
        sign = 1.0 if team == 0 else -1.0
        sim.pos[e, sl, 0] = centre[0] + sign * gx
        sim.pos[e, sl, 1] = centre[1] + sign * gy
        sim.pos[e, sl, 2] = 0.0
        d = m.zone_center - centre
        sim.yaw[e, sl] = np.arctan2(d[1], d[0])
    absent = np.nonzero(~sim.present[e])[0]
    if len(absent):
        sim.pos[e, absent, 0] = PARK_AT * (1 + 2 * sim.team[absent]) - PARK_GAP * absent
        sim.pos[e, absent, 1] = PARK_AT
        sim.pos[e, absent, 2] = 0.0
        sim.yaw[e, absent] = 0.0


def _clear_state(sim, envs: np.ndarray) -> None:
    """Every per-match state array of ``envs`` to its start value; absent mechs start dead."""
    e = np.asarray(envs, dtype=np.int64)
    present = sim.present[e]
    sim.vel[e] = 0.0
    sim.hp[e] = np.where(present, sim.max_hp, 0.0)
    sim.leg_hp[e] = sim.max_leg
    sim.heat[e] = 0.0
    sim.stability[e] = sim.max_stab
    sim.alive[e] = present
    for a in (sim.shutdown, sim.vent):
        a[e] = False
    for a in (sim.fallen_t, sim.suppress_t, sim.under_fire_t, sim.ams_cd, sim.cd, sim.paint_t):
        a[e] = 0.0
    sim.last_dmg_t[e] = -1e9
    sim.last_paint_t[e] = -1e9
    for a in (sim.ewar, sim.sort_mode, sim.hostile_only, sim.step_count, sim.tick, sim.smoke_parity):
        a[e] = 0
    sim.comm[e] = 0.0
    sim.focus[e] = -1
    sim.score[e] = 0.0
    sim.death_pos[e] = np.nan
    sim.p_active[e] = False
    sim.smoke_t[e] = 0.0
    sim.smoke_cells[e] = -1
    sim.smoke_on[e] = False
    sim.stats[e] = 0.0
    sim.stats[e, ST["first_zone_entry_step"]] = -1
    sim.agent_stats[e] = 0.0
    sim.damage_heatmap[e] = 0.0
