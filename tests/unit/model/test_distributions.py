"""Action distributions: squashed Gaussian log-prob and entropy, products over spaces."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

from echelon.model.distributions import SQUASH_EPS, ActionHead, Categorical, Gaussian, SquashedGaussian, to_env_action


def _cdf_squashed(a, mean, std):
    # P(tanh(u) <= a) = Phi((atanh(a) - mean) / std), in float64.
    return 0.5 * (1 + math.erf((math.atanh(a) - mean) / (std * math.sqrt(2))))


@pytest.mark.parametrize("a", [-0.95, -0.3, 0.0, 0.42, 0.9])
def test_squashed_log_prob_matches_numerical_density(a):
    mean, log_std = 0.3, -0.4
    d = SquashedGaussian(torch.tensor([[mean]]), torch.tensor([[log_std]]))
    h = 1e-5
    density = (_cdf_squashed(a + h, mean, math.exp(log_std)) - _cdf_squashed(a - h, mean, math.exp(log_std))) / (2 * h)
    assert d.log_prob(torch.tensor([[a]])).item() == pytest.approx(math.log(density), abs=1e-3)


def test_squashed_log_prob_finite_at_bounds():
    d = SquashedGaussian(torch.zeros(3, 2), torch.full((3, 2), -1.0))
    a = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, 0.0]])
    lp = d.log_prob(a)
    assert torch.isfinite(lp).all()
    # Same as the value at the epsilon-clamped point: one epsilon for inverse and Jacobian.
    clamped = torch.clamp(a, -1 + SQUASH_EPS, 1 - SQUASH_EPS)
    torch.testing.assert_close(lp, d.log_prob(clamped))
    mean = torch.zeros(2, requires_grad=True)
    SquashedGaussian(mean, torch.zeros(2)).log_prob(torch.tensor([1.0, -1.0])).backward()
    assert torch.isfinite(mean.grad).all()


def test_squashed_entropy_matches_monte_carlo():
    torch.manual_seed(0)
    mean, log_std = torch.tensor([0.5, -1.0]), torch.tensor([0.3, -1.0])
    d = SquashedGaussian(mean, log_std)
    u = mean + torch.exp(log_std) * torch.randn(200_000, 2)
    a = torch.tanh(u)
    mc = -SquashedGaussian(mean.expand(200_000, 2), log_std.expand(200_000, 2)).log_prob(a).mean()
    assert d.entropy().item() == pytest.approx(mc.item(), abs=0.02)
    # The squash correction is negative: the squashed entropy is below the Gaussian one.
    gauss = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum()
    assert d.entropy().item() < gauss.item()


def test_plain_gaussian_matches_torch_and_is_clipped_only_at_the_env_edge():
    mean, log_std = torch.tensor([[0.5, -2.0, 0.0]]), torch.tensor([[-0.3, 0.2, 0.0]])
    d = Gaussian(mean, log_std)
    ref = torch.distributions.Normal(mean, log_std.exp())
    a = torch.tensor([[1.7, -0.4, 0.0]])
    torch.testing.assert_close(d.log_prob(a), ref.log_prob(a).sum(-1))
    torch.testing.assert_close(d.entropy(), ref.entropy().sum(-1))
    torch.testing.assert_close(d.mode(), mean)
    head = ActionHead(spaces.Box(-2.0, 4.0, (3,)), 4, log_std_init=0.0, box_dist="gaussian")
    with torch.no_grad():
        head.mean.bias.copy_(torch.tensor([3.0, -3.0, 0.5]))
    dist = head(torch.zeros(4000, 4))
    assert isinstance(dist, Gaussian)
    raw = dist.sample()
    # Raw samples leave [-1, 1] (the log-prob is of them); the env gets them clipped and scaled.
    assert raw.abs().max().item() > 2.0
    env = to_env_action(head.space, raw)
    assert env.min() >= -2.0 and env.max() <= 4.0
    # A mean of 3 std-1 puts ~98% of the mass on the upper bound.
    assert (env[:, 0] == 4.0).mean() == pytest.approx(0.977, abs=0.02)
    assert (env[:, 1] == -2.0).mean() == pytest.approx(0.977, abs=0.02)
    with pytest.raises(ValueError, match="box_dist"):
        ActionHead(spaces.Box(-1, 1, (2,)), 4, box_dist="beta")


def test_log_std_clamped_per_dimension():
    head = ActionHead(spaces.Box(-1, 1, (3,)), 4, log_std_init=0.0, log_std_min=-2.0, log_std_max=0.5)
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([-9.0, 0.1, 9.0]))
    d = head(torch.zeros(2, 4))
    torch.testing.assert_close(d.log_std[0], torch.tensor([-2.0, 0.1, 0.5]))
    dep = ActionHead(spaces.Box(-1, 1, (3,)), 4, log_std_init=-0.5, log_std_min=-2.0, log_std_max=0.5,
                     state_dependent_std=True)
    ls = dep(torch.randn(100, 4) * 100).log_std
    assert (ls >= -2.0).all() and (ls <= 0.5).all()
    assert dep(torch.zeros(1, 4)).log_std[0, 0].item() == pytest.approx(-0.5, abs=1e-4)


def test_discrete_multibinary_multidiscrete_dict_log_probs():
    space = spaces.Dict(
        {
            "move": spaces.Box(-1, 1, (2,)),
            "fire": spaces.MultiBinary(3),
            "target": spaces.Discrete(4),
            "modes": spaces.MultiDiscrete([2, 3]),
        }
    )
    head = ActionHead(space, 8)
    x = torch.randn(5, 8)
    d = head(x)
    act = d.sample()
    lp = d.log_prob(act)
    parts = d.parts
    expected = sum(parts[k].log_prob(act[k]) for k in space.spaces)
    torch.testing.assert_close(lp, expected)
    assert lp.shape == (5,) and d.entropy().shape == (5,)
    # Categorical log-prob against torch.distributions.
    ref = torch.distributions.Categorical(logits=head.heads["target"].logits(x)).log_prob(act["target"])
    torch.testing.assert_close(parts["target"].log_prob(act["target"]), ref)
    ref_bits = torch.distributions.Bernoulli(logits=head.heads["fire"].logits(x)).log_prob(act["fire"]).sum(-1)
    torch.testing.assert_close(parts["fire"].log_prob(act["fire"]), ref_bits)
    env_act = to_env_action(space, act)
    assert env_act["move"].shape == (5, 2) and env_act["fire"].dtype == np.int8
    assert all(space[k].contains(v[0]) for k, v in env_act.items())


def test_box_to_env_action_scales_to_bounds():
    space = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32), dtype=np.float32)
    out = to_env_action(space, torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[-2.0, 10.0], [0.0, 5.0]])


def test_categorical_sample_frequencies_and_shapes():
    # The direct multinomial sampler: batch shape kept (also for an empty batch) and the
    # empirical frequencies match softmax(logits) (4 sigma of a binomial with n = 20000).
    torch.manual_seed(0)
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0])
    d = Categorical(logits.expand(20000, 4))
    a = d.sample()
    assert a.shape == (20000,) and a.dtype == torch.int64
    freq = torch.bincount(a, minlength=4).double() / 20000
    p = torch.softmax(logits.double(), -1)
    assert torch.all((freq - p).abs() <= 4 * torch.sqrt(p * (1 - p) / 20000))
    assert Categorical(torch.zeros(2, 3, 5)).sample().shape == (2, 3)
    assert Categorical(torch.zeros(0, 5)).sample().shape == (0,)
