"""PPO options behind flags: advantage recomputation between epochs, next-observation aux loss."""

import dataclasses

import torch

from echelon.config import load_config
from echelon.env.adapters import make_vector_env
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner
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
