"""``EchelonVecEnv``: the batched, flat-row face of the simulation (docs/interfaces.md).

Rows: match-major, then the controlled agents of the match in mech-index order (blue agents,
then red agents, among the teams whose ``EnvConfig.blue`` / ``red`` is ``"policy"``); row
``r`` is mech ``controlled[r % A]`` of match ``r // A`` with ``A = agents_per_env``.
Heuristic teams are driven inside the env and never appear as rows.

Per step: ``obs [R, D]`` float32, ``reward [R]`` float32, ``terminated``/``truncated [R]``
bool, and ``info`` with ``final_obs [R, D]``, ``valid [R]`` (the agent was alive when it acted:
its death step is valid and terminated, later steps invalid until the match resets; their
``reward`` is 0 except on the match's last step, which carries the team outcome ±outcome, as
ENV_SPEC's outcome rule pays every agent "alive or dead"; it never reaches the loss because
the row is invalid),
``episode_start [R]`` (returned obs row starts a match), ``alive [R]``,
``reward_components`` ({part: [R] float32}), ``events`` (this step's structured event array, also
``last_events``) and ``episodes`` (one dict per match that ended: ``return`` = mean over the
match's controlled agents of their episode reward totals, outcome included; ``length``;
``outcome`` as in :meth:`EchelonSim.outcome`; ``reward_components``: {part: mean over the match's
controlled agents of that agent's sum of the part over the match}; ``team_returns``: {team: mean
episode reward total of that team's controlled agents}, for each team with controlled agents;
``occupancy [2, B, B]`` float32 living mech-steps per map cell of blue and red, only after
``track_occupancy(True)``); ``size`` (the match's map side, m: its longer side on a non-square
map) and ``packs_per_team``. Returned arrays are reused buffers.

Curriculum over the match (:meth:`EchelonVecEnv.set_curriculum`, ``EnvConfig.size_range`` /
``packs_range``; :mod:`echelon.env.reset`): rows are allocated for the largest match. A match
with fewer packs leaves the rows of its absent agents ``valid`` False with zero observation,
reward and flags for the whole match; returns, reward components and team returns average over
its present agents only.

With ``keep_final_state=True`` (the PettingZoo face sets it, for rendering) ``final_state`` maps
each match that ended in the last step to copies of its state just before the auto-reset
(:meth:`EchelonVecEnv.state_of`).
"""

from __future__ import annotations

from collections import deque
from typing import Mapping, Optional

import gymnasium as gym
import numpy as np

from echelon.config import EnvConfig
from echelon.env.actions import ACTION_SPECS, build_action_space, sanitize
from echelon.env.heuristic import HeuristicController
from echelon.env.observations import observe
from echelon.env.obs_layout import FLAT_OBS_DIM
from echelon.env.occupancy import OccupancyGrid
from echelon.env.reset import set_ranges
from echelon.env.sim import AS, REWARD_PARTS, RP, ST, WINNERS, EchelonSim


class EchelonVecEnv:
    """``num_envs`` Echelon matches stepped together; see the module docstring for the rows."""

    def __init__(self, cfg: EnvConfig | None = None, num_envs: int = 1, match_ids=None, keep_final_state: bool = False):
        """``match_ids [num_envs]`` (default ``0 .. num_envs-1``): slot i is seeded from
        ``(seed, match_ids[i])``, so a slot reproduces match ``match_ids[i]`` of a bigger batch.
        ``keep_final_state``: fill ``final_state`` for matches that end (see the module docstring)."""
        self.cfg = cfg = cfg or EnvConfig()
        self.match_ids = list(range(num_envs)) if match_ids is None else [int(i) for i in match_ids]
        if len(self.match_ids) != num_envs:
            raise ValueError(f"match_ids has {len(self.match_ids)} entries, expected num_envs={num_envs}")
        self.num_envs = num_envs
        self.sim = sim = EchelonSim(cfg, num_envs)
        policy = np.where(sim.team == 0, cfg.blue == "policy", cfg.red == "policy")
        self.controlled = np.nonzero(policy)[0]
        self.agents_per_env = A = len(self.controlled)
        self.num_rows = R = num_envs * A
        self.heuristic = HeuristicController(sim, ~policy, cfg.heuristic_weapon_fire_prob)
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (FLAT_OBS_DIM,), np.float32)
        self.single_action_space = build_action_space()
        self.row_team = np.tile(sim.team[self.controlled], num_envs)
        self._obs = np.zeros((R, FLAT_OBS_DIM), np.float32)
        self._final_obs = np.zeros((R, FLAT_OBS_DIM), np.float32)
        self._reward = np.zeros(R, np.float32)
        self._term = np.zeros(R, bool)
        self._trunc = np.zeros(R, bool)
        self._valid = np.zeros(R, bool)
        self._start = np.zeros(R, bool)
        self._alive = np.zeros(R, bool)
        self._parts = {k: np.zeros(R, np.float32) for k in REWARD_PARTS}
        self._bad = np.zeros(R, np.int64)
        self._act = {
            k: np.zeros((R, *shape), np.float64 if kind == "box" else (bool if kind == "binary" else np.int64))
            for k, (shape, kind, _, _) in ACTION_SPECS.items()
        }
        self.last_events = sim.events[:0]
        self.keep_final_state = bool(keep_final_state)
        self.final_state: dict[int, dict] = {}
        self._seeded = False
        self._recent: Optional[deque] = None  # match 0's last drawable states (failure receipts)
        # Per-agent sums of each reward part over the current match [E, A, parts] (metrics).
        self._part_sums = np.zeros((num_envs, A, len(REWARD_PARTS)), np.float64)
        self._team_rows = {name: np.nonzero(sim.team[self.controlled] == t)[0] for t, name in enumerate(WINNERS[:2])}
        self._occupancy: Optional[OccupancyGrid] = None
        self._teacher: Optional[HeuristicController] = None
        self._teacher_act: Optional[dict] = None

    def teacher_actions(self) -> dict[str, np.ndarray]:
        """What the scripted heuristic, at full strength, would do in every controlled row now.

        ``{key: [R, ...]}`` in the policy's action format (``move``/``comm`` float32 in [-1, 1],
        ``trigger`` float32 0/1, the discrete parts int64), for the observation the last
        ``reset``/``step`` returned: the imitation target of ``ppo.bc_coef``. The controller
        writes the controlled mechs' ``sim.act_*``, which the next ``step`` overwrites with the
        policy's actions before anything reads them; the heuristic team's slots are untouched.
        At fire probability 1 its coin never fails, so no random draw is involved. The arrays
        are reused by the next call.
        """
        sim, C = self.sim, self.controlled
        if self._teacher is None:
            mask = np.zeros(sim.M, bool)
            mask[C] = True
            self._teacher = HeuristicController(sim, mask, 1.0)
            self._teacher_act = {
                k: np.zeros((self.num_rows, *shape), np.float32 if kind in ("box", "binary") else np.int64)
                for k, (shape, kind, _, _) in ACTION_SPECS.items()
            }
        self._teacher.act()
        out = self._teacher_act
        self._rows(sim.act_move, out["move"])
        self._rows(sim.act_trigger, out["trigger"])
        self._rows(sim.act_target, out["target"])
        self._rows(sim.act_ewar, out["ewar"])
        self._rows(sim.act_sort, out["sort"])
        self._rows(sim.act_hostile, out["hostile_only"])
        self._rows(sim.act_comm, out["comm"])
        return out

    def track_occupancy(self, on: bool = True) -> None:
        """Count living mech-steps per map cell per match; finished episodes then carry ``occupancy``
        (:class:`~echelon.env.occupancy.OccupancyGrid`). Off by default; it never alters the match."""
        sim = self.sim
        self._occupancy = OccupancyGrid(self.num_envs, sim.team, sim.X, sim.Y) if on else None

    def set_heuristic_weapon_fire_prob(self, p: float) -> None:
        """Probability (0..1) that each heuristic trigger pull fires, from the next step on.

        The curriculum handicap (``env.heuristic_weapon_fire_prob`` at construction); 0 means
        the heuristic team never fires a weapon. Raises ValueError outside [0, 1] (NaN too).
        """
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"heuristic weapon fire probability must be in [0, 1], got {p}")
        self.heuristic.fire_prob = p

    def set_curriculum(self, weapon_fire_prob: Optional[float] = None, size_range=None, packs_range=None) -> None:
        """Set the curriculum over the match; None leaves a parameter as it is.

        ``weapon_fire_prob``: the heuristic's fire probability (0..1), from the next step on, as
        :meth:`set_heuristic_weapon_fire_prob`. ``size_range [lo, hi]``: square map sides (m) each
        match draws at its next reset, ``cfg.min_side <= lo <= hi <= min(size_x, size_y)``.
        ``packs_range [lo, hi]``: packs per team drawn likewise, ``1 <= lo <= hi <=
        cfg.packs_per_team``. Everything is validated before anything changes; a bad value raises
        ValueError saying what to change.
        """
        if weapon_fire_prob is not None:
            p = float(weapon_fire_prob)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"weapon_fire_prob must be in [0, 1], got {weapon_fire_prob!r}")
        set_ranges(self.sim, size_range, packs_range)
        if weapon_fire_prob is not None:
            self.heuristic.fire_prob = p

    def get_curriculum(self) -> dict:
        """The curriculum in force (JSON-serialisable): ``weapon_fire_prob`` (float), ``size_range``
        ([lo, hi] ints; None on a non-square allocation without a range: every match is
        size_x x size_y) and ``packs_range`` ([lo, hi] ints). ``set_curriculum(**get_curriculum())``
        changes nothing."""
        sim = self.sim
        return {
            "weapon_fire_prob": float(self.heuristic.fire_prob),
            "size_range": None if sim.size_range is None else [int(v) for v in sim.size_range],
            "packs_range": [int(v) for v in sim.packs_range],
        }

    # rows <-> [E, M] helpers
    def _rows(self, a: np.ndarray, out: np.ndarray) -> np.ndarray:
        shaped = out.reshape(self.num_envs, self.agents_per_env, *out.shape[1:])
        np.copyto(shaped, a[:, self.controlled], casting="unsafe")
        return out

    def reset(self, seed: int = 0) -> np.ndarray:
        """Start every match; slot i is generated from ``SeedSequence([seed, match_ids[i]])`` and
        later auto-resets of slot i draw from that same generator. Returns obs [R, D]."""
        sim = self.sim
        sim.seed(seed, self.match_ids)
        allenv = np.arange(self.num_envs)
        self.heuristic.seed(seed, self.match_ids)
        sim.reset_envs(allenv)
        observe(sim)
        self._part_sums[...] = 0.0
        if self._occupancy is not None:
            self._occupancy.clear()
        self._start[...] = True
        self.final_state = {}
        self._seeded = True
        return self._rows(sim.obs, self._obs)

    def step(self, actions: Mapping[str, np.ndarray] | None):
        """Step every match once. ``actions``: dict of ``[R, ...]`` arrays (None when R == 0)."""
        if not self._seeded:
            raise RuntimeError("EchelonVecEnv.step called before reset(seed)")
        sim = self.sim
        E, A, C = self.num_envs, self.agents_per_env, self.controlled
        if A:
            sanitize(actions, self.num_rows, self._act, self._bad)
            a = self._act
            sim.act_move[:, C] = a["move"].reshape(E, A, 4)
            sim.act_trigger[:, C] = a["trigger"].reshape(E, A, 5)
            sim.act_target[:, C] = a["target"].reshape(E, A)
            sim.act_ewar[:, C] = a["ewar"].reshape(E, A)
            sim.act_sort[:, C] = a["sort"].reshape(E, A)
            sim.act_hostile[:, C] = a["hostile_only"].reshape(E, A)
            sim.act_comm[:, C] = a["comm"].reshape(E, A, -1)
            bad = self._bad.reshape(E, A)
            if not sim.all_present:
                bad = bad * sim.present[:, C]  # absent agents never act, whatever their rows hold
            tm = sim.team[C]
            sim.stats[:, ST["bad_actions_blue"]] += bad[:, tm == 0].sum(1)
            sim.stats[:, ST["bad_actions_red"]] += bad[:, tm == 1].sum(1)
        self.heuristic.act()
        sim.step()
        observe(sim)

        alive_before = sim.alive_before[:, C]
        alive = sim.alive[:, C]
        done = sim.env_done[:, None]
        trunc = sim.env_truncated[:, None]
        self._valid[...] = alive_before.reshape(-1)
        # sim.reward already zeroes every part but the outcome for mechs dead before this step.
        self._rows(sim.reward, self._reward)
        self._term[...] = (sim.died[:, C] | (done & ~trunc & alive)).reshape(-1)
        self._trunc[...] = (trunc & alive).reshape(-1)
        self._alive[...] = alive.reshape(-1)
        for k, arr in self._parts.items():
            self._rows(sim.reward_parts[..., RP[k]], arr)
        if A:
            self._part_sums += sim.reward_parts[:, C]
        if self._occupancy is not None:
            sizes = () if sim.full_size else (sim.match_x[:, None], sim.match_y[:, None])
            self._occupancy.add(sim.pos, sim.alive, *sizes)
        obs = self._rows(sim.obs, self._obs)
        self._start[...] = False
        episodes = []
        n_ev = sim.num_events
        self.last_events = sim.events[:n_ev].copy() if n_ev else sim.events[:0]
        ended = np.nonzero(sim.env_done)[0]
        if self.keep_final_state:
            self.final_state = {e: self.state_of(e) for e in ended.tolist()}
        if len(ended):
            rows_end = (ended[:, None] * A + np.arange(A)[None]).reshape(-1)
            self._final_obs[rows_end] = obs[rows_end]
            for e in ended.tolist():
                out = sim.outcome(e)
                mechs = C if A else np.arange(sim.M)
                if not sim.all_present:
                    mechs = mechs[sim.present[e, mechs]]
                ret = sim.agent_stats[e, mechs, AS["reward"]].mean()
                episodes.append({"return": float(ret), "length": int(sim.step_count[e]), "outcome": out, "env": e,
                                 "size": int(sim.match_side[e]), "packs_per_team": int(sim.match_packs[e]),
                                 **self._match_metrics(e)})
            self.heuristic.reseed_envs(ended)
            sim.reset_envs(ended)
            observe(sim, ended)
            if A:
                self._obs.reshape(E, A, -1)[ended] = sim.obs[ended][:, C]
            self._start[rows_end] = True
        info = {
            "final_obs": self._final_obs,
            "valid": self._valid,
            "episode_start": self._start,
            "alive": self._alive,
            "reward_components": self._parts,
            "events": self.last_events,
            "episodes": episodes,
        }
        if self._recent is not None:
            self._recent.append(self.state_of(0))
        return self._obs, self._reward, self._term, self._trunc, info

    def _match_metrics(self, e: int) -> dict:
        """Reward components, team returns and occupancy of match ``e`` (then zeroed for its next
        match), over the match's present agents."""
        out: dict = {}
        if self.agents_per_env:
            sim = self.sim
            all_sums = self._part_sums[e]
            present = slice(None) if sim.all_present else sim.present[e, self.controlled]  # [A]
            sums = all_sums[present]
            out["reward_components"] = {k: float(sums[:, RP[k]].mean()) for k in REWARD_PARTS}
            totals = sim.agent_stats[e, self.controlled, AS["reward"]]
            team_rows = self._team_rows if sim.all_present else {
                team: rows[present[rows]] for team, rows in self._team_rows.items()}
            out["team_returns"] = {team: float(totals[rows].mean()) for team, rows in team_rows.items()
                                   if len(rows)}
            all_sums[...] = 0.0
        if self._occupancy is not None:
            out["occupancy"] = self._occupancy.take(e)
        return out

    def keep_recent_frames(self, n: int) -> None:
        """Keep match 0's drawable state after each of the last ``n`` steps (0 = off), for receipts."""
        self._recent = deque(maxlen=n) if n > 0 else None

    def recent_frames(self, scale: int = 6) -> list[np.ndarray]:
        """Match 0's last kept steps drawn top-down, oldest first: ``[H, W, 3]`` uint8 each."""
        from echelon.env.render import render_frame
        from echelon.env.specs import SMOKE_RADIUS

        frames = []
        for st in self._recent or ():  # terrain already cropped to the match's map
            clouds = st["smoke_pos"][st["smoke_on"]]
            smoke = np.concatenate([clouds, np.full((len(clouds), 1), SMOKE_RADIUS)], axis=1)
            here = st["present"]
            frames.append(render_frame(
                st["material"], st["height"], st["zone_center"], st["zone_radius"], mech_pos=st["pos"][here],
                mech_yaw=st["yaw"][here], mech_class=self.sim.cls[here], mech_team=self.sim.team[here],
                mech_alive=st["alive"][here], smoke=smoke, scale=scale,
            ))
        return frames

    def state_of(self, e: int) -> dict:
        """Copies of match ``e``'s drawable state: ``pos [M, 3]``, ``yaw [M]``, ``hp [M]``, ``alive [M]``,
        ``present [M]`` (False: a pack above the match's count, not to be drawn),
        ``material``/``height [x, y]`` (the match's own map, without the walls beyond a smaller one),
        ``zone_center [2]``, ``zone_radius`` (float), ``smoke_pos [S, 2]``, ``smoke_on [S]``."""
        sim = self.sim
        sx, sy = int(sim.match_x[e]), int(sim.match_y[e])
        return {
            "pos": sim.pos[e].copy(), "yaw": sim.yaw[e].copy(), "hp": sim.hp[e].copy(), "alive": sim.alive[e].copy(),
            "present": sim.present[e].copy(),
            "material": sim.material[e, :sx, :sy].copy(), "height": sim.height[e, :sx, :sy].copy(),
            "zone_center": sim.zone_center[e].copy(), "zone_radius": float(sim.zone_radius[e]),
            "smoke_pos": sim.smoke_pos[e].copy(), "smoke_on": sim.smoke_on[e].copy(),
        }

    def close(self) -> None:
        """Nothing to release (pure NumPy)."""
