"""Learning-rate schedules: the adaptive-KL rule as a function, and inside the learner."""

import math

import pytest
import torch

from echelon.checkpoint import load_checkpoint, save_checkpoint
from echelon.config import ConfigError, load_config
from echelon.env.adapters import make_vector_env
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner
from echelon.ppo.rollout import RolloutCollector
from echelon.ppo.schedule import ADAPT_FACTOR, adaptive_kl_lr, linear_lr


def test_adaptive_kl_moves_against_the_kl_and_holds_in_the_band():
    lr, d = 1e-3, 0.01
    assert adaptive_kl_lr(lr, 0.05, d, 1e-5, 1e-2) == pytest.approx(lr / ADAPT_FACTOR)  # KL > 2 x desired
    assert adaptive_kl_lr(lr, 0.001, d, 1e-5, 1e-2) == pytest.approx(lr * ADAPT_FACTOR)  # KL < desired / 2
    for kl in (0.005, 0.01, 0.02):  # the band [desired / 2, 2 x desired] keeps the rate
        assert adaptive_kl_lr(lr, kl, d, 1e-5, 1e-2) == lr
    assert adaptive_kl_lr(lr, math.nan, d, 1e-5, 1e-2) == pytest.approx(lr / ADAPT_FACTOR)


def test_adaptive_kl_stays_within_its_bounds():
    lo, hi = 1e-5, 1e-2
    lr = 1e-3
    for _ in range(50):
        lr = adaptive_kl_lr(lr, 1.0, 0.01, lo, hi)
        assert lo <= lr <= hi
    assert lr == lo
    for _ in range(50):
        lr = adaptive_kl_lr(lr, 0.0, 0.01, lo, hi)
        assert lo <= lr <= hi
    assert lr == hi


def test_linear_lr_decays_to_its_floor():
    assert linear_lr(1e-3, 0, 100) == 1e-3
    assert linear_lr(1e-3, 50, 100) == pytest.approx(5e-4)
    assert linear_lr(1e-3, 100, 100) == pytest.approx(1e-5)
    assert linear_lr(1e-3, 500, 100) == pytest.approx(1e-5)


def _cfg(*overrides):
    base = [
        "rollout.env=gymnasium:CartPole-v1", "rollout.num_envs=3", "rollout.fragment_len=12",
        "model.hidden_size=16", "model.lstm_size=8", "ppo.bptt_len=4", "ppo.epochs=2",
        "ppo.num_minibatches=3", "learner.device=cpu",
    ]
    return load_config(None, base + list(overrides))


def _learner_and_fragment(cfg):
    torch.manual_seed(0)
    env = make_vector_env(cfg, cfg.rollout.num_envs, cfg.seed)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, build_policy(cfg, env.single_observation_space, env.single_action_space))
    collector.set_weights(*learner.get_weights())
    return learner, collector


def test_learner_adaptive_lr_falls_when_kl_is_above_target_and_rises_below():
    # desired_kl far below any real step's KL: every minibatch after the first cuts the rate.
    learner, collector = _learner_and_fragment(_cfg("ppo.lr_schedule=adaptive_kl", "ppo.lr=1e-2",
                                                    "ppo.desired_kl=1e-9", "ppo.lr_min=1e-4"))
    stats = learner.update([collector.sample()])
    assert learner.adaptive_lr < 1e-2 and learner.adaptive_lr >= 1e-4
    assert stats["lr"] < 1e-2
    assert learner.optimizer.param_groups[0]["lr"] == learner.adaptive_lr
    # desired_kl far above: every minibatch raises it, up to lr_max.
    learner, collector = _learner_and_fragment(_cfg("ppo.lr_schedule=adaptive_kl", "ppo.lr=1e-4",
                                                    "ppo.desired_kl=100", "ppo.lr_max=1e-3"))
    learner.update([collector.sample()])
    assert learner.adaptive_lr == pytest.approx(1e-3)  # 6 steps x 1.5 would pass 1e-3: clamped
    learner.update([collector.sample()])
    assert learner.adaptive_lr == pytest.approx(1e-3)


def test_adaptive_lr_never_exceeds_the_configured_rate_by_default():
    learner, collector = _learner_and_fragment(_cfg("ppo.lr_schedule=adaptive_kl", "ppo.lr=3e-4",
                                                    "ppo.desired_kl=100"))
    assert learner.cfg.ppo.lr_max is None and learner.cfg.ppo.lr_cap == 3e-4
    stats = learner.update([collector.sample()])
    assert learner.adaptive_lr == 3e-4 and stats["lr"] == 3e-4


def test_adaptive_lr_survives_a_checkpoint(tmp_path):
    cfg = _cfg("ppo.lr_schedule=adaptive_kl", "ppo.lr=1e-2", "ppo.desired_kl=1e-9")
    learner, collector = _learner_and_fragment(cfg)
    learner.update([collector.sample()])
    path = save_checkpoint(tmp_path, 1, {"learner": learner.state_dict()})
    other = Learner(cfg, collector.env.single_observation_space, collector.env.single_action_space)
    assert other.adaptive_lr == 1e-2
    other.load_state_dict(load_checkpoint(path)["learner"])
    assert other.adaptive_lr == learner.adaptive_lr < 1e-2


def test_critic_lr_sets_the_value_head_group_only():
    learner, collector = _learner_and_fragment(_cfg("ppo.lr=1e-3", "ppo.critic_lr=5e-3"))
    stats = learner.update([collector.sample()])
    g0, g1 = learner.optimizer.param_groups
    assert (g0["lr"], g1["lr"]) == (1e-3, 5e-3)
    assert (stats["lr"], stats["critic_lr"]) == (1e-3, 5e-3)
    assert [p.data_ptr() for p in g1["params"]] == [p.data_ptr() for p in learner.policy.critic.parameters()]
    learner, collector = _learner_and_fragment(_cfg("ppo.lr=1e-3", "ppo.critic_lr=5e-3", "ppo.lr_schedule=linear",
                                                    "learner.total_env_steps=72"))
    learner.update([collector.sample()])  # 36 of 72 env steps done: both rates halve for the next
    stats = learner.update([collector.sample()])
    assert (stats["lr"], stats["critic_lr"]) == (pytest.approx(5e-4), pytest.approx(2.5e-3))


def test_one_group_optimizer_state_of_older_checkpoints_loads():
    cfg = _cfg()
    learner, collector = _learner_and_fragment(cfg)
    learner.update([collector.sample()])
    state = learner.state_dict()
    opt = state["optimizer"]
    ids = opt["param_groups"][0]["params"] + opt["param_groups"][1]["params"]
    state["optimizer"] = {"state": opt["state"], "param_groups": [dict(opt["param_groups"][0], params=ids)]}
    state["counters"].pop("adaptive_lr")
    other = Learner(cfg, collector.env.single_observation_space, collector.env.single_action_space)
    other.load_state_dict(state)
    for i in ids:
        torch.testing.assert_close(other.optimizer.state_dict()["state"][i]["exp_avg"], opt["state"][i]["exp_avg"])
    assert len(other.optimizer.param_groups[1]["params"]) == 2


def test_lr_decay_is_the_old_spelling_of_the_schedule():
    assert load_config(None, ["ppo.lr_decay=true"]).ppo.lr_schedule == "linear"
    assert load_config(None, ["ppo.lr_decay=false", "ppo.lr_schedule=adaptive_kl"]).ppo.lr_schedule == "constant"
    cfg = load_config(None, ["ppo.lr_decay=true"])
    assert cfg.ppo.lr_decay is None
    with pytest.raises(ConfigError, match="lr_schedule must be one of"):
        load_config(None, ["ppo.lr_schedule=cosine"])
    with pytest.raises(ConfigError, match=r"ppo.lr=0.1 must lie in \[lr_min=1e-05, lr_max=0.01\]"):
        load_config(None, ["ppo.lr_schedule=adaptive_kl", "ppo.lr=0.1", "ppo.lr_max=0.01"])
