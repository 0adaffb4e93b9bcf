"""Checkpoint → policy: both payload layouts load; missing, foreign and mismatched checkpoints fail clearly."""

from pathlib import Path

import numpy as np
import pytest
import torch

from echelon.checkpoint import save_checkpoint
from echelon.config import config_to_dict, load_config
from echelon.env.vec_env import EchelonVecEnv
from echelon.model.loading import PolicyLoadError, check_policy_fits, load_policy
from echelon.ppo.learner import Learner

ROOT = Path(__file__).resolve().parents[3]
TINY = ["model.hidden_size=16", "model.lstm_size=16", "model.slot_size=8", "learner.device=cpu"]


def _learner(overrides=()):
    cfg = load_config(ROOT / "ray_configs" / "smoke.yaml", [*TINY, *overrides])
    env = EchelonVecEnv(cfg.env, 1)
    return cfg, Learner(cfg, env.single_observation_space, env.single_action_space)


def test_serial_layout_round_trip(tmp_path):
    cfg, learner = _learner()
    learner.policy.obs_norm.mean.fill_(0.25)  # a normaliser statistic that must come back
    learner.updates, learner.env_steps = 3, 384
    payload = {"learner": learner.state_dict(), "config": config_to_dict(cfg), "update": 3}
    path = save_checkpoint(tmp_path, 3, payload)
    loaded = load_policy(path)
    assert loaded.cfg == cfg and loaded.info == {"path": str(path), "layout": "serial", "update": 3, "env_steps": 384}
    assert not loaded.policy.training
    assert loaded.obs_norm is loaded.policy.obs_norm and float(loaded.obs_norm.mean[0]) == 0.25
    for key, value in learner.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[key], value), key
    env = EchelonVecEnv(cfg.env, 1)
    check_policy_fits(loaded.policy, env.single_observation_space, env.single_action_space)


def test_ray_layout_loads_too(tmp_path):
    cfg, learner = _learner()
    payload = {
        "format": "echelon-actor-learner-v1",
        "learner": {"learner": learner.state_dict(), "rng": None},
        "counters": {"update": 0},
        "config": config_to_dict(cfg),
    }
    loaded = load_policy(save_checkpoint(tmp_path, 0, payload))
    assert loaded.info["layout"] == "ray" and loaded.info["update"] == 0


def test_unloadable_checkpoints_say_why(tmp_path):
    with pytest.raises(PolicyLoadError, match="does not exist"):
        load_policy(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PolicyLoadError, match="corrupt or truncated"):
        load_policy(bad)
    cfg, learner = _learner()
    with pytest.raises(PolicyLoadError, match="holds no policy weights"):
        load_policy(save_checkpoint(tmp_path, 1, {"config": config_to_dict(cfg), "weights": {}}))
    # Weights of a 16-wide model under a config that asks for 32: the shapes do not fit.
    cfg32, _ = _learner(["model.hidden_size=32"])
    path = save_checkpoint(tmp_path, 2, {"learner": learner.state_dict(), "config": config_to_dict(cfg32)})
    expected = r"does not match the policy this code builds .*obs dim 372.*size mismatch"
    with pytest.raises(PolicyLoadError, match=expected):
        load_policy(path)


def test_check_policy_fits_names_the_mismatch():
    import gymnasium as gym

    _, learner = _learner()
    obs = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
    with pytest.raises(PolicyLoadError, match="observations of dim 372, the env gives 5"):
        check_policy_fits(learner.policy, obs, gym.spaces.Discrete(2))
    obs = gym.spaces.Box(-np.inf, np.inf, (372,), np.float32)
    with pytest.raises(PolicyLoadError, match="the env expects Discrete"):
        check_policy_fits(learner.policy, obs, gym.spaces.Discrete(2))
