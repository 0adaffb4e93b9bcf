"""PPO options behind flags: advantage recomputation between epochs, next-observation aux loss."""

import dataclasses

import numpy as np
import pytest
import torch

from echelon.config import ConfigError, load_config
from echelon.env.adapters import make_vector_env
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner, bc_weight
from echelon.ppo.loss import next_obs_loss, segment_loss
from echelon.ppo.rollout import RolloutCollector


def _cfg(*overrides):
    base = [
        "rollout.env=gymnasium:CartPole-v1", "rollout.num_envs=3", "rollout.fragment_len=12",
        "rollout.env_kwargs={max_episode_steps: 7}", "model.hidden_size=16", "model.lstm_size=8",
        "ppo.bptt_len=5", "ppo.epochs=2", "ppo.num_minibatches=2", "learner.device=cpu",
    ]
    return load_config(None, base + list(overrides))


def _setup(cfg):
    torch.manual_seed(0)
    env = make_vector_env(cfg, cfg.rollout.num_envs, cfg.seed)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, build_policy(cfg, env.single_observation_space, env.single_action_space))
    collector.set_weights(*learner.get_weights())
    return learner, collector


def test_recomputed_advantages_equal_the_first_ones_while_the_critic_is_unchanged():
    # Without return normalisation the value space does not move with the batch, so with the
    # weights the fragment was sampled with, GAE from the whole-fragment unroll must reproduce
    # the collector's values (including across episode starts and truncations).
    learner, collector = _setup(_cfg("ppo.norm_returns=false", "ppo.recompute_adv=true"))
    frag = collector.sample()
    buf = learner._prepare([frag])
    adv, ret = buf.advantages.clone(), buf.returns.clone()
    learner._recompute_advantages(buf)
    torch.testing.assert_close(buf.advantages, adv, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(buf.returns, ret, rtol=1e-5, atol=1e-5)
    # Once the critic moves, the recomputed targets move with it.
    with torch.no_grad():
        learner.policy.critic.bias += 1.0
    learner._recompute_advantages(buf)
    mask = buf.loss_mask
    assert not torch.allclose(buf.advantages[mask], adv[mask])


def test_recompute_adv_update_runs_and_differs_from_plain():
    outs = []
    for flag in ("false", "true"):
        learner, collector = _setup(_cfg(f"ppo.recompute_adv={flag}", "ppo.epochs=3"))
        frag = collector.sample()
        torch.manual_seed(1)
        outs.append(learner.update([frag]))
    assert outs[0]["policy_loss"] != outs[1]["policy_loss"]
    assert all(torch.isfinite(torch.tensor(o["value_loss"])) for o in outs)


def test_next_obs_loss_closed_form_and_masking():
    L, M, D = 4, 2, 3
    target = torch.arange(L * M * D, dtype=torch.float32).reshape(L, M, D)
    pred = torch.zeros(L, M, D)
    pred[:-1] = target[1:]  # perfect predictions
    ones = torch.ones(L, M, dtype=torch.bool)
    es = torch.zeros(L, M, dtype=torch.bool)
    assert next_obs_loss(pred, target, ones, ones, es).item() == 0.0
    # Off by 2 everywhere: MSE 4, except pairs that cross an episode start or reach an invalid step.
    pred2 = pred + 2.0
    es[2, 0] = True  # step 1 -> 2 of column 0 crosses into a new episode
    valid = ones.clone()
    valid[3, 1] = False  # step 3 of column 1 is padding
    pred2[1, 0] = 1e6  # would dominate if the crossing pair counted
    pred2[2, 1] = float("nan")  # the prediction of the padded step: must not leak
    target2 = target.clone()
    target2[3, 1] = float("nan")
    p = pred2.clone().requires_grad_(True)
    loss = next_obs_loss(p, target2, ones, valid, es)
    assert loss.item() == 4.0
    loss.backward()
    assert torch.isfinite(p.grad).all()
    assert p.grad[1, 0].abs().sum() == 0 and p.grad[2, 1].abs().sum() == 0 and p.grad[-1].abs().sum() == 0


def test_aux_head_adds_its_loss_and_trains():
    cfg = _cfg("model.aux_next_obs=true", "ppo.aux_coef=0.5")
    learner, collector = _setup(cfg)
    assert learner.policy.next_obs_head is not None
    assert list(learner.policy.parameters())[-1] is learner.policy.critic.bias  # critic stays last
    buf = learner._prepare([collector.sample()])
    batch = buf.minibatch(torch.arange(buf.S))
    loss, stats = segment_loss(learner.policy, batch, cfg.ppo)
    plain = dataclasses.replace(cfg.ppo, aux_coef=0.0)
    loss0, _ = segment_loss(learner.policy, batch, plain)
    assert stats["aux_loss"] > 0
    torch.testing.assert_close(loss - loss0, 0.5 * stats["aux_loss"])
    before = learner.policy.next_obs_head.weight.detach().clone()
    out = learner.update([collector.sample()])
    assert out["aux_loss"] > 0
    assert not torch.equal(before, learner.policy.next_obs_head.weight)
    default = load_config(None, [])
    assert not default.model.aux_next_obs


def _echelon_cfg(*overrides):
    return load_config(None, [
        "rollout.env=echelon", "rollout.num_envs=2", "rollout.fragment_len=16", "env.packs_per_team=1",
        "env.size_x=40", "env.size_y=40", "env.heuristic_weapon_fire_prob=1.0", "model.hidden_size=32",
        "model.lstm_size=16", "model.slot_size=16", "model.box_dist=gaussian", "ppo.bptt_len=8", "ppo.epochs=4",
        "ppo.num_minibatches=1", "ppo.target_kl=null", "learner.device=cpu", *overrides,
    ])


def test_imitation_of_the_heuristic_moves_the_policy_toward_its_actions():
    cfg = _echelon_cfg("ppo.bc_coef=1.0", "ppo.bc_env_steps=320", "ppo.ent_coef=0.0", "ppo.lr=0.01")
    learner, collector = _setup(cfg)
    frag = collector.sample()
    # The fragment carries the teacher's action for every observation, in the policy's layout.
    assert frag.teacher["trigger"].shape == frag.actions["trigger"].shape == (16, 10, 5)
    assert set(frag.teacher) == set(frag.actions)
    coefs, losses = [], []
    for _ in range(8):
        out = learner.update([frag])
        coefs.append(out["bc_coef"])
        losses.append(out["bc_loss"])
    # Linear decay from 1.0 toward 0 at 320 env steps (32 per update).
    assert coefs == pytest.approx([1.0 - 0.1 * k for k in range(8)])
    assert losses[-1] < 0.7 * losses[0], losses
    # Without the weight the same data leaves the imitation loss where it was.
    learner0, collector0 = _setup(_echelon_cfg("ppo.ent_coef=0.0"))
    frag0 = collector0.sample()
    assert frag0.teacher is None and "bc_loss" not in learner0.update([frag0])


def test_collector_skips_the_teacher_when_asked_and_answers_for_the_current_obs_again():
    # Once the imitation weight has decayed the driver stops asking for the teacher's actions;
    # the fragments are otherwise the same, and asked again the teacher answers for the
    # observations the collector now holds (same as a collector that never stopped).
    cfg = _echelon_cfg("ppo.bc_coef=1.0", "ppo.bc_env_steps=64")
    learner, a = _setup(cfg)
    _, b = _setup(cfg)
    torch.manual_seed(1)
    frags_a = [a.sample(teacher=t) for t in (True, False, True)]
    torch.manual_seed(1)
    frags_b = [b.sample() for _ in range(3)]
    assert frags_a[1].teacher is None and all(f.teacher is not None for f in frags_b)
    for fa, fb in zip(frags_a, frags_b, strict=True):
        np.testing.assert_array_equal(fa.obs, fb.obs)
        np.testing.assert_array_equal(fa.actions["move"], fb.actions["move"])
    for k in frags_b[2].teacher:
        np.testing.assert_array_equal(frags_a[2].teacher[k], frags_b[2].teacher[k])
    assert bc_weight(cfg.ppo, 32) == pytest.approx(0.5) and bc_weight(cfg.ppo, 64) == 0.0
    # The learner takes fragments with and without the teacher in turn (its buffer follows).
    outs = [learner.update([f]) for f in frags_a]
    assert ["bc_loss" in o for o in outs] == [True, False, True]
    assert all(np.isfinite(o["policy_loss"]) and np.isfinite(o["value_loss"]) for o in outs)


def test_imitation_needs_an_env_with_a_teacher():
    with pytest.raises(ConfigError, match="bc_coef"):
        _cfg("ppo.bc_coef=0.5")
