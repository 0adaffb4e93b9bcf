"""Environment throughput measurement behind ``scripts/bench_env.py``."""

from __future__ import annotations

import platform
import time

import numpy as np

from echelon.config import EnvConfig
from echelon.env.actions import random_actions
from echelon.env.vec_env import EchelonVecEnv


def bench_env(num_envs: int, packs_per_team: int, size: int, steps: int, heuristic_both: bool = False,
              obs_mode: str = "full", seed: int = 0, size_range=None, packs_range=None) -> dict:
    """Step ``num_envs`` matches ``steps`` times with random policy actions (vs the heuristic).

    Auto-resets (map generation included) happen inside the timed loop. Returns throughput:
    ``env_steps_per_s`` (batched steps x matches), ``agent_steps_per_s`` (x all mechs per
    match), ``controlled_rows_per_s`` (x policy rows), ``heuristic_fraction`` of step time,
    ``ms_per_batched_step`` (wall), ``cpu_ms_per_batched_step`` / ``agent_steps_per_cpu_s``
    (process CPU time: the one-core cost when other processes share the machine) and the
    episodes that ended. ``size_range`` / ``packs_range`` ``[lo, hi]`` (hi = ``size`` /
    ``packs_per_team``): every match draws its own layout (``EnvConfig.size_range`` / ``packs_range``);
    the agent-step figures then count the allocated mechs.
    """
    cfg = EnvConfig(packs_per_team=packs_per_team, size_x=size, size_y=size, obs_mode=obs_mode,
                    blue="heuristic" if heuristic_both else "policy", red="heuristic",
                    size_range=None if size_range is None else list(size_range),
                    packs_range=None if packs_range is None else list(packs_range))
    env = EchelonVecEnv(cfg, num_envs)
    env.reset(seed)
    rng = np.random.default_rng(seed)
    # Pre-drawn actions: the benchmark measures the env, not the random generator.
    acts = [random_actions(rng, env.num_rows) if env.num_rows else None for _ in range(16)]
    for t in range(5):
        env.step(acts[t % 16])
    heur = env.heuristic
    inner = heur.act
    spent = [0.0]

    def timed_act() -> None:
        t0 = time.perf_counter()
        inner()
        spent[0] += time.perf_counter() - t0

    heur.act = timed_act
    episodes = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for t in range(steps):
        episodes += len(env.step(acts[t % 16])[4]["episodes"])
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    heur.act = inner
    env_steps = steps * num_envs
    return {
        "num_envs": num_envs,
        "packs_per_team": packs_per_team,
        "size": size,
        "steps": steps,
        "obs_mode": obs_mode,
        "size_range": cfg.size_range,
        "packs_range": cfg.packs_range,
        "heuristic_both": heuristic_both,
        "ms_per_batched_step": round(wall / steps * 1e3, 3),
        "env_steps_per_s": round(env_steps / wall, 1),
        "agent_steps_per_s": round(env_steps * cfg.num_mechs / wall, 1),
        "controlled_rows_per_s": round(steps * env.num_rows / wall, 1),
        "heuristic_fraction": round(spent[0] / wall, 4),
        # On a shared machine wall time includes waiting for a core; CPU time is the one-core cost.
        "cpu_ms_per_batched_step": round(cpu / steps * 1e3, 3),
        "agent_steps_per_cpu_s": round(env_steps * cfg.num_mechs / cpu, 1),
        "episodes_ended": episodes,
        "python": platform.python_version(),
    }
