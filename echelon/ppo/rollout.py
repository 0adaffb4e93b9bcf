"""``RolloutCollector``: steps any :class:`VectorEnv` with a CPU policy copy into Fragments.

The collector owns the env's current observation, ``episode_start`` flags and the LSTM state
per row, and carries all three across ``sample()`` calls, so consecutive fragments continue
the same episodes. Storage is preallocated once; each ``sample()`` returns copies.

Extension point ``opponents`` (None by default; arena training sets an
:class:`echelon.league.arena.Arena`): an object whose ``act(obs [R, D], episode_start [R],
env_action, fragment_start)`` replaces, in place, the env actions of the rows someone else drives
and returns ``learning [R]`` bool, ANDed into the fragment's ``valid`` (those rows never reach the
loss); and whose ``finish(episodes)`` annotates the matches that ended in a step.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from echelon.config import TrainConfig
from echelon.model.actor_critic import ActorCritic, LSTMState
from echelon.model.distributions import empty_action_buffer, to_env_action
from echelon.ppo.buffer import Fragment
from echelon.model.normalization import moments


def _store(dst, t: int, src) -> None:
    if isinstance(dst, dict):
        for k in dst:
            _store(dst[k], t, src[k])
    else:
        dst[t] = src.detach().cpu().numpy().reshape(dst[t].shape)


def _copy(x):
    return {k: _copy(v) for k, v in x.items()} if isinstance(x, dict) else x.copy()


class RolloutCollector:
    """Samples fragments of ``cfg.rollout.fragment_len`` steps from ``env`` with ``policy``.

    ``policy`` is used in eval mode on CPU; ``set_weights`` loads a learner state dict into it.
    ``seed`` seeds the env reset (default ``cfg.seed``); action sampling uses torch's global RNG.
    """

    def __init__(self, cfg: TrainConfig, env, policy: ActorCritic, seed: int | None = None) -> None:
        self.cfg = cfg
        self.env = env
        self.policy = policy.cpu().eval()
        self.version = 0
        T, R, D = cfg.rollout.fragment_len, env.num_rows, int(env.single_observation_space.shape[0])
        self.T, self.R = T, R
        self.num_envs = getattr(env, "num_envs", R)
        self.obs = np.zeros((T, R, D), np.float32)
        self.actions = empty_action_buffer(env.single_action_space, (T, R))
        self.logprobs = np.zeros((T, R), np.float32)
        self.values = np.zeros((T, R), np.float32)
        self.rewards = np.zeros((T, R), np.float32)
        self.terminated = np.zeros((T, R), bool)
        self.truncated = np.zeros((T, R), bool)
        self.valid = np.zeros((T, R), bool)
        self.episode_start = np.zeros((T, R), bool)
        self.final_values = np.zeros((T, R), np.float32)
        self.next_obs = np.array(env.reset(seed=cfg.seed if seed is None else seed), dtype=np.float32)
        # Imitation targets (ppo.bc_coef): the env's teacher asked about each observation.
        self.teacher = None
        if cfg.ppo.bc_coef > 0:
            if not hasattr(env, "teacher_actions"):
                raise ValueError(f"ppo.bc_coef > 0 needs an env with a teacher; {type(env).__name__} has none: "
                                 "set ppo.bc_coef=0")
            self.teacher = empty_action_buffer(env.single_action_space, (T, R))
            self.next_teacher = _copy(env.teacher_actions())
        self.teacher_current = self.teacher is not None  # next_teacher answers for next_obs
        self.next_episode_start = np.ones(R, bool)
        self.state = policy.initial_state(R)
        self.opponents = None  # see the module docstring (arena training)
        # Seconds of the last sample() spent in policy inference and in env.step (perf/ metrics).
        self.last_timings = {"inference_s": 0.0, "env_step_s": 0.0}

    def set_weights(self, version: int, state_dict: dict) -> None:
        self.policy.load_state_dict(state_dict)
        self.version = int(version)

    @torch.inference_mode()
    def sample(self, teacher: bool = True) -> Fragment:
        """``T`` env steps → :class:`Fragment` (see docs/interfaces.md).

        ``teacher=False`` skips the teacher's actions (``ppo.bc_coef``) for this fragment, whose
        ``teacher`` is then None: the driver asks for that once the imitation weight has decayed to
        0, so the workers stop paying for a target nobody trains on. Asked again later, the teacher
        answers for the current observations first.

        Runs under ``torch.inference_mode`` (no autograd bookkeeping at all, cheaper than
        ``no_grad`` per op); nothing computed here is used in a backward pass: the fragment
        holds NumPy copies.
        """
        policy, env = self.policy, self.env
        state0 = LSTMState(self.state.h.numpy().copy(), self.state.c.numpy().copy())
        episodes: list = []
        self.final_values[:] = 0.0
        clock = time.perf_counter
        infer_s = step_s = 0.0
        use_teacher = self.teacher is not None and teacher
        if use_teacher and not self.teacher_current:
            for k, v in self.env.teacher_actions().items():
                np.copyto(self.next_teacher[k], v)
        self.teacher_current = use_teacher
        for t in range(self.T):
            self.obs[t] = self.next_obs
            self.episode_start[t] = self.next_episode_start
            if use_teacher:
                for k, v in self.next_teacher.items():
                    self.teacher[k][t] = v.reshape(self.teacher[k][t].shape)
            obs_t = torch.from_numpy(self.obs[t])
            t0 = clock()
            action, logprob, value, self.state = policy.act(obs_t, self.state, torch.from_numpy(self.episode_start[t]))
            _store(self.actions, t, action)
            self.logprobs[t] = logprob.numpy()
            self.values[t] = value.numpy()
            env_action = to_env_action(env.single_action_space, action)
            learning = None
            if self.opponents is not None:
                learning = self.opponents.act(self.obs[t], self.episode_start[t], env_action, fragment_start=t == 0)
            t1 = clock()
            obs, reward, terminated, truncated, info = env.step(env_action)
            t2 = clock()
            infer_s += t1 - t0
            step_s += t2 - t1
            self.rewards[t] = reward
            self.terminated[t] = terminated
            self.truncated[t] = truncated
            self.valid[t] = info["valid"]
            if learning is not None:
                self.valid[t] &= learning
            if truncated.any():
                # Bootstrap value of the true last observation, with the state that would have
                # consumed it had the episode gone on.
                rows = np.flatnonzero(truncated)
                final = torch.from_numpy(np.asarray(info["final_obs"][rows], dtype=np.float32))
                st = LSTMState(self.state.h[rows], self.state.c[rows])
                v = policy.step(final, st, torch.zeros(len(rows), dtype=torch.bool)).value
                self.final_values[t, rows] = v.numpy()
            # The env reuses its output buffers: copy into ours, no new arrays per step.
            np.copyto(self.next_obs, obs, casting="unsafe")
            np.copyto(self.next_episode_start, info["episode_start"], casting="unsafe")
            if use_teacher:
                for k, v in env.teacher_actions().items():
                    np.copyto(self.next_teacher[k], v)
            if self.opponents is not None:
                self.opponents.finish(info.get("episodes", ()))
            episodes.extend(info.get("episodes", ()))
        t0 = clock()
        last_values = policy.step(
            torch.from_numpy(self.next_obs), self.state, torch.from_numpy(self.next_episode_start)
        ).value
        self.last_timings = {"inference_s": infer_s + clock() - t0, "env_step_s": step_s}
        valid_rows = self.valid.reshape(-1)
        return Fragment(
            obs=self.obs.copy(),
            actions=_copy(self.actions),
            logprobs=self.logprobs.copy(),
            values=self.values.copy(),
            rewards=self.rewards.copy(),
            terminated=self.terminated.copy(),
            truncated=self.truncated.copy(),
            valid=self.valid.copy(),
            episode_start=self.episode_start.copy(),
            final_values=self.final_values.copy(),
            last_obs=self.next_obs.copy(),
            last_episode_start=self.next_episode_start.copy(),
            last_values=last_values.numpy().copy(),
            state0=state0,
            version=self.version,
            obs_moments=moments(self.obs.reshape(self.T * self.R, -1), valid_rows),
            episodes=episodes,
            env_steps=self.T * self.num_envs,
            teacher=_copy(self.teacher) if use_teacher else None,
        )
