"""GAE: vectorised version vs its Python-loop twin, closed forms, terminated vs truncated."""

import numpy as np
import pytest
import torch

from echelon.ppo.gae import compute_gae, compute_gae_reference


def _random_case(T, B, seed):
    g = np.random.default_rng(seed)
    rewards = g.normal(size=(T, B)).astype(np.float32)
    values = g.normal(size=(T, B)).astype(np.float32)
    terminated = g.random((T, B)) < 0.1
    truncated = (g.random((T, B)) < 0.1) & ~terminated
    final_values = np.where(truncated, g.normal(size=(T, B)), 0.0).astype(np.float32)
    last_values = g.normal(size=B).astype(np.float32)
    return rewards, values, terminated, truncated, final_values, last_values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_matches_loop_twin(seed):
    arrays = _random_case(37, 5, seed)
    adv, ret = compute_gae(*(torch.as_tensor(a) for a in arrays), gamma=0.97, gae_lambda=0.9)
    adv_ref, ret_ref = compute_gae_reference(*(a.tolist() for a in arrays), gamma=0.97, gae_lambda=0.9)
    np.testing.assert_allclose(adv.numpy(), np.array(adv_ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret.numpy(), np.array(ret_ref), rtol=1e-5, atol=1e-5)


def test_gae_closed_form_constant_reward_lambda_one():
    # lambda = 1, values 0, reward 1 each step, bootstrap value v: A_t = sum_{k} g^k + g^(T-t) v.
    T, g, v = 6, 0.9, 2.0
    z = torch.zeros(T, 1)
    f = torch.zeros(T, 1, dtype=torch.bool)
    adv, ret = compute_gae(torch.ones(T, 1), z, f, f, z, torch.tensor([v]), gamma=g, gae_lambda=1.0)
    expected = [sum(g**k for k in range(T - t)) + g ** (T - t) * v for t in range(T)]
    np.testing.assert_allclose(adv[:, 0].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(ret.numpy(), adv.numpy())


def test_gae_lambda_zero_is_one_step_td():
    arrays = _random_case(10, 3, 7)
    r, v, term, trunc, fv, lv = (torch.as_tensor(a) for a in arrays)
    adv, _ = compute_gae(r, v, term, trunc, fv, lv, gamma=0.95, gae_lambda=0.0)
    nxt = torch.cat([v[1:], lv[None]])
    nxt = torch.where(trunc, fv, nxt)
    nxt = torch.where(term, torch.zeros_like(nxt), nxt)
    np.testing.assert_allclose(adv.numpy(), (r + 0.95 * nxt - v).numpy(), rtol=1e-6, atol=1e-6)


def test_truncation_bootstraps_termination_does_not():
    # One step, reward 1, value 0.5; next-episode value 100 must never leak in.
    r, v = torch.tensor([[1.0], [0.0]]), torch.tensor([[0.5], [100.0]])
    fv = torch.tensor([[3.0], [0.0]])
    no = torch.tensor([[False], [False]])
    yes = torch.tensor([[True], [False]])
    last = torch.tensor([7.0])
    adv_term, _ = compute_gae(r, v, yes, no, fv, last, gamma=0.5, gae_lambda=0.8)
    adv_trunc, _ = compute_gae(r, v, no, yes, fv, last, gamma=0.5, gae_lambda=0.8)
    assert adv_term[0, 0].item() == pytest.approx(1.0 - 0.5)
    assert adv_trunc[0, 0].item() == pytest.approx(1.0 + 0.5 * 3.0 - 0.5)
    # Fragment end bootstraps from last_values: step 1 has reward 0, value 100, not done.
    assert adv_term[1, 0].item() == pytest.approx(0.5 * 7.0 - 100.0)
