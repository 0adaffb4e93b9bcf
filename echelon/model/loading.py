"""Checkpoint → policy: the one place that knows where a checkpoint keeps its config and weights.

Tools that act with a trained policy outside training (``scripts/dump_policy_gif.py``, and
evaluation) call :func:`load_policy`. Both training loops write one payload
(:mod:`echelon.checkpoint`): its digest, format and parts are checked there, and
``payload["learner"]`` is ``Learner.state_dict()``.

``Learner.state_dict()["model"]`` is the policy's ``state_dict`` including its normaliser
buffers (``obs_norm``, ``value_norm``), so the loaded policy normalises observations exactly as
the rollout workers did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch

from echelon.checkpoint import CheckpointError, load_training_state
from echelon.config import ConfigError, TrainConfig, config_from_dict
from echelon.model.actor_critic import ActorCritic, build_policy
from echelon.model.normalization import RunningNorm


class PolicyLoadError(RuntimeError):
    """A checkpoint cannot be turned into a policy (missing, corrupt, foreign, or mismatched)."""


class LoadedPolicy(NamedTuple):
    """``cfg`` the checkpoint's run config; ``policy`` in eval mode on the requested device;
    ``obs_norm`` the observation normaliser inside ``policy`` (None when ``ppo.norm_obs`` is off);
    ``info`` what the checkpoint says about itself (``path``, ``run_id``, ``trace_id``, ``update``,
    ``env_steps``)."""

    cfg: TrainConfig
    policy: ActorCritic
    obs_norm: Optional[RunningNorm]
    info: dict[str, Any]


def load_policy(checkpoint_path: str | Path, device: str | torch.device = "cpu") -> LoadedPolicy:
    """Load a checkpoint's config and policy (weights and normalisers) for acting.

    The policy is built from the checkpoint's own config for that config's env (its observation
    and action spaces) and loaded strictly, so weights that do not fit raise here rather than
    act wrongly. Raises :class:`PolicyLoadError` with the reason.
    """
    path = Path(checkpoint_path)
    try:
        saved = load_training_state(path)
    except CheckpointError as exc:
        raise PolicyLoadError(str(exc)) from None
    try:
        cfg = config_from_dict(saved.config)
    except ConfigError as exc:
        raise PolicyLoadError(f"checkpoint {str(path)!r}: its config does not load with this code: {exc}") from None
    info = {
        "path": str(path),
        "run_id": saved.run_id,
        "trace_id": saved.trace_id,
        "update": saved.counters.update,
        "env_steps": saved.counters.env_steps,
    }
    return policy_from_weights(cfg, saved.learner["model"], info, device, where=f"checkpoint {str(path)!r}")


def policy_from_weights(cfg: TrainConfig, weights: dict, info: Optional[dict] = None,
                        device: str | torch.device = "cpu", where: str = "the weights") -> LoadedPolicy:
    """A policy for acting from ``cfg`` and a policy ``state_dict`` (``Learner.get_weights()[1]``,
    or a checkpoint's ``learner["model"]``), loaded strictly; :class:`PolicyLoadError` when they do
    not fit. The training driver evaluates its current weights this way, without a checkpoint file."""
    from echelon.env.adapters import make_vector_env

    env = make_vector_env(cfg, 1, cfg.seed)
    try:
        obs_space, action_space = env.single_observation_space, env.single_action_space
    finally:
        env.close()
    policy = build_policy(cfg, obs_space, action_space)
    try:
        policy.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise PolicyLoadError(
            f"{where} does not match the policy this code builds for its config "
            f"(env {cfg.rollout.env!r}, obs dim {obs_space.shape[0]}): {' '.join(first[:3])}"
        ) from None
    policy = policy.to(device).eval()
    return LoadedPolicy(cfg, policy, policy.obs_norm if policy.norm_obs else None, dict(info or {}))


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
