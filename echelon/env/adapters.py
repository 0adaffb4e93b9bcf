"""``make_vector_env``: every env the trainer runs, seen through the VectorEnv interface.

- ``gymnasium:<id>``: ``num_envs`` copies of ``gymnasium.make(id, **kwargs)`` stepped in a loop
  with same-step autoreset (:class:`GymVectorEnv`). ``rollout.env_kwargs`` go to
  ``gymnasium.make`` except ``mask_obs: [i, ...]``, handled here: those observation indices are
  removed (e.g. ``gymnasium:CartPole-v1`` with ``mask_obs: [1, 3]`` is CartPole without the
  cart and pole velocities, a memory task).
- ``pettingzoo:<module>[:<function>]``: ``num_envs`` ParallelEnvs from ``module.function``
  (default ``parallel_env``) called with ``rollout.env_kwargs``; each agent of each copy is a row
  (:class:`PettingZooVectorEnv`), one shared policy.
- ``echelon``: ``EchelonVecEnv(cfg.env, num_envs)``, which implements the interface natively.
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from echelon.config import TrainConfig


def _flat_box(space: spaces.Space) -> spaces.Box:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"observation space must be a Box, got {space!r}")
    return spaces.Box(-np.inf, np.inf, (int(np.prod(space.shape)),), np.float32)


class GymVectorEnv:
    """``num_envs`` Gymnasium envs behind the VectorEnv interface (rows = env copies).

    Same-step autoreset: when copy ``i`` ends, its true last observation goes to
    ``info["final_obs"][i]``, it is reset at once and the returned ``obs[i]`` is the first
    observation of the next episode (``info["episode_start"][i]`` True).
    """

    def __init__(self, env_id: str, num_envs: int, env_kwargs: dict | None = None) -> None:
        kwargs = dict(env_kwargs or {})
        mask = kwargs.pop("mask_obs", None)
        self.envs = [gym.make(env_id, **kwargs) for _ in range(num_envs)]
        base = _flat_box(self.envs[0].observation_space)
        D = int(base.shape[0])
        self.keep = np.array([i for i in range(D) if mask is None or i not in set(mask)], dtype=np.int64)
        self.num_envs = self.num_rows = num_envs
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (len(self.keep),), np.float32)
        self.single_action_space = self.envs[0].action_space
        R, Dk = num_envs, len(self.keep)
        self._obs = np.zeros((R, Dk), np.float32)
        self._final = np.zeros((R, Dk), np.float32)
        self._rew = np.zeros(R, np.float32)
        self._term = np.zeros(R, bool)
        self._trunc = np.zeros(R, bool)
        self._start = np.zeros(R, bool)
        self._valid = np.ones(R, bool)
        self._ep_ret = np.zeros(R, np.float64)
        self._ep_len = np.zeros(R, np.int64)

    def _o(self, obs) -> np.ndarray:
        return np.asarray(obs, dtype=np.float32).reshape(-1)[self.keep]

    def reset(self, seed: int) -> np.ndarray:
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=int(seed) + i)
            self._obs[i] = self._o(obs)
        self._ep_ret[:] = 0
        self._ep_len[:] = 0
        return self._obs

    def step(self, actions):
        episodes = []
        for i, env in enumerate(self.envs):
            a = {k: v[i] for k, v in actions.items()} if isinstance(actions, dict) else actions[i]
            obs, rew, term, trunc, _ = env.step(a)
            self._rew[i], self._term[i], self._trunc[i] = rew, term, trunc
            self._ep_ret[i] += rew
            self._ep_len[i] += 1
            self._start[i] = term or trunc
            if term or trunc:
                self._final[i] = self._o(obs)
                episodes.append({"return": float(self._ep_ret[i]), "length": int(self._ep_len[i])})
                self._ep_ret[i], self._ep_len[i] = 0.0, 0
                obs, _ = env.reset()
            self._obs[i] = self._o(obs)
        info = {"final_obs": self._final, "valid": self._valid, "episode_start": self._start, "episodes": episodes}
        return self._obs, self._rew, self._term, self._trunc, info

    def close(self) -> None:
        for env in self.envs:
            env.close()


class PettingZooVectorEnv:
    """``num_envs`` PettingZoo ParallelEnvs; row ``e * A + j`` is agent ``possible_agents[j]`` of copy ``e``.

    All agents must share one action space; observations are flattened and zero-padded to the
    widest agent. An agent that leaves ``env.agents`` before its copy ends is terminated (or
    truncated) once, as reported, then its rows are invalid with zero observation and reward
    until the copy resets (when no agent is left).
    """

    def __init__(self, factory, num_envs: int, env_kwargs: dict | None = None) -> None:
        self.envs = [factory(**(env_kwargs or {})) for _ in range(num_envs)]
        self.agents = list(self.envs[0].possible_agents)
        A = len(self.agents)
        act_spaces = [self.envs[0].action_space(a) for a in self.agents]
        if any(s != act_spaces[0] for s in act_spaces):
            raise TypeError("pettingzoo adapter needs one shared action space for all agents")
        self.dims = [int(_flat_box(self.envs[0].observation_space(a)).shape[0]) for a in self.agents]
        D = max(self.dims)
        self.num_envs, self.agents_per_env, self.num_rows = num_envs, A, num_envs * A
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (D,), np.float32)
        self.single_action_space = act_spaces[0]
        R = self.num_rows
        self._obs = np.zeros((R, D), np.float32)
        self._final = np.zeros((R, D), np.float32)
        self._rew = np.zeros(R, np.float32)
        self._term = np.zeros(R, bool)
        self._trunc = np.zeros(R, bool)
        self._start = np.zeros(R, bool)
        self._valid = np.ones(R, bool)
        self._alive = np.ones(R, bool)
        self._ep_ret = np.zeros(R, np.float64)
        self._ep_len = np.zeros(num_envs, np.int64)

    def _write(self, dst: np.ndarray, e: int, obs: dict) -> None:
        for j, a in enumerate(self.agents):
            row = dst[e * len(self.agents) + j]
            row[:] = 0.0
            if a in obs:
                row[: self.dims[j]] = np.asarray(obs[a], dtype=np.float32).reshape(-1)

    def reset(self, seed: int) -> np.ndarray:
        for e, env in enumerate(self.envs):
            obs, _ = env.reset(seed=int(seed) + e)
            self._write(self._obs, e, obs)
        self._alive[:] = True
        self._ep_ret[:] = 0
        self._ep_len[:] = 0
        return self._obs

    def step(self, actions):
        A = len(self.agents)
        episodes = []
        self._start[:] = False
        for e, env in enumerate(self.envs):
            rows = slice(e * A, (e + 1) * A)
            # A row acts only while its agent is alive; its transition is valid exactly then.
            self._valid[rows] = self._alive[rows]
            act = {}
            for j, a in enumerate(self.agents):
                if self._alive[e * A + j]:
                    row = e * A + j
                    act[a] = {k: v[row] for k, v in actions.items()} if isinstance(actions, dict) else actions[row]
            obs, rew, term, trunc, _ = env.step(act)
            self._ep_len[e] += 1
            for j, a in enumerate(self.agents):
                r = e * A + j
                self._rew[r] = float(rew.get(a, 0.0))
                self._term[r] = bool(term.get(a, False)) and self._alive[r]
                self._trunc[r] = bool(trunc.get(a, False)) and self._alive[r] and not self._term[r]
                self._ep_ret[r] += self._rew[r]
                if self._term[r] or self._trunc[r]:
                    self._alive[r] = False
            self._write(self._final, e, obs)
            if not env.agents:
                episodes.append({"return": float(self._ep_ret[rows].mean()), "length": int(self._ep_len[e])})
                self._ep_ret[rows], self._ep_len[e] = 0.0, 0
                obs, _ = env.reset()
                self._alive[rows] = True
                self._start[rows] = True
            self._write(self._obs, e, obs)
        info = {"final_obs": self._final, "valid": self._valid, "episode_start": self._start, "episodes": episodes}
        return self._obs, self._rew, self._term, self._trunc, info

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _pettingzoo_factory(spec: str):
    module_name, _, fn = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, fn or "parallel_env")


def make_vector_env(cfg: TrainConfig, num_envs: int, seed: int):
    """The VectorEnv for ``cfg.rollout.env`` with ``num_envs`` copies (not yet reset).

    ``seed`` seeds what ``reset(seed)`` does not reach (Gymnasium action-space samplers); the
    episodes themselves are seeded by the caller's ``reset(seed)``.
    """
    name, kwargs = cfg.rollout.env, dict(cfg.rollout.env_kwargs)
    if name.startswith("gymnasium:"):
        env = GymVectorEnv(name.split(":", 1)[1], num_envs, kwargs)
        for i, e in enumerate(env.envs):
            e.action_space.seed(int(seed) + i)
    elif name.startswith("pettingzoo:"):
        env = PettingZooVectorEnv(_pettingzoo_factory(name.split(":", 1)[1]), num_envs, kwargs)
    elif name == "echelon":
        from echelon.env.vec_env import EchelonVecEnv

        env = EchelonVecEnv(cfg.env, num_envs)
    else:
        raise ValueError(f"unknown rollout.env {name!r}")
    return env
