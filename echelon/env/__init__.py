"""The Echelon environment: batched sim core, observations, heuristic, vector env."""

from echelon.env.actions import build_action_space, random_actions, sanitize, stack_agent_actions
from echelon.env.sim import EVENT_DTYPE, EVENT_KINDS, REWARD_PARTS, STAT_NAMES, EchelonSim
from echelon.env.vec_env import EchelonVecEnv
from echelon.env.parallel_env import EchelonParallelEnv

__all__ = [
    "EVENT_DTYPE", "EVENT_KINDS", "REWARD_PARTS", "STAT_NAMES", "EchelonParallelEnv", "EchelonSim", "EchelonVecEnv",
    "build_action_space", "random_actions", "sanitize", "stack_agent_actions",
]
