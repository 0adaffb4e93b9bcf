"""Collector fragments, learner updates, weights and checkpoints, on real Gymnasium envs."""

from pathlib import Path

import numpy as np
import pytest
import torch

from echelon.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from echelon.config import load_config
from echelon.env.adapters import make_vector_env
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner
from echelon.ppo.rollout import RolloutCollector


def _cfg(*overrides):
    base = [
        "rollout.env=gymnasium:CartPole-v1",
        "rollout.num_envs=3",
        "rollout.fragment_len=12",
        "model.hidden_size=16",
        "model.lstm_size=8",
        "ppo.bptt_len=5",
        "ppo.epochs=2",
        "ppo.num_minibatches=2",
        "learner.device=cpu",
    ]
    return load_config(None, base + list(overrides))


def _setup(cfg):
    torch.manual_seed(0)
    env = make_vector_env(cfg, cfg.rollout.num_envs, cfg.seed)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, build_policy(cfg, env.single_observation_space, env.single_action_space))
    collector.set_weights(*learner.get_weights())
    return env, learner, collector


def test_fragment_shapes_truncation_and_carried_state():
    cfg = _cfg("rollout.env_kwargs={max_episode_steps: 5}")
    _, learner, collector = _setup(cfg)
    f1 = collector.sample()
    T, R = 12, 3
    assert f1.obs.shape == (T, R, 4) and f1.actions.shape == (T, R) and f1.state0.h.shape == (R, 8)
    assert f1.episode_start[0].all()
    # Same-step autoreset: the step after an episode end starts a new one.
    done = f1.terminated | f1.truncated
    np.testing.assert_array_equal(f1.episode_start[1:], done[:-1])
    assert f1.truncated.any()
    assert (f1.final_values[~f1.truncated] == 0).all() and (f1.final_values[f1.truncated] != 0).all()
    assert f1.env_steps == T * R and f1.version == 0
    assert f1.obs_moments.count == T * R
    np.testing.assert_allclose(f1.obs_moments.mean, f1.obs.reshape(-1, 4).mean(0), rtol=1e-5)
    assert all(e["length"] <= 5 for e in f1.episodes) and len(f1.episodes) >= R
    np.testing.assert_array_equal(f1.last_episode_start, done[-1])
    h_end = collector.state.h.numpy().copy()
    f2 = collector.sample()
    np.testing.assert_array_equal(f2.state0.h, h_end)
    np.testing.assert_array_equal(f2.obs[0], f1.last_obs)
    np.testing.assert_array_equal(f2.episode_start[0], f1.last_episode_start)


def test_learner_update_stats_and_version():
    cfg = _cfg("ppo.burn_in=2", "ppo.target_kl=1.0")
    _, learner, collector = _setup(cfg)
    frag = collector.sample()
    before = {k: v.clone() for k, v in learner.policy.state_dict().items()}
    stats = learner.update([frag, collector.sample()])
    keys = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance", "grad_norm", "lr")
    for key in keys:
        assert np.isfinite(stats[key]), key
    assert stats["grad_norm"] > 0 and stats["minibatch_steps"] >= 1
    assert learner.version == 1 and learner.env_steps == 2 * 12 * 3
    after = learner.policy.state_dict()
    assert not torch.equal(before["critic.weight"], after["critic.weight"])
    assert float(after["obs_norm.count"]) == 2 * 12 * 3
    assert float(after["value_norm.count"]) == 2 * 12 * 3
    version, weights = learner.get_weights()
    collector.set_weights(version, weights)
    assert collector.version == 1 and collector.sample().version == 1


def test_learner_state_dict_checkpoint_round_trip(tmp_path: Path):
    cfg = _cfg("ppo.lr_decay=true")
    _, learner, collector = _setup(cfg)
    learner.update([collector.sample()])
    path = save_checkpoint(tmp_path, learner.updates, {"learner": learner.state_dict()})
    other = Learner(cfg, collector.env.single_observation_space, collector.env.single_action_space)
    other.load_state_dict(load_checkpoint(path)["learner"])
    for k, v in learner.policy.state_dict().items():
        torch.testing.assert_close(other.policy.state_dict()[k], v)
    assert (other.version, other.env_steps, other.updates) == (learner.version, learner.env_steps, learner.updates)
    opt_a, opt_b = learner.optimizer.state_dict()["state"], other.optimizer.state_dict()["state"]
    for i in opt_a:
        torch.testing.assert_close(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"])
    # Both continue identically from the same RNG state.
    frag = collector.sample()
    torch.manual_seed(5)
    s1 = learner.update([frag])
    torch.manual_seed(5)
    s2 = other.update([frag])
    assert s1["policy_loss"] == pytest.approx(s2["policy_loss"])

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="fails its SHA-256 digest"):
        load_checkpoint(path)


def test_no_lstm_policy_same_interfaces():
    cfg = _cfg("model.lstm=false")
    _, learner, collector = _setup(cfg)
    frag = collector.sample()
    assert frag.state0.h.shape == (3, 0)
    stats = learner.update([frag])
    assert np.isfinite(stats["policy_loss"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_learner_on_cuda_with_bf16_autocast():
    cfg = _cfg("learner.device=auto", "learner.amp=true")
    _, learner, collector = _setup(cfg)
    assert learner.device.type == "cuda" and learner.amp
    stats = learner.update([collector.sample()])
    assert np.isfinite(stats["policy_loss"]) and np.isfinite(stats["grad_norm"])
    _, weights = learner.get_weights()
    assert all(v.device.type == "cpu" for v in weights.values())
