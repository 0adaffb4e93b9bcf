"""Checkpoint → policy: the payload loads; missing, foreign and mismatched checkpoints fail clearly."""

from pathlib import Path

import numpy as np
import pytest
import torch

from echelon.checkpoint import Counters, TrainingState, build_payload, save_checkpoint
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


def _payload(cfg, learner, update=3, env_steps=384):
    return build_payload(TrainingState(learner=learner.state_dict(), counters=Counters(update, env_steps),
                                       config=config_to_dict(cfg), run_id="r1", trace_id=f"r1:{update}"))


def test_round_trip(tmp_path):
    cfg, learner = _learner()
    learner.policy.obs_norm.mean.fill_(0.25)  # a normaliser statistic that must come back
    path = save_checkpoint(tmp_path, 3, _payload(cfg, learner))
    loaded = load_policy(path)
    assert loaded.cfg == cfg
    assert loaded.info == {"path": str(path), "run_id": "r1", "trace_id": "r1:3", "update": 3, "env_steps": 384}
    assert not loaded.policy.training
    assert loaded.obs_norm is loaded.policy.obs_norm and float(loaded.obs_norm.mean[0]) == 0.25
    for key, value in learner.policy.state_dict().items():
        assert torch.equal(loaded.policy.state_dict()[key], value), key
    env = EchelonVecEnv(cfg.env, 1)
    check_policy_fits(loaded.policy, env.single_observation_space, env.single_action_space)


def test_unloadable_checkpoints_say_why(tmp_path):
    with pytest.raises(PolicyLoadError, match="does not exist"):
        load_policy(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PolicyLoadError, match="no digest file"):
        load_policy(bad)
    cfg, learner = _learner()
    with pytest.raises(PolicyLoadError, match="not an Echelon checkpoint"):
        load_policy(save_checkpoint(tmp_path, 1, {"config": config_to_dict(cfg), "weights": {}}))
    # Weights of a 16-wide model under a config that asks for 32: the shapes do not fit.
    cfg32, _ = _learner(["model.hidden_size=32"])
    payload = _payload(cfg, learner)
    payload["config"] = config_to_dict(cfg32)
    path = save_checkpoint(tmp_path, 2, payload)
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
