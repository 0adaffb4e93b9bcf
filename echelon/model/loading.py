"""Checkpoint → policy: the one place that knows where a checkpoint keeps its config and weights.

Tools that act with a trained policy outside training (``scripts/dump_policy_gif.py``, and
evaluation) call :func:`load_policy`; when the checkpoint payload changes, this module is the
one to adapt. Two payload layouts are read today:

- serial (``echelon.ppo.serial``): ``{"learner": Learner.state_dict(), "config": {...}, ...}``;
- Ray driver (``format == "echelon-actor-learner-v1"``): ``{"learner": {"learner":
  Learner.state_dict(), "rng": ...}, "config": {...}, "counters": {...}, ...}``.

``Learner.state_dict()["model"]`` is the policy's ``state_dict`` including its normaliser
buffers (``obs_norm``, ``value_norm``), so the loaded policy normalises observations exactly as
the rollout workers did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch

from echelon.checkpoint import CheckpointError, load_checkpoint
from echelon.config import ConfigError, TrainConfig, config_from_dict
from echelon.model.actor_critic import ActorCritic, build_policy
from echelon.ppo.normalization import RunningNorm


class PolicyLoadError(RuntimeError):
    """A checkpoint cannot be turned into a policy (missing, corrupt, foreign, or mismatched)."""


class LoadedPolicy(NamedTuple):
    """``cfg`` the checkpoint's run config; ``policy`` in eval mode on the requested device;
    ``obs_norm`` the observation normaliser inside ``policy`` (None when ``ppo.norm_obs`` is off);
    ``info`` what the checkpoint says about itself (``path``, ``update``, ``env_steps``, ``layout``)."""

    cfg: TrainConfig
    policy: ActorCritic
    obs_norm: Optional[RunningNorm]
    info: dict[str, Any]


def _learner_state(payload: dict[str, Any], path: Path) -> tuple[dict[str, Any], str]:
    learner = payload.get("learner")
    if isinstance(learner, dict) and isinstance(learner.get("model"), dict):
        return learner, "serial"
    if isinstance(learner, dict) and isinstance(learner.get("learner"), dict) and "model" in learner["learner"]:
        return learner["learner"], "ray"
    raise PolicyLoadError(
        f"checkpoint {str(path)!r} holds no policy weights (keys {sorted(payload)}); expected a serial or "
        "Ray-driver checkpoint of echelon"
    )


def load_policy(checkpoint_path: str | Path, device: str | torch.device = "cpu") -> LoadedPolicy:
    """Load a checkpoint's config and policy (weights and normalisers) for acting.

    The policy is built from the checkpoint's own config for that config's env (its observation
    and action spaces) and loaded strictly, so weights that do not fit raise here rather than
    act wrongly. Raises :class:`PolicyLoadError` with the reason.
    """
    from echelon.env.adapters import make_vector_env  # env code is only needed to load, not to import

    path = Path(checkpoint_path)
    try:
        payload = load_checkpoint(path)
    except CheckpointError as exc:
        raise PolicyLoadError(str(exc)) from None
    if not isinstance(payload.get("config"), dict):
        raise PolicyLoadError(f"checkpoint {str(path)!r} has no run config (keys {sorted(payload)})")
    try:
        cfg = config_from_dict(payload["config"])
    except ConfigError as exc:
        raise PolicyLoadError(f"checkpoint {str(path)!r}: its config does not load with this code: {exc}") from None
    state, layout = _learner_state(payload, path)
    env = make_vector_env(cfg, 1, cfg.seed)
    try:
        obs_space, action_space = env.single_observation_space, env.single_action_space
    finally:
        env.close()
    policy = build_policy(cfg, obs_space, action_space)
    try:
        policy.load_state_dict(state["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise PolicyLoadError(
            f"checkpoint {str(path)!r} does not match the policy this code builds for its config "
            f"(env {cfg.rollout.env!r}, obs dim {obs_space.shape[0]}): {' '.join(first[:3])}"
        ) from None
    policy = policy.to(device).eval()
    counters = state.get("counters", {})
    info = {
        "path": str(path),
        "layout": layout,
        "update": int(counters.get("updates", payload.get("update", -1))),
        "env_steps": int(counters.get("env_steps", -1)),
    }
    return LoadedPolicy(cfg, policy, policy.obs_norm if policy.norm_obs else None, info)


def check_policy_fits(policy: ActorCritic, obs_space: Any, action_space: Any, who: str = "policy") -> None:
    """Raise :class:`PolicyLoadError` unless ``policy`` takes ``obs_space`` and acts in ``action_space``.

    Compares the observation dimension and the action space's structure (its ``repr``: keys,
    shapes, bounds, dtypes), i.e. what :func:`echelon.metrics.schema.env_signature` records.
    """
    dim = int(obs_space.shape[0])
    if policy.obs_dim != dim:
        raise PolicyLoadError(f"{who} takes observations of dim {policy.obs_dim}, the env gives {dim}")
    if repr(policy.actor.space) != repr(action_space):
        raise PolicyLoadError(f"{who} acts in {policy.actor.space!r}, the env expects {action_space!r}")
