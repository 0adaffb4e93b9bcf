"""policy/ statistics of a batch against hand-computed values."""

import math

import pytest
import torch
from gymnasium import spaces

from echelon.metrics import names as N
from echelon.metrics.actions import action_columns
from echelon.metrics.policy_stats import action_stats, batch_policy_stats, masked_moments, policy_std
from echelon.model.distributions import ActionHead


def test_masked_moments_ignore_masked_entries():
    x = torch.tensor([[1.0, 100.0], [3.0, -50.0]])
    mask = torch.tensor([[True, False], [True, False]])
    mean, std = masked_moments(x, mask)
    assert mean.item() == 2.0 and std.item() == 1.0
    mean, std = masked_moments(x, torch.zeros_like(mask))
    assert mean.item() == 0.0 and std.item() == 0.0


def test_action_stats_by_hand():
    space = spaces.Dict({"move": spaces.Box(-1, 1, (2,)), "trigger": spaces.MultiBinary(2),
                         "ewar": spaces.Discrete(3)})
    cols = action_columns(space)
    # Three valid rows (and one masked garbage row) of [L=2, S=2].
    move = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[-0.5, 0.5], [9.0, 9.0]]])
    trigger = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]]])
    ewar = torch.tensor([[2, 0], [0, 1]])
    mask = torch.tensor([[True, True], [True, False]])
    s = action_stats({"move": move, "trigger": trigger, "ewar": ewar}, mask, cols)
    # Mean action (1/6, 1/6); per-dim std: sqrt(((5/6)^2 + (1/6)^2 + (2/3)^2) / 3), sqrt(((1/6)^2*2 + (1/3)^2) / 3).
    assert s[N.POLICY_ACTION_MEAN_NORM].item() == pytest.approx(math.hypot(1 / 6, 1 / 6))
    std0 = math.sqrt(((5 / 6) ** 2 + (1 / 6) ** 2 + (2 / 3) ** 2) / 3)
    std1 = math.sqrt((2 * (1 / 6) ** 2 + (1 / 3) ** 2) / 3)
    assert s[N.POLICY_ACTION_STD].item() == pytest.approx((std0 + std1) / 2, rel=1e-6)
    assert s[N.POLICY_SATURATION].item() == pytest.approx(1 / 6)  # one |a| = 1 among 6 entries
    assert s[N.trigger_rate_key("primary")].item() == pytest.approx(2 / 3)
    assert s[N.trigger_rate_key("vent")].item() == pytest.approx(1 / 3)
    assert s[N.trigger_rate_key("ewar")].item() == pytest.approx(1 / 3)


def test_policy_std_reads_the_clamped_parameter():
    head = ActionHead(spaces.Box(-1, 1, (2,)), 4, log_std_init=0.0, log_std_min=-5.0, log_std_max=2.0)
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([math.log(0.5), 9.0]))  # the second is clamped to 2
    assert policy_std(head)[N.POLICY_STD].item() == pytest.approx((0.5 + math.exp(2.0)) / 2)
    assert policy_std(ActionHead(spaces.Box(-1, 1, (2,)), 4, state_dependent_std=True)) == {}


def test_batch_policy_stats_are_device_tensors_without_nan():
    space = spaces.Box(-1, 1, (1,))
    head = ActionHead(space, 4)
    mask = torch.tensor([[True, True]])
    s = batch_policy_stats(torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 2.0]]), torch.zeros(1, 2, 1), mask,
                           action_columns(space), head)
    assert s[N.POLICY_ADV_MEAN].item() == 2.0 and s[N.POLICY_ADV_STD].item() == 1.0
    assert s[N.POLICY_VALUE_MEAN].item() == 1.0 and s[N.POLICY_VALUE_STD].item() == 1.0
    assert all(v.dim() == 0 and torch.isfinite(v) for v in s.values())
