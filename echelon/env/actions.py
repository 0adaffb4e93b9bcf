"""Per-agent action space (ENV_SPEC 'Actions') and batched validation / sanitising.

A batched action is ``dict[str, ndarray]`` with leading dim ``R`` (rows) per key:
``move [R, 4]`` float in [-1, 1] (forward, strafe, vertical, yaw), ``trigger [R, 5]`` 0/1
(primary, vent, secondary, tertiary, special), ``target [R]`` int in [0, MAX_CONTACTS],
``ewar [R]`` in {0, 1, 2}, ``sort [R]`` in {0, 1, 2}, ``hostile_only [R]`` in {0, 1},
``comm [R, COMM_DIM]`` float in [-1, 1].

Malformed structure (missing key, wrong shape) raises ``ValueError`` naming the key (and the
agent, through :func:`stack_agent_actions`); bad values (NaN, inf, out of range) are clipped or
zeroed and counted per row, never raised.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import gymnasium as gym
import numpy as np

from echelon.env.obs_layout import COMM_DIM, MAX_CONTACTS

# key: (per-row shape, kind, low, high); kind "box" (float, clipped), "binary", "discrete".
ACTION_SPECS = {
    "move": ((4,), "box", -1.0, 1.0),
    "trigger": ((5,), "binary", 0, 1),
    "target": ((), "discrete", 0, MAX_CONTACTS),
    "ewar": ((), "discrete", 0, 2),
    "sort": ((), "discrete", 0, 2),
    "hostile_only": ((), "discrete", 0, 1),
    "comm": ((COMM_DIM,), "box", -1.0, 1.0),
}
ACTION_KEYS = tuple(ACTION_SPECS)
BASE_ACTION_NAMES = ("forward", "strafe", "vertical", "yaw", "primary", "vent", "secondary", "tertiary", "special")


def build_action_space() -> gym.spaces.Dict:
    """The per-agent ``gymnasium.spaces.Dict`` action space."""
    return gym.spaces.Dict({
        "move": gym.spaces.Box(-1.0, 1.0, (4,), np.float32),
        "trigger": gym.spaces.MultiBinary(5),
        "target": gym.spaces.Discrete(1 + MAX_CONTACTS),
        "ewar": gym.spaces.Discrete(3),
        "sort": gym.spaces.Discrete(3),
        "hostile_only": gym.spaces.Discrete(2),
        "comm": gym.spaces.Box(-1.0, 1.0, (COMM_DIM,), np.float32),
    })


def check_structure(actions: Mapping, rows: int, who: str = "") -> None:
    """Raise ``ValueError`` naming the key (and ``who``) when a key is missing or misshapen."""
    where = f" for {who}" if who else ""
    if not isinstance(actions, Mapping):
        raise ValueError(f"Echelon action{where} must be a dict with keys {ACTION_KEYS}, got {type(actions).__name__}")
    for key, (shape, _, _, _) in ACTION_SPECS.items():
        if key not in actions:
            raise ValueError(f"Echelon action{where} is missing key {key!r} (expected keys {ACTION_KEYS})")
        arr = np.asarray(actions[key])
        want = (rows, *shape) if rows >= 0 else shape
        if arr.shape != want:
            raise ValueError(f"Echelon action{where} key {key!r} has shape {arr.shape}, expected {want}")


def sanitize(actions: Mapping, rows: int, out: dict[str, np.ndarray], bad: np.ndarray) -> None:
    """Validate structure, then write clipped values into ``out[key]`` and count bad values per row.

    Args:
        actions: batched action dict, leading dim ``rows``.
        out: preallocated ``{key: [rows, ...]}`` arrays (float64 for boxes, int64/bool else).
        bad: ``[rows]`` int64, receives the number of bad values in each row.
    """
    check_structure(actions, rows)
    bad[...] = 0
    for key, (_shape, kind, lo, hi) in ACTION_SPECS.items():
        a = np.asarray(actions[key])
        if kind == "box":
            a = a.astype(np.float64, copy=False)
            nonfinite = ~np.isfinite(a)
            outside = (a < lo) | (a > hi)
            dst = out[key]
            np.clip(np.where(nonfinite, 0.0, a), lo, hi, out=dst, casting="unsafe")
            flags = nonfinite | outside
        else:
            if a.dtype.kind == "f":
                nonfinite = ~np.isfinite(a)
                a = np.where(nonfinite, 0, a)
                frac = a != np.round(a)
                flags = nonfinite | frac
            else:
                flags = np.zeros(a.shape, bool)
            ai = a.astype(np.int64)
            flags = flags | (ai < lo) | (ai > hi)
            dst = out[key]
            if kind == "binary":
                np.copyto(dst, np.clip(ai, lo, hi) > 0, casting="unsafe")
            else:
                np.copyto(dst, np.clip(ai, lo, hi), casting="unsafe")
        if flags.ndim > 1:
            bad += flags.reshape(rows, -1).sum(1)
        else:
            bad += flags


def stack_agent_actions(agents: Sequence[str], actions: Mapping[str, Mapping]) -> dict[str, np.ndarray]:
    """Stack per-agent action dicts (PettingZoo face) into a batched dict, naming the agent on errors."""
    for name in agents:
        if name not in actions:
            raise ValueError(f"no Echelon action for agent {name!r}")
        check_structure(actions[name], -1, who=f"agent {name!r}")
    return {key: np.stack([np.asarray(actions[name][key]) for name in agents]) for key in ACTION_KEYS}


def random_actions(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Uniform random batched actions (for benchmarks and tests)."""
    return {
        "move": rng.uniform(-1, 1, (rows, 4)).astype(np.float32),
        "trigger": rng.integers(0, 2, (rows, 5)).astype(np.int8),
        "target": rng.integers(0, 1 + MAX_CONTACTS, rows),
        "ewar": rng.integers(0, 3, rows),
        "sort": rng.integers(0, 3, rows),
        "hostile_only": rng.integers(0, 2, rows),
        "comm": rng.uniform(-1, 1, (rows, COMM_DIM)).astype(np.float32),
    }
