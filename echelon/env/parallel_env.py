"""``EchelonParallelEnv``: one Echelon match behind PettingZoo's ``ParallelEnv`` API (dicts at the edge).

A batch of one over :class:`EchelonVecEnv`. Agents are the mechs the caller drives
(``EnvConfig.blue`` / ``red`` == ``"policy"``), named ``"blue_<k>"`` / ``"red_<k>"`` with ``k`` the
mech's index inside its team (pack-major: heavy, medium, medium, light, scout per pack).

PettingZoo rules: an agent that dies is reported ``terminated`` once and then leaves
``agents``; when the match ends every remaining agent is terminated (zone win, elimination) or
truncated (time limit), ``agents`` becomes empty and the returned observations are the match's
true last ones. The parallel face never auto-resets: call :meth:`reset` for the next match.
Per-agent ``infos`` carry ``reward_components`` ({part: float}) and, on the match's last step,
``outcome`` (ENV_SPEC 'What the env reports').

With a curriculum over the match (``EnvConfig.size_range`` / ``packs_range``, or
:meth:`set_curriculum`) each :meth:`reset` draws the match's map side and packs per team;
``possible_agents`` are those of the largest match and ``agents`` starts with the match's own
(packs above its count do not play).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from echelon.config import EnvConfig
from echelon.env import specs
from echelon.env.actions import ACTION_KEYS, ACTION_SPECS, build_action_space, check_structure
from echelon.env.render import render_frame
from echelon.env.sim import EV
from echelon.env.vec_env import EchelonVecEnv

TEAM_NAMES = ("blue", "red")
# Event kinds drawn as tracers from the shooter to the event position.
_SHOT_KINDS = (EV["laser_hit"], EV["projectile_hit"], EV["missile_launch"], EV["paint"])


class EchelonParallelEnv(ParallelEnv):
    """One Echelon match as a PettingZoo ``ParallelEnv``.

    Args:
        cfg: the match configuration (map size, teams, who drives each team, ...).
        render_mode: ``"rgb_array"`` (``render()`` returns ``[H, W, 3]`` uint8).
        render_scale: pixels per metre of rendered frames.
    """

    metadata = {"render_modes": ["rgb_array"], "name": "echelon_v0"}

    def __init__(
        self, cfg: Optional[EnvConfig] = None, render_mode: Optional[str] = "rgb_array", render_scale: int = 6
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.cfg = cfg or EnvConfig()
        self.render_mode = render_mode
        self.render_scale = int(render_scale)
        # keep_final_state: the vec env resets an ended match inside ``step``; its last state is
        # kept so that ``render`` after the last step draws the match exactly as it ended.
        self.vec = EchelonVecEnv(self.cfg, num_envs=1, keep_final_state=True)
        sim = self.vec.sim
        T = self.cfg.mechs_per_team
        self._mech = self.vec.controlled  # [A] mech index of each agent (= vec env row)
        self.possible_agents = [f"{TEAM_NAMES[sim.team[m]]}_{int(m) - int(sim.team[m]) * T}" for m in self._mech]
        self._row = {name: r for r, name in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        obs_space = self.vec.single_observation_space
        # One observation space object shared by all agents; one action space each so that
        # seeding one agent's sampler does not move another's.
        self.observation_spaces = {a: obs_space for a in self.possible_agents}
        self.action_spaces = {a: build_action_space() for a in self.possible_agents}
        A = len(self.possible_agents)
        # Float buffers for every key so NaN and fractional values reach the vec env's
        # sanitiser, which clips them and counts them in bad_actions.
        self._act = {k: np.zeros((A, *ACTION_SPECS[k][0]), np.float64) for k in ACTION_KEYS}
        self._seed_rng = np.random.default_rng()
        self._ended = True

    def observation_space(self, agent: str) -> gym.spaces.Box:
        """``Box(-inf, inf, (FLAT_OBS_DIM,), float32)``, the same object for every call."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Dict:
        """The agent's ``gymnasium.spaces.Dict`` action space (ENV_SPEC 'Actions'), the same object every call."""
        return self.action_spaces[agent]

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[dict, dict]:
        """Start a new match; ``seed=None`` draws one from the generator of the last seeded reset.

        Returns ``(obs, infos)``: ``{agent: [FLAT_OBS_DIM] float32}``, ``{agent: {}}``.
        """
        if seed is not None:
            self._seed_rng = np.random.default_rng(seed)
            match_seed = int(seed)
            for space in self.action_spaces.values():
                space.seed(int(self._seed_rng.integers(0, 2**31 - 1)))
        else:
            match_seed = int(self._seed_rng.integers(0, 2**31 - 1))
        obs = self.vec.reset(seed=match_seed)
        present = self.vec.sim.present[0, self._mech]
        self.agents = [a for a, here in zip(self.possible_agents, present, strict=True) if here]
        self._ended = False
        return {a: obs[self._row[a]].copy() for a in self.agents}, {a: {} for a in self.agents}

    def _gather(self, actions: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Validate live agents' actions and write them into the ``[A, ...]`` batch (dead rows zero)."""
        if not isinstance(actions, Mapping):
            raise ValueError(f"Echelon step expects a dict of per-agent actions, got {type(actions).__name__}")
        for name in actions:
            if name not in self._row:
                raise ValueError(f"action given for unknown agent {name!r} (agents: {self.possible_agents})")
        for buf in self._act.values():
            buf.fill(0.0)
        for name in self.agents:
            if name not in actions:
                raise ValueError(f"no Echelon action for live agent {name!r}")
            act = actions[name]
            check_structure(act, -1, who=f"agent {name!r}")
            r = self._row[name]
            for key in ACTION_KEYS:
                self._act[key][r] = np.asarray(act[key], dtype=np.float64)
        return self._act

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Step the match once.

        Args:
            actions: ``{agent: {key: array}}`` for every agent in ``agents`` (keys and shapes as in
                :meth:`action_space`); entries for agents that already left are ignored.

        Returns:
            ``(obs, rewards, terminations, truncations, infos)`` dicts keyed by the agents that
            were live before the step. Raises ``ValueError`` naming the agent and key on a
            missing or misshapen action.
        """
        if self._ended:
            return {}, {}, {}, {}, {}
        batch = self._gather(actions)
        obs, rew, term, trunc, info = self.vec.step(batch)
        episodes = info["episodes"]
        ended = bool(episodes)
        src = info["final_obs"] if ended else obs
        parts = info["reward_components"]
        outcome = episodes[0]["outcome"] if ended else None
        o, r_, te, tr, inf = {}, {}, {}, {}, {}
        for name in self.agents:
            r = self._row[name]
            o[name] = src[r].copy()
            r_[name] = float(rew[r])
            te[name] = bool(term[r])
            tr[name] = bool(trunc[r])
            inf[name] = {"reward_components": {k: float(v[r]) for k, v in parts.items()}}
            if ended:
                inf[name]["outcome"] = outcome
                # The match ended: nobody may stay, whatever the flags said.
                if not (te[name] or tr[name]):
                    raise RuntimeError(f"match ended but agent {name!r} is neither terminated nor truncated")
        self.agents = [a for a in self.agents if not (te[a] or tr[a])]
        self._ended = ended
        return o, r_, te, tr, inf

    def set_curriculum(self, **params) -> None:
        """:meth:`EchelonVecEnv.set_curriculum` (map side and packs ranges apply from the next reset)."""
        self.vec.set_curriculum(**params)

    def get_curriculum(self) -> dict:
        """:meth:`EchelonVecEnv.get_curriculum`."""
        return self.vec.get_curriculum()

    def render(self) -> Optional[np.ndarray]:
        """Top-down ``[size_y * render_scale, size_x * render_scale, 3]`` uint8 frame of the match
        (its own map size).

        After the match's last step the frame shows the match exactly as it ended (the state the
        vec env kept before resetting the slot).
        """
        if self.render_mode is None:
            return None
        sim = self.vec.sim
        events = self.vec.last_events
        final = self.vec.final_state.get(0) if self._ended else None
        st = final if final is not None else self.vec.state_of(0)
        pos, yaw, alive = st["pos"], st["yaw"], st["alive"]
        material, height = st["material"], st["height"]
        zone_center, zone_radius = st["zone_center"], st["zone_radius"]
        smoke_pos, smoke_on = st["smoke_pos"], st["smoke_on"]
        shots = events[np.isin(events["kind"], _SHOT_KINDS) & (events["shooter"] >= 0) & (events["env"] == 0)]
        shooter = shots["shooter"].astype(np.int64)
        # Missile launches are logged at the shooter: draw them towards the target instead.
        launch = (shots["kind"] == EV["missile_launch"]) & (shots["target"] >= 0)
        target = np.maximum(shots["target"].astype(np.int64), 0)
        end_x = np.where(launch, pos[target, 0], shots["x"])
        end_y = np.where(launch, pos[target, 1], shots["y"])
        segs = np.stack([pos[shooter, 0], pos[shooter, 1], end_x, end_y], axis=1)
        clouds = smoke_pos[smoke_on]
        smoke = np.concatenate([clouds, np.full((len(clouds), 1), specs.SMOKE_RADIUS)], axis=1)
        here = st["present"]  # absent mechs (packs above the match's count) are not drawn
        return render_frame(
            material, height, zone_center, zone_radius,
            mech_pos=pos[here], mech_yaw=yaw[here], mech_class=sim.cls[here], mech_team=sim.team[here],
            mech_alive=alive[here], shots=segs, shot_team=sim.team[shooter], smoke=smoke, scale=self.render_scale,
        )

    def close(self) -> None:
        """Release the vec env (pure NumPy: nothing to free)."""
        self.vec.close()
