"""Batched struct-of-arrays simulation core of Echelon (ENV_SPEC is the rulebook).

One :class:`EchelonSim` holds ``E = num_envs`` matches of ``M = cfg.num_mechs`` mechs each and
steps all of them with NumPy ops over ``[E, M]`` / ``[E, M, M]`` arrays; no per-mech Python.
This module keeps the state and :meth:`EchelonSim.step`, which reads as the table of contents
of a step; the phases are plain functions over the sim in their own modules:

  :mod:`~echelon.env.movement` (turning, walking, collisions, jets; pair geometry),
  :mod:`~echelon.env.weapons` (targets, firing, smoke), :mod:`~echelon.env.projectiles`
  (pool, AMS, flight, splash, buildings), :mod:`~echelon.env.combat` (simultaneous hit
  resolution, paint, lava, deaths), :mod:`~echelon.env.heat` (heat, shutdown, knockdown,
  timers), :mod:`~echelon.env.zone` (zone points, end of match), :mod:`~echelon.env.stats`
  (step statistics, outcome report); names of reward parts, events and stats are in
  :mod:`~echelon.env.records`, counter-based randomness in :mod:`~echelon.env.rng`.

Mech index layout (same in every match): ``0 .. T-1`` blue, ``T .. 2T-1`` red with
``T = cfg.mechs_per_team``; inside a team, packs of five in :data:`specs.PACK_ROLES` order
(heavy, medium, medium, light, scout). Static per-mech arrays ``[M]``: ``team`` (0 blue,
1 red), ``pack`` (global pack id ``team * packs_per_team + p``), ``cls`` (class id),
``weapon [M, 4]`` (weapon id per slot), ``squad_ids [M, MAX_SQUAD]`` (pack mates).
The batch is allocated for its largest match; each match draws its own map side and packs at
reset (curriculum ranges ``size_range`` / ``packs_range``) and plays in a corner of the
allocation with its first packs: :mod:`~echelon.env.reset` describes that and the per-match
layout arrays (``match_x, match_y, match_side, match_packs [E]``, ``present, draw_id [E, M]``,
``p_cap [E]``).

State arrays (float64 unless noted; metres, seconds, radians):
  pos [E, M, 3] x, y, z (z = feet height) · vel [E, M, 3] · yaw [E, M] heading (forward =
  (cos yaw, sin yaw), left = (-sin yaw, cos yaw)) · hp, leg_hp, heat, stability [E, M] ·
  alive, shutdown, vent [E, M] bool · fallen_t, suppress_t, under_fire_t, ams_cd [E, M]
  seconds left · cd [E, M, 4] slot cooldowns (s) · paint_t [E, M, num_packs] seconds the mech
  stays painted by each pack · last_dmg_t, last_paint_t [E, victim, attacker] sim time of the
  last damage / paint (for assists) · ewar [E, M] int (0 off, 1 ECM, 2 ECCM) · sort_mode,
  hostile_only [E, M] int · comm [E, M, COMM_DIM] float32 (last message, read by pack mates
  next step) · focus [E, M] int (mech index aimed at, -1 = nearest) · step_count [E] int ·
  tick [E] int (substeps since match start) · score [E, 2] zone score in seconds (blue, red) ·
  zone_center [E, 2], zone_radius [E] · death_pos [E, M, 2] (NaN while alive).
Terrain ``[E, X, Y]``: height (float32 m), material (uint8, mapgen codes), building_hp,
  solid_h (height of movement-blocking columns, else 0), sight_h (height of sight-blocking
  columns), smoke_cnt (int16 clouds covering the cell), sight_eff (sight_h, or 1e9 under
  smoke), hazard (int8: +1 lava, -1 water). Call :meth:`EchelonSim.terrain_changed` after
  editing height/material directly.
Projectile pool ``[E, P]``: p_active (bool), p_pos/p_origin/p_aim [E, P, 3], p_weapon,
  p_shooter, p_target (int), p_leg (uniform draw deciding a leg hit).
Smoke clouds ``[E, S]`` with ``S = 2 M`` (slot ``2 m + parity`` for mech m): smoke_on (bool,
  cloud present), smoke_t (s left), smoke_pos [E, S, 2] (centre, m; radius specs.SMOKE_RADIUS),
  smoke_cells [E, S, K] (stamped flat cell ids, -1 none).
Decision cache (computed once per decision step by :func:`observations.observe`, reused by
  the substeps): dist [E, M, M], los [E, M, M] bool, visible [E, M, M] bool (observer, target),
  quality, jam [E, M], contact_ids [E, M, MAX_CONTACTS] int (-1 empty), n_contacts [E, M].
Actions in ``[E, M, ...]`` arrays (written by the vector env / heuristic, already sanitised):
  act_move [E, M, 4], act_trigger [E, M, 5] bool, act_target, act_ewar, act_sort,
  act_hostile [E, M] int, act_comm [E, M, COMM_DIM].
Per-step outputs: reward [E, M] and reward_parts [E, M, len(REWARD_PARTS)], died [E, M]
  (died this step), alive_before [E, M], zone_ticks [E, 2] (blue, red zone points this step),
  env_done [E], env_truncated [E], end_reason [E] (0 none, 1 zone, 2 elimination, 3 time),
  winner [E] (0 blue, 1 red, 2 draw, -1 none), events (structured array
  ``events[:num_events]``, dtype :data:`EVENT_DTYPE`); running stats [E, len(STAT_NAMES)],
  agent_stats [E, M, len(AGENT_STATS)], damage_heatmap [E, HEATMAP_BINS, HEATMAP_BINS].

Randomness is counter-based (:func:`hash_uniform`): a match's draws never depend on the other
matches in the batch (batched == N single envs).
"""

from __future__ import annotations

import numpy as np

from echelon.config import EnvConfig
from echelon.env import combat, heat, mapgen, movement, observations, projectiles, reset, stats, weapons, zone
from echelon.env import specs as S
from echelon.env.arrays import clamp
from echelon.env.obs_layout import COMM_DIM, FLAT_OBS_DIM, MAX_CONTACTS, MAX_SQUAD
from echelon.env.records import (
    AGENT_STATS, AS, END_REASONS, EV, EVENT_DTYPE, EVENT_KINDS, HEATMAP_BINS, MATCH_STATS, REWARD_PARTS, RP, ST,
    STAT_NAMES, TEAM_STATS, WINNERS,
)
from echelon.env.rng import hash_uniform

# Names other modules import from here (defined in records / rng).
__all__ = [
    "AGENT_STATS", "AS", "END_REASONS", "EV", "EVENT_DTYPE", "EVENT_KINDS", "HEATMAP_BINS", "MATCH_STATS",
    "REWARD_PARTS", "RP", "ST", "STAT_NAMES", "TEAM_STATS", "WINNERS", "EchelonSim", "hash_uniform",
]


class EchelonSim:
    """All matches of one batch. See the module docstring for the state arrays."""

    def __init__(self, cfg: EnvConfig, num_envs: int):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.cfg = cfg
        E = self.E = num_envs
        M = self.M = cfg.num_mechs
        self.T = cfg.mechs_per_team
        self.X, self.Y = cfg.size_x, cfg.size_y
        self.dt = cfg.dt_sim
        self.map_size = float(max(self.X, self.Y))
        self.win_score = cfg.episode_seconds / 2.0
        self._init_roster()
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
        self.tick = np.zeros(E, np.int64)
        self.score = np.zeros((E, 2), f8)
        self.zone_center = np.zeros((E, 2), f8)
        self.zone_radius = np.zeros(E, f8)
        self.key = np.zeros(E, np.uint64)  # per-match random key
        self.death_pos = np.full((E, M, 2), np.nan, f8)
        self._init_terrain()
        self._init_projectiles_and_smoke()

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
        self.zone_ticks = np.zeros((E, 2), f8)
        self.env_done = np.zeros(E, bool)
        self.env_truncated = np.zeros(E, bool)
        self.end_reason = np.zeros(E, np.int64)
        self.winner = np.full(E, -1, np.int64)
        self.stats = np.zeros((E, len(STAT_NAMES)), f8)
        self.agent_stats = np.zeros((E, M, len(AGENT_STATS)), f8)
        self.damage_heatmap = np.zeros((E, HEATMAP_BINS, HEATMAP_BINS), f8)
        self.events = np.zeros(max(1024, 64 * E * M // 4), EVENT_DTYPE)
        self.event_columns = {name: self.events[name] for name in EVENT_DTYPE.names}  # field views
        self.num_events = 0
        self.events_dropped = 0
        self.obs = np.zeros((E, M, FLAT_OBS_DIM), np.float32)

        self._init_phase_buffers()
        reset.init(self)  # per-match layout arrays and curriculum ranges

        self.match_rngs: list[np.random.Generator] = [np.random.default_rng(0) for _ in range(E)]

    def _init_phase_buffers(self) -> None:
        """Buffers the phases write in place every step or substep (nothing of this size is
        allocated while stepping)."""
        E, M = self.E, self.M
        self.geo = movement.PairGeometry(E, M)  # pair geometry after each move
        self.controls = movement.Controls(self)  # movement terms fixed per step
        self.hazard_under = np.zeros((E, M), np.int8)  # +1 lava, -1 water under the feet
        self.env_index = np.arange(E)[:, None]  # [E, 1] match index, for per-mech cell lookups
        self._mech_rows = np.arange(E * M)  # flat (match, mech) row ids
        self.panel_scratch = observations.PanelScratch(E, M)  # observe's terrain panel
        self.may_fire = np.zeros((E, M, 4), bool)  # slots armed this step (weapons.arm)
        self.want_fire = np.zeros((E, M, 4), bool)  # armed, ready and able to act this substep
        self.vent_cooling = np.zeros((E, M))  # heat / s, fixed per step (heat.begin_step)
        self.ewar_heat = np.zeros((E, M))
        # Hits and paint queued for combat.resolve; HP damage summed over a substep's hits and
        # lava; damage per (match, attacker, victim) this substep, for kill credit.
        self._hits: list[combat.Hits] = []
        self._paints: list[combat.Paints] = []
        self.damage_in = np.zeros((E, M))
        self._dmg_pair = np.zeros((E, M, M))

    def _init_roster(self) -> None:
        """Static per-mech ``[M]`` tables: team, pack, class and its numbers, loadout, pairs."""
        cfg, M, T = self.cfg, self.M, self.T
        idx = np.arange(M)
        self.team = (idx >= T).astype(np.int64)
        local = idx % T
        self.pack = self.team * cfg.packs_per_team + local // S.PACK_SIZE
        self.num_packs = 2 * cfg.packs_per_team
        self.pack_onehot = (self.pack[None, :] == np.arange(self.num_packs)[:, None]).astype(np.float64)  # [pack, M]
        self.cls = np.array([S.CLASS_NAMES.index(S.PACK_ROLES[r]) for r in local % S.PACK_SIZE], dtype=np.int64)
        c = self.cls
        self.radius, self.speed, self.yaw_rate = S.CLS_RADIUS[c], S.CLS_SPEED[c], S.CLS_YAW[c]
        self.jumper, self.max_hp, self.max_leg = S.CLS_JUMP[c], S.CLS_HP[c], S.CLS_LEG_HP[c]
        self.heat_cap, self.cooling, self.tons = S.CLS_HEAT_CAP[c], S.CLS_COOLING[c], S.CLS_TONS[c]
        self.max_stab, self.has_ams, self.has_ewar = S.CLS_STABILITY[c], S.CLS_AMS[c], S.CLS_EWAR[c]
        self.weapon = S.CLS_LOADOUT[c]  # [M, 4]
        self.enemy = self.team[:, None] != self.team[None, :]  # [M, M]
        self.scout_ids = np.nonzero(self.has_ewar)[0]
        self.squad_ids = np.array(
            [[j for j in range(M) if self.pack[j] == self.pack[i] and j != i] for i in range(M)], dtype=np.int64
        )
        assert self.squad_ids.shape[1] == MAX_SQUAD
        # LOS is traced for enemy pairs only (friends always see each other; nobody fires at them).
        self.pi, self.pj = np.nonzero(np.triu(self.enemy))
        self.radius_sum = (self.radius[:, None] + self.radius[None, :]).astype(np.float32)  # [M, M] touching distance

    def _init_terrain(self) -> None:
        E, X, Y = self.E, self.X, self.Y
        self.height = np.zeros((E, X, Y), np.float32)
        self.material = np.zeros((E, X, Y), np.uint8)
        self.building_hp = np.zeros((E, X, Y), np.float32)
        self.solid_h = np.zeros((E, X, Y), np.float32)
        self.sight_h = np.zeros((E, X, Y), np.float32)
        self.smoke_cnt = np.zeros((E, X, Y), np.int16)
        self.sight_eff = np.zeros((E, X, Y), np.float32)
        self.hazard = np.zeros((E, X, Y), np.int8)  # +1 lava, -1 water

    def _init_projectiles_and_smoke(self) -> None:
        E, M = self.E, self.M
        P = self.P = 4 * M
        self.p_active = np.zeros((E, P), bool)
        self.p_pos = np.zeros((E, P, 3))
        self.p_origin = np.zeros((E, P, 3))
        self.p_aim = np.zeros((E, P, 3))
        self.p_weapon = np.zeros((E, P), np.int64)
        self.p_shooter = np.zeros((E, P), np.int64)
        self.p_target = np.zeros((E, P), np.int64)
        self.p_leg = np.zeros((E, P))
        NS = self.NS = 2 * M
        r = int(np.ceil(S.SMOKE_RADIUS))
        ox, oy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1), indexing="ij")
        disc = ox**2 + oy**2 <= S.SMOKE_RADIUS**2
        self._disc = np.stack([ox[disc], oy[disc]], 1)  # [K, 2] cell offsets of a cloud
        self.smoke_t = np.zeros((E, NS))
        self.smoke_pos = np.zeros((E, NS, 2))
        self.smoke_cells = np.full((E, NS, len(self._disc)), -1, np.int64)  # flat cell ids, -1 off-map
        self.smoke_parity = np.zeros((E, M), np.int64)
        self.smoke_on = np.zeros((E, NS), bool)

    # ------------------------------------------------------------------ reset / terrain
    def seed(self, seed: int, match_ids=None) -> None:
        """Give match slot i the generator ``SeedSequence([seed, match_ids[i]])`` (default
        ``match_ids[i] = i``), used for every reset of slot i, and its layout generator
        (:mod:`~echelon.env.reset`)."""
        ids = list(range(self.E)) if match_ids is None else list(match_ids)
        self.match_rngs = [np.random.default_rng(np.random.SeedSequence([int(seed), int(i)])) for i in ids]
        reset.seed(self, seed, ids)

    def reset_envs(self, envs: np.ndarray) -> None:
        """Start a new match in each slot of ``envs`` (int array) from its slot generators: layout
        (map side, packs), map, key, spawns, state (:func:`reset.reset_envs`)."""
        reset.reset_envs(self, envs)

    def load_map(self, e: int, m: "mapgen.MapData") -> None:
        """Copy a :class:`mapgen.MapData` into match slot ``e`` (terrain, zone; walls beyond a
        smaller map)."""
        reset.load_map(self, e, m)

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

    def cell_bounds(self, e):
        """Last cell index ``(x, y)`` of the maps of matches ``e`` (int array, any shape): the
        allocation's ``(X - 1, Y - 1)`` as ints while every match spans it, else arrays shaped
        like ``e`` from each match's own size."""
        if self.full_size:
            return self.X - 1, self.Y - 1
        return self.match_x[e] - 1, self.match_y[e] - 1

    def _cells(self, x: np.ndarray, y: np.ndarray, e: np.ndarray, out=None) -> np.ndarray:
        """Flat [E*X*Y] cell index of points (x, y) (m, finite) in matches ``e`` (clipped to each
        match's own map, :meth:`cell_bounds`).

        ``out``: optional pair of int64 arrays of the points' shape to compute in (the first is
        returned)."""
        # Truncating first and clipping the integers equals clipping the floats and truncating
        # (for finite values), in fewer and cheaper passes.
        if out is None:
            cx, cy = x.astype(np.int64), y.astype(np.int64)
        else:
            cx, cy = out
            np.copyto(cx, x, casting="unsafe")
            np.copyto(cy, y, casting="unsafe")
        hi_x, hi_y = self.cell_bounds(e)
        np.maximum(cx, 0, out=cx)
        np.minimum(cx, hi_x, out=cx)
        np.maximum(cy, 0, out=cy)
        np.minimum(cy, hi_y, out=cy)
        cx *= self.Y
        cx += cy
        cx += e * (self.X * self.Y)
        return cx

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """Advance every match one decision step (``decision_repeat`` substeps) using ``act_*``.

        Fills reward, reward_parts, died, zone_ticks, env_done, env_truncated, end_reason,
        winner, stats, events. Does not observe or reset (the vector env does both).
        """
        self._begin_step()  # clear the step's outputs, apply the decision-level actions
        movement.begin_step(self)  # the step's movement controls, ground under the mechs, geometry
        weapons.arm(self)  # slots that may fire in this step's substeps
        heat.begin_step(self)  # the step's vent cooling and EWAR heat
        potential_before = zone.potential(self)
        for _ in range(self.cfg.decision_repeat):
            self._substep()
        self.step_count += 1
        zone.score_zone(self)
        self._approach_reward(potential_before)
        zone.check_end(self)
        self._finish_rewards()
        stats.step_stats(self)

    def _begin_step(self) -> None:
        """Clear the per-step outputs and apply the decision-level actions (EWAR, contact sort and
        filter, comm, vent, focus target)."""
        self.num_events = 0
        np.copyto(self.alive_before, self.alive)
        self.reward_parts[...] = 0.0
        self.died[...] = False
        alive = self.alive
        self.ewar[...] = np.where(self.has_ewar[None] & alive, self.act_ewar, 0)
        np.copyto(self.sort_mode, self.act_sort)
        np.copyto(self.hostile_only, self.act_hostile)
        np.copyto(self.comm, np.where(alive[..., None], self.act_comm, 0.0))
        np.logical_and(self.act_trigger[..., S.VENT_TRIGGER], alive, out=self.vent)
        slot = self.act_target - 1  # target 0 = nearest, k = contact slot k - 1
        column = clamp(slot, 0, MAX_CONTACTS - 1).reshape(-1)
        picked = self.contact_ids.reshape(-1, MAX_CONTACTS)[self._mech_rows, column].reshape(slot.shape)
        self.focus[...] = np.where(slot >= 0, picked, -1)

    def _substep(self) -> None:
        """One ``dt_sim`` of every match: shutdown, movement, projectiles, firing, simultaneous
        hit resolution (paint, lava, deaths), then heat and timers."""
        heat.update_shutdown(self)
        can_act = self.alive & ~self.shutdown & (self.fallen_t <= 0)
        time = self.tick * self.dt  # [E] seconds since match start
        movement.move(self, can_act)
        movement.update_geometry(self)
        projectiles.fly(self)
        weapons.fire(self, can_act & ~self.vent)
        combat.resolve(self, time)
        heat.cool_and_tick(self)
        self.tick += 1

    def _approach_reward(self, potential_before: np.ndarray) -> None:
        """Potential-based shaping toward the zone: ``approach * (gamma * phi_after - phi_before)``."""
        w = self.cfg.rewards
        potential_after = zone.potential(self)
        self.reward_parts[..., RP["approach"]] = w.approach * (w.approach_gamma * potential_after - potential_before)

    def _finish_rewards(self) -> None:
        """Mask the parts of mechs dead before this step, add the outcome at a match's end (to
        every present mech of the team, alive or dead), sum."""
        # Dead agents get nothing after their death step, except the outcome at the end.
        self.reward_parts[..., :RP["outcome"]] *= self.alive_before[..., None]
        self.reward_parts[..., RP["outcome"]] = 0.0
        ended = self.env_done
        if ended.any():
            winner = self.winner[:, None]
            sign = np.where(winner == 2, 0.0, np.where(winner == self.team[None], 1.0, -1.0))
            self.reward_parts[..., RP["outcome"]] = self.cfg.rewards.outcome * sign * ended[:, None]
            if not self.all_present:
                self.reward_parts[..., RP["outcome"]] *= self.present  # absent mechs never score
        self.reward[...] = self.reward_parts.sum(axis=2)
        self.agent_stats[..., AS["reward"]] += self.reward

    def outcome(self, e: int) -> dict:
        """The ENV_SPEC 'outcome' dict of match slot ``e`` (call before it is reset)."""
        return stats.outcome(self, e)
