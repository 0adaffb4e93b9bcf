"""The env signature of a league: what two policies must share to be rated on one scale.

A flat dict of the match rules (every :class:`~echelon.config.EnvConfig` field as ``env.<name>``
except the ones a match sets per side or that only shape training) plus the policy interface
(``obs_shape``, the ``action_space`` repr, and a hash of the observation layout's block and
field names, which catches a reordering that keeps the width). A new ``EnvConfig`` field is part
of the signature unless it is listed in :data:`NOT_MATCH_RULES`, so an unknown change refuses
rather than mixes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from echelon.config import EnvConfig, TrainConfig

# Set per match (who drives each side, the heuristic's fire probability: a fixed entry's own
# setting) or used by training only (rewards, event recording): they do not change the game.
NOT_MATCH_RULES = ("blue", "red", "heuristic_weapon_fire_prob", "rewards", "record_events")


def obs_layout_hash() -> str:
    """Short hash of the flat observation's block widths and feature names (echelon.env.obs_layout)."""
    from echelon.env import obs_layout as lay
    from echelon.metrics.schema import stable_hash

    return stable_hash([lay.BLOCKS, lay.CONTACT_FIELDS, lay.SQUAD_FIELDS, lay.EGO_FIELDS, lay.DESC_FIELDS,
                        [lay.PANEL_GRID, lay.PANEL_CHANNELS]])[:16]


def env_signature(cfg: TrainConfig, spaces: Optional[tuple[Any, Any]] = None) -> dict[str, Any]:
    """The signature of ``cfg``'s env (see the module docstring); JSON-ready.

    ``spaces`` is ``(single_observation_space, single_action_space)``; when omitted a one-copy
    env of ``cfg`` is built to read them. Raises ``ValueError`` unless ``cfg.rollout.env`` is
    ``echelon`` (leagues rate Echelon teams).
    """
    if cfg.rollout.env != "echelon":
        raise ValueError(f"a league rates Echelon policies; this config's rollout.env is {cfg.rollout.env!r}")
    if spaces is None:
        from echelon.env.vec_env import EchelonVecEnv

        env = EchelonVecEnv(cfg.env, 1)
        spaces = (env.single_observation_space, env.single_action_space)
    obs_space, action_space = spaces
    sig: dict[str, Any] = {
        f"env.{f.name}": getattr(cfg.env, f.name)
        for f in dataclasses.fields(EnvConfig) if f.name not in NOT_MATCH_RULES
    }
    sig["obs_shape"] = [int(d) for d in obs_space.shape]
    sig["action_space"] = repr(action_space)
    sig["obs_layout"] = obs_layout_hash()
    return sig


def signature_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``[(field, expected value, actual value)]`` for every field that differs, sorted by field;
    a field missing on one side shows as ``None`` there."""
    keys = sorted(set(expected) | set(actual))
    return [(k, expected.get(k), actual.get(k)) for k in keys if expected.get(k) != actual.get(k)]
