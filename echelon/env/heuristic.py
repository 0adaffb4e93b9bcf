"""Vectorised scripted opponent: every heuristic mech of every match decided by NumPy ops.

Play: head for the zone; when a visible enemy is within engagement range, face it, keep at
about 70% of the primary weapon's range and pull every trigger (each shot passes a
``weapon_fire_prob`` coin, the curriculum handicap); vent when hot; scouts run ECM when an
enemy is within ECM range; jumpers jet over obstacles ahead, others sidestep. Randomness comes
from the controller's own per-match keys (seeded from ``(seed, match)``), drawn counter-based so
a match's draws do not depend on the rest of the batch; mechs are keyed and sided by their
``sim.draw_id`` (their index in a match of their own packs), so a small match in a big batch
plays as it would alone. Cell lookups are bounded by each match's own map (``sim._cells``).
"""

from __future__ import annotations

import numpy as np

from echelon.env import specs as S
from echelon.env.sim import EchelonSim, hash_uniform

_R_FIRE = 11
ENGAGE_RANGE = 22.0  # m: enemies closer than this are fought instead of walking to the zone
VENT_FRAC = 0.75  # vent above this fraction of the heat cap
ECM_HEAT_FRAC = 0.6


class HeuristicController:
    """Writes ``sim.act_*`` for the mechs in ``mask [M]`` (bool) of every match."""

    def __init__(self, sim: EchelonSim, mask: np.ndarray, fire_prob: float):
        self.sim = sim
        self.mask = np.asarray(mask, bool)
        self.idx = np.nonzero(self.mask)[0]
        self.fire_prob = float(fire_prob)
        self.key = np.zeros(sim.E, np.uint64)
        prim = S.W_RANGE[sim.weapon[:, 0]]
        # Scouts carry only a painter; keep them at painter range too.
        self.keep_range = 0.7 * np.where(prim > 0, prim, 8.0)[self.idx]

    def seed(self, seed: int, match_ids) -> None:
        """Slot i's key from ``SeedSequence([seed, match_ids[i], 7])``."""
        for e, i in enumerate(match_ids):
            self.key[e] = np.random.SeedSequence([int(seed), int(i), 7]).generate_state(1, np.uint64)[0]

    def reseed_envs(self, envs: np.ndarray) -> None:
        """New keys for matches that auto-reset (drawn from their own match generators)."""
        for e in np.asarray(envs).tolist():
            self.key[e] = np.uint64(int(self.sim.match_rngs[e].integers(0, 2**63)))

    def act(self) -> None:
        sim = self.sim
        if len(self.idx) == 0:
            return
        bots = self.idx
        E = sim.E
        pos = sim.pos[:, bots]
        yaw = sim.yaw[:, bots]
        cand = sim.visible[:, bots] & sim.enemy[bots][None]
        dm = np.where(cand, sim.dist[:, bots], np.inf)
        near = np.argmin(dm, axis=2)
        dnear = np.take_along_axis(dm, near[..., None], 2)[..., 0]
        fighting = dnear <= ENGAGE_RANGE
        eidx = np.arange(E)[:, None]
        tp = sim.pos[eidx, near]
        zc = sim.zone_center[:, None, :]
        tx = np.where(fighting, tp[..., 0], zc[..., 0])
        ty = np.where(fighting, tp[..., 1], zc[..., 1])
        dx, dy = tx - pos[..., 0], ty - pos[..., 1]
        want_yaw = np.arctan2(dy, dx)
        err = (want_yaw - yaw + np.pi) % (2 * np.pi) - np.pi
        zd = np.hypot(zc[..., 0] - pos[..., 0], zc[..., 1] - pos[..., 1])
        in_zone_core = zd <= 0.6 * sim.zone_radius[:, None]
        fwd = np.where(np.abs(err) < 0.7, 1.0, 0.25)
        fwd = np.where(fighting, np.where(dnear > self.keep_range, fwd, -0.3), np.where(in_zone_core, 0.0, fwd))
        draw_id = sim.draw_id[:, bots]  # [E, nb]
        side = np.where(draw_id % 2 == 0, 1.0, -1.0)  # which way each bot circles and sidesteps
        strafe = np.where(fighting, 0.4 * side, 0.0)
        # Obstacle ahead (2.5 m): jumpers jet, everyone sidesteps.
        c, s = np.cos(yaw), np.sin(yaw)
        ahead = sim._cells(pos[..., 0] + 2.5 * c, pos[..., 1] + 2.5 * s, eidx)
        blocked = np.take(sim.solid_h, ahead) > pos[..., 2] + S.STEP_HEIGHT
        strafe = np.where(blocked, side, strafe)
        vertical = np.where(blocked & sim.jumper[bots], 1.0, -1.0)
        mv = sim.act_move[:, bots]
        mv[..., 0] = fwd
        mv[..., 1] = strafe
        mv[..., 2] = vertical
        mv[..., 3] = np.clip(err * 3.0, -1.0, 1.0)
        sim.act_move[:, bots] = mv
        hot = sim.heat[:, bots] > VENT_FRAC * sim.heat_cap[bots]
        u = hash_uniform(self.key[:, None, None], sim.step_count[:, None, None], _R_FIRE,
                         draw_id[..., None] * 5 + np.arange(5)[None, None, :])
        shoot = (dnear <= ENGAGE_RANGE)[..., None] & (u < self.fire_prob) & ~hot[..., None]
        trig = shoot.copy()
        trig[..., S.VENT_TRIGGER] = hot
        # Smoke only when hurt and under pressure.
        hurt = sim.hp[:, bots] < 0.5 * sim.max_hp[bots]
        trig[..., 4] &= hurt
        sim.act_trigger[:, bots] = trig
        sim.act_target[:, bots] = 0
        ecm = sim.has_ewar[bots] & (dnear <= S.ECM_RANGE) & (sim.heat[:, bots] < ECM_HEAT_FRAC * sim.heat_cap[bots])
        sim.act_ewar[:, bots] = np.where(ecm, 1, 0)
        sim.act_sort[:, bots] = 0
        sim.act_hostile[:, bots] = 1
        sim.act_comm[:, bots] = 0.0
