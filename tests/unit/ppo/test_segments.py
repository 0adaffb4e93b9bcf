"""The truncated-BPTT contract: layout, start states, and invalid garbage changes nothing."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from echelon.config import ModelConfig, PPOConfig
from echelon.model.actor_critic import ActorCritic, LSTMState
from echelon.ppo.loss import segment_loss
from echelon.ppo.segments import segment_layout, segment_masks, segment_start_states, to_segments


BOX2 = spaces.Box(-1, 1, (2,), np.float32)


def _policy(seed=0, action_space=BOX2):
    torch.manual_seed(seed)
    obs_space = spaces.Box(-np.inf, np.inf, (5,), np.float32)
    return ActorCritic(obs_space, action_space, ModelConfig(hidden_size=16, lstm_size=8))


def test_layout_without_and_with_burn_in():
    lay = segment_layout(T=10, L=4)
    assert lay.K == 3
    np.testing.assert_array_equal(lay.start_t, [0, 4, 8])
    assert lay.in_range[:, 2].tolist() == [True, True, False, False]
    assert lay.train.all()
    lay = segment_layout(T=7, L=4, burn_in=1)  # trains 3 steps per segment
    assert lay.K == 3
    np.testing.assert_array_equal(lay.start_t, [-1, 2, 5])
    assert lay.in_range[:, 0].tolist() == [False, True, True, True]
    assert lay.train[:, 0].tolist() == [False, True, True, True]
    # Every fragment step is trained exactly once.
    trained = lay.time_index[lay.in_range & lay.train]
    assert sorted(trained.tolist()) == list(range(7))


def test_to_segments_columns_and_masks():
    T, R = 5, 2
    x = torch.arange(T * R, dtype=torch.float32).reshape(T, R) + 1
    lay = segment_layout(T, L=3)
    seg = to_segments(x, lay)
    assert seg.shape == (3, 2 * R)
    # Column k * R + r is row r, steps [3k, 3k + 3); padding is zero.
    torch.testing.assert_close(seg[:, 1], x[0:3, 1])
    torch.testing.assert_close(seg[:, 3], torch.tensor([x[3, 1], x[4, 1], 0.0]))
    valid = torch.ones(T, R, dtype=torch.bool)
    valid[1, 0] = False
    rec, loss_mask = segment_masks(valid, lay)
    assert rec[:, 2].tolist() == [True, True, False]
    assert not rec[1, 0]


@pytest.mark.parametrize("burn_in", [0, 2])
def test_start_states_equal_step_by_step(burn_in):
    policy = _policy()
    T, R = 11, 3
    obs = torch.randn(T, R, 5)
    es = torch.rand(T, R) < 0.15
    valid = torch.ones(T, R, dtype=torch.bool)
    state0 = LSTMState(torch.randn(R, 8), torch.randn(R, 8))
    lay = segment_layout(T, L=4, burn_in=burn_in)
    starts = segment_start_states(policy, obs, state0, es, valid, lay)
    states, s = [state0], state0
    for t in range(T):
        s = policy.step(obs[t], s, es[t]).state
        states.append(s)
    for k, st in enumerate(lay.start_t):
        ref = states[max(int(st), 0)]
        torch.testing.assert_close(starts.h[k * R:(k + 1) * R], ref.h)
        torch.testing.assert_close(starts.c[k * R:(k + 1) * R], ref.c)


def _batch(L, M, seed):
    g = torch.Generator().manual_seed(seed)
    act = {"move": torch.rand(L, M, 2, generator=g) * 2 - 1, "pick": torch.randint(0, 3, (L, M), generator=g)}
    return {
        "obs": torch.randn(L, M, 5, generator=g),
        "actions": act,
        "logprobs": torch.randn(L, M, generator=g) - 2,
        "values": torch.randn(L, M, generator=g),
        "advantages": torch.randn(L, M, generator=g),
        "returns": torch.randn(L, M, generator=g),
        "episode_start": torch.rand(L, M, generator=g) < 0.2,
        "recurrent_valid": torch.ones(L, M, dtype=torch.bool),
        "loss_mask": torch.ones(L, M, dtype=torch.bool),
        "state0": LSTMState(torch.randn(M, 8, generator=g), torch.randn(M, 8, generator=g)),
    }


def _loss_and_grads(policy, batch, burn_in):
    policy.zero_grad()
    loss, stats = segment_loss(policy, batch, PPOConfig(), burn_in)
    loss.backward()
    return loss.detach(), stats, {n: p.grad.clone() for n, p in policy.named_parameters()}


@pytest.mark.parametrize("burn_in", [0, 2])
def test_invalid_garbage_changes_neither_loss_nor_gradients(burn_in):
    space = spaces.Dict({"move": spaces.Box(-1, 1, (2,), np.float32), "pick": spaces.Discrete(3)})
    policy = _policy(1, space)
    L, M = 8, 6
    batch = _batch(L, M, seed=2)
    # Real data already has some invalid steps: padding at the tail of column 0, a dead agent.
    for key in ("recurrent_valid", "loss_mask"):
        batch[key][6:, 0] = False
        batch[key][3:, 4] = False
    batch["loss_mask"][:burn_in] = False
    loss0, stats0, grads0 = _loss_and_grads(policy, batch, burn_in)

    garbage = _batch(L, 5, seed=99)
    for key in ("recurrent_valid", "loss_mask"):
        garbage[key][:] = False
    spliced = {}
    order = torch.tensor([0, 6, 1, 2, 7, 8, 3, 4, 9, 5, 10])  # real columns 0..5, garbage 6..10

    def splice(a, b):
        if isinstance(a, dict):
            return {k: splice(a[k], b[k]) for k in a}
        if isinstance(a, LSTMState):
            h = splice(a.h.unsqueeze(0), b.h.unsqueeze(0))[0]
            return LSTMState(h, splice(a.c.unsqueeze(0), b.c.unsqueeze(0))[0])
        return torch.cat([a, b], dim=1)[:, order]

    for k in batch:
        spliced[k] = splice(batch[k], garbage[k])
    # Garbage inside the real columns' invalid steps too (obs, actions, flags, targets).
    inv = ~batch["recurrent_valid"]
    real_cols = [0, 2, 3, 6, 7, 9]
    for k in ("logprobs", "values", "advantages", "returns"):
        col = spliced[k][:, real_cols]
        col[inv] = 123.0
        spliced[k][:, real_cols] = col
    es = spliced["episode_start"][:, real_cols]
    es[inv] = True
    spliced["episode_start"][:, real_cols] = es
    obs = spliced["obs"][:, real_cols]
    obs[inv] = 1e3
    spliced["obs"][:, real_cols] = obs

    loss1, stats1, grads1 = _loss_and_grads(policy, spliced, burn_in)
    torch.testing.assert_close(loss1, loss0, rtol=1e-5, atol=1e-6)
    for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"):
        torch.testing.assert_close(stats1[k], stats0[k], rtol=1e-5, atol=1e-6)
    for n in grads0:
        torch.testing.assert_close(grads1[n], grads0[n], rtol=1e-4, atol=1e-6, msg=n)
        assert torch.isfinite(grads1[n]).all()
