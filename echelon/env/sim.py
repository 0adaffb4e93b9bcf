"""Batched struct-of-arrays simulation core of Echelon (ENV_SPEC is the rulebook).

One :class:`EchelonSim` holds ``E = num_envs`` matches of ``M = cfg.num_mechs`` mechs each and
steps all of them with NumPy ops over ``[E, M]`` / ``[E, M, M]`` arrays; no per-mech Python.

Mech index layout (same in every match): ``0 .. T-1`` blue, ``T .. 2T-1`` red with
``T = cfg.mechs_per_team``; inside a team, packs of five in :data:`specs.PACK_ROLES` order
(heavy, medium, medium, light, scout). Static per-mech arrays ``[M]``: ``team`` (0 blue,
1 red), ``pack`` (global pack id ``team * packs_per_team + p``), ``cls`` (class id),
``weapon [M, 4]`` (weapon id per slot), ``squad_ids [M, MAX_SQUAD]`` (pack mates).

State arrays (float64 unless noted; metres, seconds, radians):
  pos [E, M, 3] x, y, z (z = feet height) · vel [E, M, 3] · yaw [E, M] heading (forward =
  (cos yaw, sin yaw), left = (-sin yaw, cos yaw)) · hp, leg_hp, heat, stability [E, M] ·
  alive, shutdown, vent [E, M] bool · fallen_t, suppress_t, under_fire_t, ams_cd [E, M]
  seconds left · cd [E, M, 4] slot cooldowns (s) · paint_t [E, M, num_packs] seconds the mech
  stays painted by each pack · last_dmg_t, last_paint_t [E, victim, attacker] sim time of the
  last damage / paint (for assists) · ewar [E, M] int (0 off, 1 ECM, 2 ECCM) · sort_mode,
  hostile_only [E, M] int · comm [E, M, COMM_DIM] float32 (last message, read by pack mates
  next step) · focus [E, M] int (mech index aimed at, -1 = nearest) · step_count [E] int ·
  score [E, 2] zone score in seconds (blue, red) · zone_center [E, 2], zone_radius [E].
Terrain ``[E, X, Y]``: height (float32 m), material (uint8, mapgen codes), building_hp,
  solid_h (height of movement-blocking columns, else 0), sight_h (height of sight-blocking
  columns), smoke_cnt (int16 clouds covering the cell), sight_eff (sight_h, or 1e9 under
  smoke). Call :meth:`EchelonSim.terrain_changed` after editing height/material directly.
Projectile pool ``[E, P]``: p_active (bool), p_pos/p_origin/p_aim [E, P, 3], p_weapon,
  p_shooter, p_target (int), p_leg (uniform draw deciding a leg hit).
Smoke clouds ``[E, S]`` with ``S = 2 M`` (slot ``2 m + parity`` for mech m): smoke_on (bool,
  cloud present), smoke_t (s left), smoke_pos [E, S, 2] (centre, m; radius specs.SMOKE_RADIUS),
  smoke_cells [E, S, K] (stamped flat cell ids, -1 none).
Decision cache (computed once per decision step by :func:`observations.observe`, reused by
  the substeps): dist [E, M, M], los [E, M, M] bool, visible [E, M, M] bool (observer, target),
  quality, jam [E, M], contact_ids [E, M, MAX_CONTACTS] int (-1 empty).
Actions in ``[E, M, ...]`` arrays (written by the vector env / heuristic, already sanitised):
  act_move [E, M, 4], act_trigger [E, M, 5] bool, act_target, act_ewar, act_sort,
  act_hostile [E, M] int, act_comm [E, M, COMM_DIM].
Zone per step: in_zone [E, M] bool, zone_ticks [E, 2] (blue, red point-ticks this step).
Per-step outputs: reward [E, M] and reward_parts [E, M, len(REWARD_PARTS)], died [E, M]
  (died this step), env_done [E], env_truncated [E], end_reason [E] (0 none, 1 zone,
  2 elimination, 3 time), winner [E] (0 blue, 1 red, 2 draw, -1 none), events (structured
  array ``events[:num_events]``, dtype :data:`EVENT_DTYPE`).

Randomness is counter-based: a uniform for (match key, tick, purpose, element) is a hash, so a
match's draws never depend on the other matches in the batch (batched == N single envs).
"""

from __future__ import annotations

import numpy as np

from echelon.config import EnvConfig
from echelon.env import mapgen
from echelon.env import specs as S
from echelon.env.obs_layout import COMM_DIM, FLAT_OBS_DIM, MAX_CONTACTS, MAX_SQUAD

REWARD_PARTS = ("zone", "approach", "damage", "kill", "assist", "death", "outcome")
RP = {n: i for i, n in enumerate(REWARD_PARTS)}
END_REASONS = ("none", "zone", "elimination", "time")
WINNERS = ("blue", "red", "draw")

EVENT_KINDS = (
    "laser_hit", "projectile_hit", "kill", "paint", "missile_launch", "ams_intercept", "smoke",
    "knockdown", "shutdown",
)
EV = {n: i for i, n in enumerate(EVENT_KINDS)}
# weapon: weapon id (-1 none/hazard); shooter/target: mech index (-1 none or hazard);
# x, y: metres; damage: after multipliers; rear/leg/painted: flags of hits.
EVENT_DTYPE = np.dtype([
    ("env", np.int32), ("kind", np.int8), ("weapon", np.int8), ("shooter", np.int16),
    ("target", np.int16), ("x", np.float32), ("y", np.float32), ("damage", np.float32),
    ("rear", np.bool_), ("leg", np.bool_), ("painted", np.bool_),
])

# Per-team stats (suffixed _blue / _red) and whole-match stats, one column each in sim.stats.
TEAM_STATS = (
    "damage", "kills", "assists", "deaths", "paints", "missile_launches", "ams_intercepts",
    "ams_attempts", "knockdowns", "shutdowns", "bad_actions", "zone_ticks", "pack_dispersion_sum",
    "pack_dispersion_count", "centroid_zone_dist_sum", "visible_contacts_sum",
    "visible_contacts_count", "hostile_filter_on_count", "ecm_on_ticks", "eccm_on_ticks",
    "scout_ticks", "shots", "projectiles_dropped",
)
MATCH_STATS = ("contested_ticks", "first_zone_entry_step")
STAT_NAMES = tuple(f"{n}_{t}" for n in TEAM_STATS for t in ("blue", "red")) + MATCH_STATS
ST = {n: i for i, n in enumerate(STAT_NAMES)}
# Per-agent stat columns in sim.agent_stats [E, M, len(AGENT_STATS)]: damage_taken counts every
# source (enemies, friendly splash, lava); enemy_damage_taken only hits by the other team.
AGENT_STATS = ("damage_dealt", "damage_taken", "kills", "assists", "reward", "enemy_damage_taken")
AS = {n: i for i, n in enumerate(AGENT_STATS)}
HEATMAP_BINS = 16  # damage heat map bins per axis, over the map normalised to [0, 1)

# Purposes of counter-based random draws (any distinct constants).
_R_LEG, _R_AMS = 1, 2
# Timers count down by dt in floating point; a cooldown this close to 0 is over.
_READY = 1e-6
_SLOT_TRIGGER = np.array(S.SLOT_TRIGGER)
_U64 = np.uint64


def _clamp(a, lo, hi):
    """np.clip without its Python-level overhead (hot path)."""
    return np.minimum(np.maximum(a, lo), hi)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def hash_uniform(key: np.ndarray, tick: np.ndarray, purpose: int, elem: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) floats from (key, tick, purpose, elem), all broadcast uint64-able arrays."""
    with np.errstate(over="ignore"):
        x = (key.astype(np.uint64) + tick.astype(np.uint64) * _U64(0x9E3779B97F4A7C15)
             + _U64(purpose) * _U64(0xD1B54A32D192ED03) + elem.astype(np.uint64) * _U64(0xABC98388FB8FAC03))
        return (_mix64(_mix64(x)) >> _U64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


class EchelonSim:
    """All matches of one batch. See the module docstring for the state arrays."""

    def __init__(self, cfg: EnvConfig, num_envs: int):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.cfg = cfg
        E = self.E = num_envs
        M = self.M = cfg.num_mechs
        T = self.T = cfg.mechs_per_team
        X, Y = self.X, self.Y = cfg.size_x, cfg.size_y
        self.dt = cfg.dt_sim
        self.map_size = float(max(X, Y))
        self.win_score = cfg.episode_seconds / 2.0

        idx = np.arange(M)
        self.team = (idx >= T).astype(np.int64)
        local = idx % T
        self.pack = self.team * cfg.packs_per_team + local // S.PACK_SIZE
        self.num_packs = 2 * cfg.packs_per_team
        self.cls = np.array([S.CLASS_NAMES.index(S.PACK_ROLES[r]) for r in local % S.PACK_SIZE], dtype=np.int64)
        c = self.cls
        self.radius, self.speed, self.yaw_rate = S.CLS_RADIUS[c], S.CLS_SPEED[c], S.CLS_YAW[c]
        self.jumper, self.max_hp, self.max_leg = S.CLS_JUMP[c], S.CLS_HP[c], S.CLS_LEG_HP[c]
        self.heat_cap, self.cooling, self.tons = S.CLS_HEAT_CAP[c], S.CLS_COOLING[c], S.CLS_TONS[c]
        self.max_stab, self.has_ams, self.has_ewar = S.CLS_STABILITY[c], S.CLS_AMS[c], S.CLS_EWAR[c]
        self.weapon = S.CLS_LOADOUT[c]  # [M, 4]
        self.enemy = self.team[:, None] != self.team[None, :]  # [M, M]
        self.scout_ids = np.nonzero(self.has_ewar)[0]
        self.friend = ~self.enemy & ~np.eye(M, dtype=bool)
        self.same_pack = self.pack[:, None] == self.pack[None, :]
        self.squad_ids = np.array(
            [[j for j in range(M) if self.pack[j] == self.pack[i] and j != i] for i in range(M)], dtype=np.int64
        )
        assert self.squad_ids.shape[1] == MAX_SQUAD
        # LOS is traced for enemy pairs only (friends always see each other; nobody fires at them).
        self.pi, self.pj = np.nonzero(np.triu(self.enemy))
        self._rsum = self.radius[:, None] + self.radius[None, :]
        self._rsum = self._rsum.astype(np.float32)
        self._diag_inf = np.where(np.eye(M, dtype=bool), np.float32(np.inf), np.float32(0.0))

        f8 = np.float64
        self.pos = np.zeros((E, M, 3), f8)
        self.vel = np.zeros((E, M, 3), f8)
        self.yaw = np.zeros((E, M), f8)
        self.hp = np.zeros((E, M), f8)
        self.leg_hp = np.zeros((E, M), f8)
        self.heat = np.zeros((E, M), f8)
        self.stability = np.zeros((E, M), f8)
        self.alive = np.zeros((E, M), bool)
        self.shutdown = np.zeros((E, M), bool)
        self.vent = np.zeros((E, M), bool)
        self.fallen_t = np.zeros((E, M), f8)
        self.suppress_t = np.zeros((E, M), f8)
        self.under_fire_t = np.zeros((E, M), f8)
        self.ams_cd = np.zeros((E, M), f8)
        self.cd = np.zeros((E, M, 4), f8)
        self.paint_t = np.zeros((E, M, self.num_packs), f8)
        self.last_dmg_t = np.full((E, M, M), -1e9, f8)
        self.last_paint_t = np.full((E, M, M), -1e9, f8)
        self.ewar = np.zeros((E, M), np.int64)
        self.sort_mode = np.zeros((E, M), np.int64)
        self.hostile_only = np.zeros((E, M), np.int64)
        self.comm = np.zeros((E, M, COMM_DIM), np.float32)
        self.focus = np.full((E, M), -1, np.int64)
        self.step_count = np.zeros(E, np.int64)
        self.tick = np.zeros(E, np.int64)  # substeps since match start
        self.score = np.zeros((E, 2), f8)
        self.zone_center = np.zeros((E, 2), f8)
        self.zone_radius = np.zeros(E, f8)
        self.key = np.zeros(E, np.uint64)  # per-match random key
        self.death_pos = np.full((E, M, 2), np.nan, f8)

        self.height = np.zeros((E, X, Y), np.float32)
        self.material = np.zeros((E, X, Y), np.uint8)
        self.building_hp = np.zeros((E, X, Y), np.float32)
        self.solid_h = np.zeros((E, X, Y), np.float32)
        self.sight_h = np.zeros((E, X, Y), np.float32)
        self.smoke_cnt = np.zeros((E, X, Y), np.int16)
        self.sight_eff = np.zeros((E, X, Y), np.float32)
        self.hazard = np.zeros((E, X, Y), np.int8)  # +1 lava, -1 water

        P = self.P = 4 * M
        self.p_active = np.zeros((E, P), bool)
        self.p_pos = np.zeros((E, P, 3), f8)
        self.p_origin = np.zeros((E, P, 3), f8)
        self.p_aim = np.zeros((E, P, 3), f8)
        self.p_weapon = np.zeros((E, P), np.int64)
        self.p_shooter = np.zeros((E, P), np.int64)
        self.p_target = np.zeros((E, P), np.int64)
        self.p_leg = np.zeros((E, P), f8)

        NS = self.NS = 2 * M
        r = int(np.ceil(S.SMOKE_RADIUS))
        ox, oy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
        disc = ox**2 + oy**2 <= S.SMOKE_RADIUS**2
        self._disc = np.stack([ox[disc], oy[disc]], 1)  # [K, 2] cell offsets of a cloud
        self.smoke_t = np.zeros((E, NS), f8)
        self.smoke_pos = np.zeros((E, NS, 2), f8)
        self.smoke_cells = np.full((E, NS, len(self._disc)), -1, np.int64)  # flat cell ids, -1 off-map
        self.smoke_parity = np.zeros((E, M), np.int64)
        self.smoke_on = np.zeros((E, NS), bool)

        self.dist = np.zeros((E, M, M), np.float32)
        self.los = np.zeros((E, M, M), bool)
        self.visible = np.zeros((E, M, M), bool)
        self.quality = np.ones((E, M), f8)
        self.jam = np.zeros((E, M), f8)
        self.eccm = np.zeros((E, M), f8)
        self.contact_ids = np.full((E, M, MAX_CONTACTS), -1, np.int64)
        self.n_contacts = np.zeros((E, M), np.int64)

        self.act_move = np.zeros((E, M, 4), f8)
        self.act_trigger = np.zeros((E, M, 5), bool)
        self.act_target = np.zeros((E, M), np.int64)
        self.act_ewar = np.zeros((E, M), np.int64)
        self.act_sort = np.zeros((E, M), np.int64)
        self.act_hostile = np.zeros((E, M), np.int64)
        self.act_comm = np.zeros((E, M, COMM_DIM), np.float32)

        self.reward = np.zeros((E, M), np.float32)
        self.reward_parts = np.zeros((E, M, len(REWARD_PARTS)), f8)
        self.died = np.zeros((E, M), bool)
        self.alive_before = np.zeros((E, M), bool)
        self.env_done = np.zeros(E, bool)
        self.env_truncated = np.zeros(E, bool)
        self.end_reason = np.zeros(E, np.int64)
        self.winner = np.full(E, -1, np.int64)
        self.stats = np.zeros((E, len(STAT_NAMES)), f8)
        self.agent_stats = np.zeros((E, M, len(AGENT_STATS)), f8)
        self.damage_heatmap = np.zeros((E, HEATMAP_BINS, HEATMAP_BINS), f8)
        self.events = np.zeros(max(1024, 64 * E * M // 4), EVENT_DTYPE)
        self.num_events = 0
        self.events_dropped = 0
        self.obs = np.zeros((E, M, FLAT_OBS_DIM), np.float32)

        # Per-substep scratch.
        self._dmg_pair = np.zeros((E, M, M), f8)
        self._hits: list = []
        self._pending_paint: list = []
        self._hz = np.zeros((E, M), np.int8)

        self.match_rngs: list[np.random.Generator] = [np.random.default_rng(0) for _ in range(E)]

    # ------------------------------------------------------------------ reset / terrain
    def seed(self, seed: int, match_ids=None) -> None:
        """Give match slot i the generator ``SeedSequence([seed, match_ids[i]])`` (default
        ``match_ids[i] = i``), used for every reset of slot i."""
        ids = range(self.E) if match_ids is None else match_ids
        self.match_rngs = [np.random.default_rng(np.random.SeedSequence([int(seed), int(i)])) for i in ids]

    def reset_envs(self, envs: np.ndarray) -> None:
        """Start a new match in each slot of ``envs`` (int array) from its slot generator."""
        for e in np.asarray(envs, dtype=np.int64).tolist():
            rng = self.match_rngs[e]
            m = mapgen.generate_map(rng, self.cfg)
            self.load_map(e, m)
            self.key[e] = _U64(int(rng.integers(0, 2**63)))
            self._reset_mechs(e, m)
        self._reset_state(envs)

    def load_map(self, e: int, m: "mapgen.MapData") -> None:
        """Copy a :class:`mapgen.MapData` into match slot ``e`` (terrain, zone)."""
        self.height[e] = m.height
        self.material[e] = m.material
        self.building_hp[e] = m.building_hp
        self.zone_center[e] = m.zone_center
        self.zone_radius[e] = m.zone_radius
        self.smoke_cnt[e] = 0
        self.terrain_changed(e)

    def terrain_changed(self, e: int) -> None:
        """Recompute derived terrain layers of slot ``e`` after height/material edits."""
        mat, h = self.material[e], self.height[e]
        self.solid_h[e] = np.where(mapgen.BLOCKS_MOVE[mat], h, 0.0)
        # Foliage blocks sight even when drawn flat: give it a 3 m canopy.
        sh = np.where(mapgen.BLOCKS_SIGHT[mat], h, 0.0)
        sh = np.where(mat == mapgen.FOLIAGE, np.maximum(sh, 3.0), sh)
        self.sight_h[e] = sh
        self.sight_eff[e] = np.where(self.smoke_cnt[e] > 0, 1e9, sh)
        self.hazard[e] = np.where(mat == mapgen.LAVA, 1, np.where(mat == mapgen.WATER, -1, 0))

    def _reset_mechs(self, e: int, m: "mapgen.MapData") -> None:
        T = self.T
        cols = int(np.ceil(np.sqrt(T)))
        rows = int(np.ceil(T / cols))
        spacing = min(4.0, 2.0 * m.spawn_half / max(cols, rows))
        k = np.arange(T)
        gx = (k % cols - (cols - 1) / 2.0) * spacing
        gy = (k // cols - (rows - 1) / 2.0) * spacing
        for team, centre in ((0, m.spawn_blue), (1, m.spawn_red)):
            sl = slice(team * T, (team + 1) * T)
            sign = 1.0 if team == 0 else -1.0
            self.pos[e, sl, 0] = centre[0] + sign * gx
            self.pos[e, sl, 1] = centre[1] + sign * gy
            self.pos[e, sl, 2] = 0.0
            d = m.zone_center - centre
            self.yaw[e, sl] = np.arctan2(d[1], d[0])

    def _reset_state(self, envs: np.ndarray) -> None:
        e = np.asarray(envs, dtype=np.int64)
        self.vel[e] = 0.0
        self.hp[e] = self.max_hp
        self.leg_hp[e] = self.max_leg
        self.heat[e] = 0.0
        self.stability[e] = self.max_stab
        self.alive[e] = True
        for a in (self.shutdown, self.vent):
            a[e] = False
        for a in (self.fallen_t, self.suppress_t, self.under_fire_t, self.ams_cd, self.cd, self.paint_t):
            a[e] = 0.0
        self.last_dmg_t[e] = -1e9
        self.last_paint_t[e] = -1e9
        for a in (self.ewar, self.sort_mode, self.hostile_only, self.step_count, self.tick, self.smoke_parity):
            a[e] = 0
        self.comm[e] = 0.0
        self.focus[e] = -1
        self.score[e] = 0.0
        self.death_pos[e] = np.nan
        self.p_active[e] = False
        self.smoke_t[e] = 0.0
        self.smoke_cells[e] = -1
        self.smoke_on[e] = False
        self.stats[e] = 0.0
        self.stats[e, ST["first_zone_entry_step"]] = -1
        self.agent_stats[e] = 0.0
        self.damage_heatmap[e] = 0.0

    # ------------------------------------------------------------------ helpers
    def _cells(self, x: np.ndarray, y: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Flat [E*X*Y] cell index of points (x, y) in matches ``e`` (clipped to the map)."""
        # Clamp as floats then truncate (== floor on the clamped, non-negative values).
        cx = np.minimum(np.maximum(x, 0.0), self.X - 1).astype(np.int64)
        cy = np.minimum(np.maximum(y, 0.0), self.Y - 1).astype(np.int64)
        cx *= self.Y
        cx += cy
        cx += e * (self.X * self.Y)
        return cx

    def _event(self, kind: int, e, weapon, shooter, target, x, y, damage=0.0, rear=False, leg=False, painted=False) -> None:
        if not self.cfg.record_events:
            return
        n = len(e)
        if n == 0:
            return
        start = self.num_events
        room = len(self.events) - start
        if n > room:
            self.events_dropped += n - room
            n = room
        ev = self.events[start:start + n]
        ev["env"] = e[:n]
        ev["kind"] = kind if np.isscalar(kind) else kind[:n]
        ev["weapon"] = weapon if np.isscalar(weapon) else weapon[:n]
        ev["shooter"] = shooter if np.isscalar(shooter) else shooter[:n]
        ev["target"] = target if np.isscalar(target) else target[:n]
        ev["x"] = x[:n]
        ev["y"] = y[:n]
        ev["damage"] = damage if np.isscalar(damage) else damage[:n]
        ev["rear"] = rear if np.isscalar(rear) else rear[:n]
        ev["leg"] = leg if np.isscalar(leg) else leg[:n]
        ev["painted"] = painted if np.isscalar(painted) else painted[:n]
        self.num_events = start + n

    def _team_stat(self, name: str, e: np.ndarray, team: np.ndarray, value) -> None:
        col = ST[f"{name}_blue"] + team  # _blue and _red are adjacent columns
        np.add.at(self.stats, (e, col), value)

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """Advance every match one decision step (``decision_repeat`` substeps) using ``act_*``.

        Fills reward, reward_parts, died, env_done, env_truncated, end_reason, winner, stats,
        events. Does not observe or reset (the vector env does both).
        """
        cfg = self.cfg
        self.num_events = 0
        np.copyto(self.alive_before, self.alive)
        self.reward_parts[...] = 0.0
        self.died[...] = False
        alive = self.alive
        # Decision-level actions.
        self.ewar[...] = np.where(self.has_ewar[None] & alive, self.act_ewar, 0)
        np.copyto(self.sort_mode, self.act_sort)
        np.copyto(self.hostile_only, self.act_hostile)
        np.copyto(self.comm, np.where(alive[..., None], self.act_comm, 0.0))
        np.logical_and(self.act_trigger[..., S.VENT_TRIGGER], alive, out=self.vent)
        slot = self.act_target - 1
        picked = np.take_along_axis(self.contact_ids, np.clip(slot, 0, MAX_CONTACTS - 1)[..., None], 2)[..., 0]
        self.focus[...] = np.where(slot >= 0, picked, -1)
        phi0 = self._potential()
        self._geometry()

        for _ in range(cfg.decision_repeat):
            self._substep()
        self.step_count += 1

        self._zone()
        w = cfg.rewards
        phi1 = self._potential()
        self.reward_parts[..., RP["approach"]] = w.approach * (w.approach_gamma * phi1 - phi0)
        self._check_end()
        # Dead agents get nothing after their death step, except the outcome at the end.
        self.reward_parts[..., :RP["outcome"]] *= self.alive_before[..., None]
        self.reward_parts[..., RP["outcome"]] = 0.0
        ended = self.env_done
        if ended.any():
            sign = np.where(self.winner[:, None] == 2, 0.0, np.where(self.winner[:, None] == self.team[None], 1.0, -1.0))
            self.reward_parts[..., RP["outcome"]] = w.outcome * sign * ended[:, None]
        self.reward[...] = self.reward_parts.sum(axis=2)
        self.agent_stats[..., AS["reward"]] += self.reward
        self._step_stats()

    def _potential(self) -> np.ndarray:
        d = np.hypot(self.pos[..., 0] - self.zone_center[:, None, 0], self.pos[..., 1] - self.zone_center[:, None, 1])
        return -d / self.map_size

    def _substep(self) -> None:
        dt = self.dt
        alive = self.alive
        self._update_shutdown()
        can_act = alive & ~self.shutdown & (self.fallen_t <= 0)
        time = self.tick * dt  # [E] seconds since match start
        self._move(can_act)
        self._geometry()
        self._hits = []
        self._projectiles()
        self._fire(can_act & ~self.vent, time)
        self._resolve(time)
        self._heat_and_timers(can_act)
        self.tick += 1

    # ------------------------------------------------------------------ movement
    def _move(self, can_act: np.ndarray) -> None:
        dt = self.dt
        mv = self.act_move
        E = self.E
        alive = self.alive
        eidx = np.arange(E)[:, None]
        self.yaw += mv[..., 3] * self.yaw_rate * dt * can_act
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        fwd, strafe = mv[..., 0], mv[..., 1]
        norm = np.maximum(1.0, np.hypot(fwd, strafe))
        feet = self._cells(self.pos[..., 0], self.pos[..., 1], eidx)
        ground = np.take(self.solid_h, feet)
        on_ground = self.pos[..., 2] <= ground + 0.05
        hz = np.take(self.hazard, feet) * on_ground
        mult = (np.where(self.leg_hp <= 0, S.LEGGED_SPEED, 1.0) * np.where(self.vent, S.VENT_SPEED, 1.0)
                * np.where(hz < 0, S.WATER_SPEED, 1.0) * np.where(self.suppress_t > 0, S.SUPPRESS_SPEED, 1.0))
        sp = self.speed * mult * can_act / norm
        vx = (fwd * c - strafe * s) * sp
        vy = (fwd * s + strafe * c) * sp
        x0, y0, z = self.pos[..., 0], self.pos[..., 1], self.pos[..., 2]
        r = self.radius
        nx = _clamp(x0 + vx * dt, r, self.X - r)
        probe_x = nx + np.sign(vx) * r * 0.9
        blocked_x = np.take(self.solid_h, self._cells(probe_x, y0, eidx)) > z + S.STEP_HEIGHT
        nx = np.where(blocked_x, x0, nx)
        ny = _clamp(y0 + vy * dt, r, self.Y - r)
        probe_y = ny + np.sign(vy) * r * 0.9
        blocked_y = np.take(self.solid_h, self._cells(nx, probe_y, eidx)) > z + S.STEP_HEIGHT
        ny = np.where(blocked_y, y0, ny)
        # Mech-mech: push pairs that overlapped at the end of the last substep apart by half the
        # overlap each (penetration is resolved one substep late; saves a pair pass per substep).
        pe, pi, pj = np.nonzero(self._dxy < self._rsum)  # each touching pair twice: (i, j), (j, i)
        if len(pe):
            both = alive[pe, pi] & alive[pe, pj]
            pe, pi, pj = pe[both], pi[both], pj[both]
            gap = self._dxy[pe, pi, pj]
            push = 0.5 * (self._rsum[pi, pj] - gap) / np.maximum(gap, 1e-6)
            # Sum the pushes per mech with bincount (much cheaper than np.add.at).
            flat = pe * self.M + pi
            n = E * self.M
            px = nx - np.bincount(flat, push * self._dx[pe, pi, pj], n).reshape(E, self.M)
            py = ny - np.bincount(flat, push * self._dy[pe, pi, pj], n).reshape(E, self.M)
            px = _clamp(px, r, self.X - r)
            py = _clamp(py, r, self.Y - r)
            ok = np.take(self.solid_h, self._cells(px, py, eidx)) <= z + S.STEP_HEIGHT
            nx = np.where(ok, px, nx)
            ny = np.where(ok, py, ny)
        # Vertical: jets lift jumpers, gravity pulls everything else down onto the columns.
        jets = self.jumper & can_act & (mv[..., 2] > 0) & (z < S.JUMP_MAX_Z)
        vz = np.where(jets, S.JUMP_SPEED * mv[..., 2], self.vel[..., 2] - S.GRAVITY * dt)
        nz = z + vz * dt
        g = np.take(self.solid_h, self._cells(nx, ny, eidx))
        landed = nz <= g
        nz = np.where(landed, g, nz)
        vz = np.where(landed, 0.0, vz)
        self.heat += jets * S.JUMP_HEAT * dt
        live = alive
        self.vel[..., 0] = np.where(live, (nx - x0) / dt, 0.0)
        self.vel[..., 1] = np.where(live, (ny - y0) / dt, 0.0)
        self.vel[..., 2] = np.where(live, vz, 0.0)
        self.pos[..., 0] = np.where(live, nx, x0)
        self.pos[..., 1] = np.where(live, ny, y0)
        self.pos[..., 2] = np.where(live, nz, z)

    def _geometry(self) -> None:
        """Pair geometry after movement, float32 ``[E, i, j]``: ``_dx, _dy`` (j - i), ``_dxy``
        (horizontal distance, +inf on the diagonal) and ``_d`` (3D distance, +inf on the diagonal)."""
        x = self.pos[..., 0].astype(np.float32)
        y = self.pos[..., 1].astype(np.float32)
        self._dx = x[:, None, :] - x[:, :, None]
        self._dy = y[:, None, :] - y[:, :, None]
        d2 = self._dx * self._dx
        d2 += self._dy * self._dy
        self._dxy = np.sqrt(d2)
        self._dxy += self._diag_inf
        z = self.pos[..., 2]
        if (z != 0).any():
            zf = z.astype(np.float32)
            dz = zf[:, None, :] - zf[:, :, None]
            d2 += dz * dz
            self._d = np.sqrt(d2)
            self._d += self._diag_inf
        else:
            self._d = self._dxy
        self._c, self._s = np.cos(self.yaw), np.sin(self.yaw)

    def _cos_to_all(self) -> np.ndarray:
        """Cosine between the heading of mech (e, i) and the direction to mech j: [E, i, j] float64.

        Computed for the whole batch: cheaper than gathering dx, dy, dxy rows per firing slot."""
        return (self._dx * self._c[..., None] + self._dy * self._s[..., None]) / np.maximum(self._dxy, 1e-6)

    # ------------------------------------------------------------------ weapons
    def _fire(self, fire_ok: np.ndarray, time: np.ndarray) -> None:
        """Pick targets and fire every slot whose trigger is held, all slots in one pass over the
        K (match, mech, slot) triples that want to fire ([K, M] arrays)."""
        M = self.M
        want = (self.act_trigger[..., _SLOT_TRIGGER] & fire_ok[..., None] & (self.cd <= _READY)
                & (self.weapon != S.NO_WEAPON)[None])
        fe, fm, fs = np.nonzero(want)
        if len(fe) == 0:
            return
        fw = self.weapon[fm, fs]
        d = self._d[fe, fm]  # [K, M]
        enemy_alive = self.enemy[fm] & self.alive[fe]
        V = (enemy_alive & self.los[fe, fm] & (d <= S.W_RANGE[fw][:, None])
             & (self._cos_to_all()[fe, fm] >= S.W_COS_ARC[fw][:, None]))
        smoke = fw == S.SMOKE
        if smoke.any():
            V[smoke] = enemy_alive[smoke] & (d[smoke] <= S.W_RANGE[S.SMOKE])
        missile = fw == S.MISSILE
        if missile.any():
            # Pack paint lock: a target painted by my pack within LOCK_RANGE, no sight needed.
            k = np.nonzero(missile)[0]
            painted = self.paint_t[fe[k], :, self.pack[fm[k]]] > 0  # [k, M]
            lock = painted & enemy_alive[k] & (d[k] <= S.LOCK_RANGE) & (self.quality[fe[k], fm[k]] >= S.LOCK_QUALITY)[:, None]
            V[k] |= lock
        focus = self.focus[fe, fm]
        K = np.arange(len(fe))
        focus_ok = (focus >= 0) & V[K, np.clip(focus, 0, M - 1)]
        dm = np.where(V, d, np.inf)
        near = np.argmin(dm, axis=1)
        has = np.isfinite(dm[K, near])
        ft = np.where(focus_ok, focus, np.where(has, near, -1))
        fire = (ft >= 0) | smoke
        if not fire.any():
            return
        fe, fm, fs, fw, ft = fe[fire], fm[fire], fs[fire], fw[fire], ft[fire]
        self.cd[fe, fm, fs] = S.W_COOLDOWN[fw]
        np.add.at(self.heat, (fe, fm), S.W_HEAT[fw])
        self._team_stat("shots", fe, self.team[fm], 1.0)
        hitscan = S.W_SPEED[fw] == 0
        leg_u = hash_uniform(self.key[fe], self.tick[fe], _R_LEG, fm * 4 + fs)
        h = hitscan & (S.W_DAMAGE[fw] > 0)
        if h.any():
            self._hits.append((fe[h], fm[h], ft[h], fw[h], S.W_DAMAGE[fw[h]], leg_u[h] < S.W_LEG[fw[h]], True, 0))
        pr = ~hitscan
        if pr.any():
            self._spawn(fe[pr], fm[pr], ft[pr], fw[pr], leg_u[pr])
        pt = fw == S.PAINTER
        if pt.any():
            self._pending_paint.append((fe[pt], fm[pt], ft[pt]))
        sm = fw == S.SMOKE
        if sm.any():
            self._deploy_smoke(fe[sm], fm[sm], ft[sm])

    def _spawn(self, e, m, t, w, leg_u) -> None:
        """Put new projectiles into free pool slots of their match (dropped and counted when full)."""
        order = np.argsort(self.p_active, axis=1, kind="stable")  # free (False) slots first
        nfree = (~self.p_active).sum(1)
        srt = np.argsort(e, kind="stable")
        e, m, t, w, leg_u = e[srt], m[srt], t[srt], w[srt], leg_u[srt]
        first = np.searchsorted(e, e, side="left")
        rank = np.arange(len(e)) - first
        ok = rank < nfree[e]
        if not ok.all():
            self._team_stat("projectiles_dropped", e[~ok], self.team[m[~ok]], 1.0)
            e, m, t, w, leg_u, rank = e[ok], m[ok], t[ok], w[ok], leg_u[ok], rank[ok]
        p = order[e, rank]
        self.p_active[e, p] = True
        start = self.pos[e, m].copy()
        start[:, 2] += S.CLS_SIZE[self.cls[m]] * 0.6
        self.p_pos[e, p] = start
        self.p_origin[e, p] = self.pos[e, m]
        self.p_aim[e, p] = self.pos[e, t]
        self.p_weapon[e, p] = w
        self.p_shooter[e, p] = m
        self.p_target[e, p] = t
        self.p_leg[e, p] = leg_u
        ms = w == S.MISSILE
        if ms.any():
            self._team_stat("missile_launches", e[ms], self.team[m[ms]], 1.0)
            self._event(EV["missile_launch"], e[ms], S.MISSILE, m[ms], t[ms], self.pos[e[ms], m[ms], 0], self.pos[e[ms], m[ms], 1])

    def _deploy_smoke(self, e, m, t) -> None:
        target_pos = self.pos[e, np.where(t >= 0, t, m), :2]
        slot = 2 * m + self.smoke_parity[e, m]
        self.smoke_parity[e, m] ^= 1
        old = self.smoke_t[e, slot] > 0
        if old.any():
            self._unstamp(e[old], slot[old])
        self.smoke_t[e, slot] = S.SMOKE_S
        self.smoke_pos[e, slot] = target_pos
        cx = np.floor(target_pos[:, 0]).astype(np.int64)[:, None] + self._disc[None, :, 0]
        cy = np.floor(target_pos[:, 1]).astype(np.int64)[:, None] + self._disc[None, :, 1]
        inside = (cx >= 0) & (cx < self.X) & (cy >= 0) & (cy < self.Y)
        flat = np.where(inside, (e[:, None] * self.X + cx) * self.Y + cy, -1)
        self.smoke_cells[e, slot] = flat
        self.smoke_on[e, slot] = True
        cells = flat[inside]
        np.add.at(self.smoke_cnt.reshape(-1), cells, 1)
        self.sight_eff.reshape(-1)[cells] = 1e9
        self._event(EV["smoke"], e, S.SMOKE, m, t, target_pos[:, 0], target_pos[:, 1])

    def _unstamp(self, e, slot) -> None:
        flat = self.smoke_cells[e, slot]
        cells = flat[flat >= 0]
        np.add.at(self.smoke_cnt.reshape(-1), cells, -1)
        cnt = self.smoke_cnt.reshape(-1)[cells]
        self.sight_eff.reshape(-1)[cells] = np.where(cnt > 0, 1e9, self.sight_h.reshape(-1)[cells])
        self.smoke_cells[e, slot] = -1
        self.smoke_on[e, slot] = False

    def _projectiles(self) -> None:
        pe, pp = np.nonzero(self.p_active)
        if len(pe) == 0:
            return
        dt = self.dt
        w = self.p_weapon[pe, pp]
        tgt = self.p_target[pe, pp]
        shooter = self.p_shooter[pe, pp]
        tgt_alive = self.alive[pe, tgt]
        missile = w == S.MISSILE
        aim = self.p_aim[pe, pp]
        home = missile & tgt_alive
        if home.any():
            aim[home] = self.pos[pe[home], tgt[home]]
            self.p_aim[pe[home], pp[home]] = aim[home]
        # AMS: each ready living heavy of the target's side tries one missile within range.
        if missile.any():
            me, mp, mk = pe[missile], pp[missile], np.nonzero(missile)[0]
            mpos = self.p_pos[me, mp]
            dd = np.linalg.norm(self.pos[me] - mpos[:, None, :], axis=2)  # [K, M]
            elig = (self.has_ams[None] & self.alive[me] & (self.ams_cd[me] <= _READY) & (dd <= S.AMS_RANGE)
                    & (self.team[None] != self.team[shooter[missile]][:, None]))
            anyk = elig.any(1)
            if anyk.any():
                k = np.nonzero(anyk)[0]
                heavy = np.argmax(elig[k], axis=1)
                key = me[k] * self.M + heavy
                _, first = np.unique(key, return_index=True)
                k, heavy = k[first], heavy[first]
                ke, kp = me[k], mp[k]
                self.ams_cd[ke, heavy] = S.AMS_COOLDOWN
                self._team_stat("ams_attempts", ke, self.team[heavy], 1.0)
                u = hash_uniform(self.key[ke], self.tick[ke], _R_AMS, kp)
                kill = u < S.AMS_PROB
                if kill.any():
                    ke2, kp2, h2 = ke[kill], kp[kill], heavy[kill]
                    self.p_active[ke2, kp2] = False
                    self._team_stat("ams_intercepts", ke2, self.team[h2], 1.0)
                    xy = self.p_pos[ke2, kp2]
                    self._event(EV["ams_intercept"], ke2, S.MISSILE, h2, self.p_shooter[ke2, kp2], xy[:, 0], xy[:, 1])
                    still = np.ones(len(pe), bool)
                    still[mk[k[kill]]] = False
                    pe, pp, w, tgt, shooter, aim = pe[still], pp[still], w[still], tgt[still], shooter[still], aim[still]
        pos = self.p_pos[pe, pp]
        vec = aim - pos
        dist = np.linalg.norm(vec, axis=1)
        step = S.W_SPEED[w] * dt
        arrive = dist <= step
        frac = np.where(arrive, 1.0, step / np.maximum(dist, 1e-9))
        self.p_pos[pe, pp] = pos + vec * frac[:, None]
        if not arrive.any():
            return
        ae, ap, aw, at, ash, aaim = pe[arrive], pp[arrive], w[arrive], tgt[arrive], shooter[arrive], aim[arrive]
        self.p_active[ae, ap] = False
        tpos = self.pos[ae, at]
        hit = self.alive[ae, at] & (np.linalg.norm(tpos[:, :2] - aaim[:, :2], axis=1) <= self.radius[at] + S.PROJECTILE_HIT_SLACK)
        legs = self.p_leg[ae, ap] < S.W_LEG[aw]
        if hit.any():
            self._hits.append((ae[hit], ash[hit], at[hit], aw[hit], S.W_DAMAGE[aw[hit]], legs[hit], True, 1,
                               self.p_origin[ae[hit], ap[hit]]))
        sp = S.W_SPLASH[aw] > 0
        if sp.any():
            se, ss, st, sw, sxy = ae[sp], ash[sp], at[sp], aw[sp], aaim[sp]
            self._damage_buildings(se, sxy, S.W_SPLASH[sw], S.W_DAMAGE[sw])
            dd = np.linalg.norm(self.pos[se, :, :2] - sxy[:, None, :2], axis=2)  # [K, M]
            # Splash reaches every body whose edge is within the radius.
            victims = self.alive[se] & (dd <= S.W_SPLASH[sw][:, None] + self.radius[None, :])
            victims[np.arange(len(se)), st] = False
            victims[np.arange(len(se)), ss] = False
            if not self.cfg.friendly_fire:
                victims &= self.team[None] != self.team[ss][:, None]
            k, v = np.nonzero(victims)
            if len(k):
                self._hits.append((se[k], ss[k], v, sw[k], S.W_DAMAGE[sw[k]] * S.W_SPLASH_FRAC[sw[k]],
                                   np.zeros(len(k), bool), False, 1))

    def _damage_buildings(self, e: np.ndarray, xy: np.ndarray, radius: np.ndarray, damage: np.ndarray) -> None:
        """Blast damage to destructible building columns within ``radius`` of each impact; a column
        at 0 HP collapses to open ground (its match's derived terrain layers are recomputed)."""
        r = int(np.ceil(radius.max()))
        off = np.arange(-r, r + 1)
        ox, oy = np.meshgrid(off, off, indexing="ij")
        cx = np.floor(xy[:, 0]).astype(np.int64)[:, None] + ox.ravel()[None]
        cy = np.floor(xy[:, 1]).astype(np.int64)[:, None] + oy.ravel()[None]
        near = ((cx + 0.5 - xy[:, :1]) ** 2 + (cy + 0.5 - xy[:, 1:2]) ** 2 <= radius[:, None] ** 2)
        near &= (cx >= 0) & (cx < self.X) & (cy >= 0) & (cy < self.Y)
        k, j = np.nonzero(near)
        ee, xx, yy = e[k], cx[k, j], cy[k, j]
        bld = self.material[ee, xx, yy] == mapgen.BUILDING
        if not bld.any():
            return
        ee, xx, yy, dmg = ee[bld], xx[bld], yy[bld], damage[k[bld]]
        np.add.at(self.building_hp, (ee, xx, yy), -dmg)
        down = self.building_hp[ee, xx, yy] <= 0
        if down.any():
            self.material[ee[down], xx[down], yy[down]] = mapgen.GROUND
            self.height[ee[down], xx[down], yy[down]] = 0.0
            self.building_hp[ee[down], xx[down], yy[down]] = 0.0
            for env in np.unique(ee[down]).tolist():
                self.terrain_changed(env)

    def _resolve(self, time: np.ndarray) -> None:
        """Apply every hit of this substep at once (simultaneous resolution), then deaths."""
        E, M = self.E, self.M
        pend = self._pending_paint
        dmg_in = np.zeros((E, M))
        hits = self._hits
        if hits:
            # One pass over every hit of the substep: concatenate the groups (hitscan, projectile
            # direct hits, splash) and apply them together.
            e, s, t, w, base, leg = (np.concatenate([h[i] for h in hits]) for i in range(6))
            direct = np.concatenate([np.full(len(h[0]), h[6]) for h in hits])
            is_proj = np.concatenate([np.full(len(h[0]), h[7]) for h in hits])
            origin = np.concatenate([h[8] if len(h) > 8 else self.pos[h[0], h[1]] for h in hits])
            tp = self.pos[e, t]
            dx, dy = tp[:, 0] - origin[:, 0], tp[:, 1] - origin[:, 1]
            yaw = self.yaw[e, t]
            rear = direct & ((np.cos(yaw) * dx + np.sin(yaw) * dy) > S.REAR_COS * np.hypot(dx, dy))
            painted = self.paint_t[e, t, self.pack[s]] > 0
            dmg = base * np.where(rear, S.REAR_MULT, 1.0) * np.where(painted, 1.0 + S.PAINT_BONUS, 1.0)
            np.add.at(dmg_in, (e, t), dmg)
            np.add.at(self.leg_hp, (e, t), -dmg * leg)
            np.add.at(self.heat, (e, t), S.W_TARGET_HEAT[w] * direct)
            np.add.at(self.stability, (e, t), -S.W_STAB[w] * np.where(direct, 1.0, S.W_SPLASH_FRAC[w]))
            sup = S.W_SUPPRESS[w] > 0
            if sup.any():
                self.suppress_t[e[sup], t[sup]] = np.maximum(self.suppress_t[e[sup], t[sup]], S.W_SUPPRESS[w[sup]])
            np.add.at(self._dmg_pair, (e, s, t), dmg)
            self.under_fire_t[e, t] = S.UNDER_FIRE_S
            self.last_dmg_t[e, t, s] = time[e]
            credit = dmg * self.enemy[s, t]
            np.add.at(self.agent_stats, (e, s, AS["damage_dealt"]), credit)
            np.add.at(self.agent_stats, (e, t, AS["damage_taken"]), dmg)
            np.add.at(self.agent_stats, (e, t, AS["enemy_damage_taken"]), credit)
            np.add.at(self.reward_parts, (e, s, RP["damage"]), self.cfg.rewards.damage * credit)
            self._team_stat("damage", e, self.team[s], credit)
            bx = np.minimum((tp[:, 0] * (HEATMAP_BINS / self.X)).astype(np.int64), HEATMAP_BINS - 1)
            by = np.minimum((tp[:, 1] * (HEATMAP_BINS / self.Y)).astype(np.int64), HEATMAP_BINS - 1)
            np.add.at(self.damage_heatmap, (e, bx, by), dmg)
            kind = np.where(is_proj, EV["projectile_hit"], EV["laser_hit"])
            self._event(kind, e, w, s, t, tp[:, 0], tp[:, 1], dmg, rear, leg, painted)
        # Paint after damage so this substep's paints do not boost this substep's hits.
        for pe, pm, pt in pend:
            self.paint_t[pe, pt, self.pack[pm]] = S.PAINT_S
            self.last_paint_t[pe, pt, pm] = time[pe]
            self._team_stat("paints", pe, self.team[pm], 1.0)
            self._event(EV["paint"], pe, S.PAINTER, pm, pt, self.pos[pe, pt, 0], self.pos[pe, pt, 1])
        self._pending_paint = []
        # Lava burns whoever stands in it (hazard damage, no shooter).
        eidx = np.arange(E)[:, None]
        feet = self._cells(self.pos[..., 0], self.pos[..., 1], eidx)
        on_ground = self.pos[..., 2] <= np.take(self.solid_h, feet) + 0.05
        self._hz = np.take(self.hazard, feet) * on_ground * self.alive
        lava = self._hz > 0
        dmg_in += lava * S.LAVA_DPS * self.dt
        self.agent_stats[..., AS["damage_taken"]] += lava * S.LAVA_DPS * self.dt
        self.hp -= dmg_in
        np.maximum(self.leg_hp, 0.0, out=self.leg_hp)
        dying = self.alive & (self.hp <= 0)
        if dying.any():
            self._deaths(dying, time)
        if hits:
            # Clear only the (match, shooter, target) cells this substep wrote (kill credit reads them).
            self._dmg_pair[e, s, t] = 0.0

    def _deaths(self, dying: np.ndarray, time: np.ndarray) -> None:
        w = self.cfg.rewards
        de, dv = np.nonzero(dying)
        pair = self._dmg_pair[de, :, dv]  # [K, attacker]
        killer = np.argmax(pair, axis=1)
        killer = np.where(pair[np.arange(len(de)), killer] > 0, killer, -1)
        self.alive[de, dv] = False
        self.died[de, dv] = True
        self.hp[de, dv] = 0.0
        self.vel[de, dv] = 0.0
        self.shutdown[de, dv] = False
        self.death_pos[de, dv] = self.pos[de, dv, :2]
        self.reward_parts[de, dv, RP["death"]] += w.death
        self._team_stat("deaths", de, self.team[dv], 1.0)
        valid = (killer >= 0) & self.enemy[np.maximum(killer, 0), dv]
        if valid.any():
            ke, kk = de[valid], killer[valid]
            np.add.at(self.reward_parts, (ke, kk, RP["kill"]), w.kill)
            np.add.at(self.agent_stats, (ke, kk, AS["kills"]), 1.0)
            self._team_stat("kills", ke, self.team[kk], 1.0)
        # Assists: once per kill to every enemy of the victim (other than the killer) who
        # damaged or painted it within the last ASSIST_WINDOW seconds.
        tw = (time[de] - S.ASSIST_WINDOW)[:, None]
        recent = (self.last_dmg_t[de, dv] >= tw) | (self.last_paint_t[de, dv] >= tw)
        recent &= self.enemy[dv] & (np.arange(self.M)[None] != killer[:, None])
        k, a = np.nonzero(recent)
        if len(k):
            np.add.at(self.reward_parts, (de[k], a, RP["assist"]), w.assist)
            np.add.at(self.agent_stats, (de[k], a, AS["assists"]), 1.0)
            self._team_stat("assists", de[k], self.team[a], 1.0)
        self._event(EV["kill"], de, -1, killer, dv, self.pos[de, dv, 0], self.pos[de, dv, 1])

    def _update_shutdown(self) -> None:
        """Shut down above the heat cap; restart once cooled back under it (start of a substep)."""
        alive = self.alive
        was = self.shutdown.copy()
        self.shutdown[...] = alive & np.where(was, self.heat >= self.heat_cap, self.heat > self.heat_cap)
        new_sd = self.shutdown & ~was
        if new_sd.any():
            e, m = np.nonzero(new_sd)
            self._team_stat("shutdowns", e, self.team[m], 1.0)
            self._event(EV["shutdown"], e, -1, -1, m, self.pos[e, m, 0], self.pos[e, m, 1])

    def _heat_and_timers(self, can_act: np.ndarray) -> None:
        dt = self.dt
        alive = self.alive
        hz = self._hz
        cool = self.cooling * np.where(self.vent, S.VENT_COOLING, 1.0) + (hz < 0) * S.WATER_COOLING
        gain = (hz > 0) * S.LAVA_HEAT + (self.ewar == 1) * S.ECM_HEAT + (self.ewar == 2) * S.ECCM_HEAT
        self.heat += (gain - cool) * dt * alive
        np.maximum(self.heat, 0.0, out=self.heat)
        # Knockdown when stability is gone; stability refills while down.
        fallen = self.fallen_t > 0
        knock = alive & (self.stability <= 0) & ~fallen
        if knock.any():
            e, m = np.nonzero(knock)
            self.fallen_t[e, m] = S.KNOCKDOWN_S
            self._team_stat("knockdowns", e, self.team[m], 1.0)
            self._event(EV["knockdown"], e, -1, -1, m, self.pos[e, m, 0], self.pos[e, m, 1])
        self.stability[...] = np.where(knock, self.max_stab, np.minimum(self.stability + S.STABILITY_REGEN * dt, self.max_stab))
        self.cd -= dt
        np.maximum(self.cd, 0.0, out=self.cd)
        for a in (self.fallen_t, self.suppress_t, self.under_fire_t, self.ams_cd, self.paint_t, self.smoke_t):
            self._tick_down(a, dt, knock)
        gone = self.smoke_on & (self.smoke_t <= 0)
        if gone.any():
            e, sl = np.nonzero(gone)
            self._unstamp(e, sl)

    def _tick_down(self, a: np.ndarray, dt: float, knock: np.ndarray) -> None:
        if a is self.fallen_t:
            # A knockdown that starts this substep lasts the full KNOCKDOWN_S from the next one.
            a -= dt * ~knock
        else:
            a -= dt
        np.maximum(a, 0.0, out=a)

    # ------------------------------------------------------------------ zone, end, stats
    def _zone(self) -> None:
        cfg = self.cfg
        step_s = cfg.step_seconds
        d = np.hypot(self.pos[..., 0] - self.zone_center[:, None, 0], self.pos[..., 1] - self.zone_center[:, None, 1])
        inside = self.alive & (d <= self.zone_radius[:, None])
        self.in_zone = inside
        blue = (inside * self.tons * (self.team == 0)).sum(1)
        red = (inside * self.tons * (self.team == 1)).sum(1)
        tot = np.maximum(blue + red, 1e-9)
        contested = (blue > 0) & (red > 0)
        margin_b = (blue - red) / tot
        tick_b = np.where(contested, 0.25 + 0.75 * np.maximum(0.0, margin_b), (blue > 0) * 1.0)
        tick_r = np.where(contested, 0.25 + 0.75 * np.maximum(0.0, -margin_b), (red > 0) * 1.0)
        ticks = np.stack([tick_b, tick_r], 1)  # [E, 2]
        self.zone_ticks = ticks
        self.score += ticks * step_s
        self.reward_parts[..., RP["zone"]] = cfg.rewards.zone * ticks[:, self.team] * inside
        self.stats[:, ST["zone_ticks_blue"]] += tick_b
        self.stats[:, ST["zone_ticks_red"]] += tick_r
        self.stats[:, ST["contested_ticks"]] += contested
        fz = self.stats[:, ST["first_zone_entry_step"]]
        first = (fz < 0) & inside.any(1)
        fz[first] = self.step_count[first]
        self.stats[:, ST["first_zone_entry_step"]] = fz

    def _check_end(self) -> None:
        """Zone win, then elimination, then time limit (truncation)."""
        self.env_done[...] = False
        self.env_truncated[...] = False
        self.end_reason[...] = 0
        self.winner[...] = -1
        s = self.score
        zone_win = (s >= self.win_score - 1e-9).any(1)
        zw = np.where(s[:, 0] > s[:, 1], 0, np.where(s[:, 1] > s[:, 0], 1, 2))
        alive_b = (self.alive & (self.team == 0)).any(1)
        alive_r = (self.alive & (self.team == 1)).any(1)
        elim = ~(alive_b & alive_r) & ~zone_win
        ew = np.where(alive_b & ~alive_r, 0, np.where(alive_r & ~alive_b, 1, 2))
        timeout = (self.step_count >= self.cfg.max_steps) & ~zone_win & ~elim
        hp_b = (self.hp * self.alive * (self.team == 0)).sum(1)
        hp_r = (self.hp * self.alive * (self.team == 1)).sum(1)
        tw = np.where(s[:, 0] > s[:, 1], 0, np.where(s[:, 1] > s[:, 0], 1,
                      np.where(hp_b > hp_r, 0, np.where(hp_r > hp_b, 1, 2))))
        self.end_reason[...] = np.where(zone_win, 1, np.where(elim, 2, np.where(timeout, 3, 0)))
        self.winner[...] = np.where(zone_win, zw, np.where(elim, ew, np.where(timeout, tw, -1)))
        self.env_done[...] = zone_win | elim | timeout
        self.env_truncated[...] = timeout

    def _step_stats(self) -> None:
        """Per-decision-step match statistics (dispersion, contacts, EWAR, filters)."""
        alive = self.alive
        tm = self.team
        st = self.stats
        for team in (0, 1):
            sfx = "_blue" if team == 0 else "_red"
            mine = alive & (tm == team)
            st[:, ST["visible_contacts_sum" + sfx]] += (self.n_contacts * mine).sum(1)
            st[:, ST["visible_contacts_count" + sfx]] += mine.sum(1)
            st[:, ST["hostile_filter_on_count" + sfx]] += ((self.hostile_only > 0) & mine).sum(1)
            scouts = mine & self.has_ewar
            st[:, ST["ecm_on_ticks" + sfx]] += ((self.ewar == 1) & scouts).sum(1)
            st[:, ST["eccm_on_ticks" + sfx]] += ((self.ewar == 2) & scouts).sum(1)
            st[:, ST["scout_ticks" + sfx]] += scouts.sum(1)
        # Pack dispersion: mean distance of living pack members to their centroid, per pack.
        onehot = (self.pack[None, :] == np.arange(self.num_packs)[:, None]).astype(np.float64)  # [K, M]
        w = alive[:, None, :] * onehot[None]  # [E, K, M]
        n = w.sum(2)
        cx = (w * self.pos[:, None, :, 0]).sum(2) / np.maximum(n, 1)
        cy = (w * self.pos[:, None, :, 1]).sum(2) / np.maximum(n, 1)
        spread = (w * np.hypot(self.pos[:, None, :, 0] - cx[..., None], self.pos[:, None, :, 1] - cy[..., None])).sum(2) / np.maximum(n, 1)
        zd = np.hypot(cx - self.zone_center[:, None, 0], cy - self.zone_center[:, None, 1])
        has = n > 0
        ppt = self.cfg.packs_per_team
        for team in (0, 1):
            sfx = "_blue" if team == 0 else "_red"
            sl = slice(team * ppt, (team + 1) * ppt)
            st[:, ST["pack_dispersion_sum" + sfx]] += (spread * has)[:, sl].sum(1)
            st[:, ST["pack_dispersion_count" + sfx]] += has[:, sl].sum(1)
            st[:, ST["centroid_zone_dist_sum" + sfx]] += (zd * has)[:, sl].sum(1)

    def outcome(self, e: int) -> dict:
        """The ENV_SPEC 'outcome' dict of match slot ``e`` (call before it is reset)."""
        st = {n: float(self.stats[e, i]) for i, n in enumerate(STAT_NAMES)}
        st["first_zone_entry_step"] = int(st["first_zone_entry_step"])
        ag = self.agent_stats[e]
        for team, sfx in ((0, "blue"), (1, "red")):
            # Damage this team dealt, per enemy mech (lava and friendly splash excluded).
            taken = ag[self.team != team, AS["enemy_damage_taken"]]
            tot = float(taken.sum())
            st[f"focus_fire_concentration_{sfx}"] = float(taken.max() / tot) if tot > 0 else 0.0
        hp = self.hp[e] * self.alive[e]
        agents = [
            {"id": int(m), "team": WINNERS[self.team[m]], "class": S.CLASS_NAMES[self.cls[m]], "alive": bool(self.alive[e, m]),
             "damage_dealt": float(ag[m, AS["damage_dealt"]]), "damage_taken": float(ag[m, AS["damage_taken"]]),
             "kills": int(ag[m, AS["kills"]]), "assists": int(ag[m, AS["assists"]]), "reward": float(ag[m, AS["reward"]])}
            for m in range(self.M)
        ]
        dead = ~np.isnan(self.death_pos[e, :, 0])
        return {
            "reason": END_REASONS[self.end_reason[e]],
            "winner": WINNERS[self.winner[e]] if self.winner[e] >= 0 else "none",
            "hp_blue": float(hp[self.team == 0].sum()),
            "hp_red": float(hp[self.team == 1].sum()),
            "zone_score_blue": float(self.score[e, 0]),
            "zone_score_red": float(self.score[e, 1]),
            "length": int(self.step_count[e]),
            "stats": st,
            "agents": agents,
            "death_positions": [(float(self.death_pos[e, m, 0]), float(self.death_pos[e, m, 1]), WINNERS[self.team[m]])
                                for m in np.nonzero(dead)[0]],
            "damage_heatmap": self.damage_heatmap[e].copy(),
            "map_size": (self.X, self.Y),
        }
