"""``policy/`` statistics of one update's batch: pure functions of tensors, no host sync.

Every function returns 0-dim tensors on the batch's device; the learner stacks them with its
loss statistics and reads them back with one ``.cpu()`` per update (no ``float()`` per stat per
minibatch: on a GPU each of those would be a device synchronisation). Means are over the valid
entries (``mask``: rows that reach the loss).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from echelon.metrics import names as N
from echelon.metrics.actions import BINARY, BOX, ActionColumn, column_values

SATURATION = 0.95  # |a| above this (unit scale) counts as saturated: the tanh squash is flat there


def masked_moments(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population std of ``x`` over ``mask`` (same shape, bool); (0, 0) for an empty mask."""
    m = mask.to(x.dtype)
    n = m.sum().clamp(min=1.0)
    mean = (x * m).sum() / n
    var = (((x - mean) ** 2) * m).sum() / n
    return mean, var.sqrt()


def action_stats(actions: Any, mask: torch.Tensor, columns: list[ActionColumn]) -> dict[str, torch.Tensor]:
    """Continuous-action health and the trigger rates of the discrete parts.

    ``actions``: the batch actions ``[L, S, ...]`` (tensor or dict, policy unit scale); ``mask
    [L, S]`` bool. Box columns: ``policy/action_mean_norm`` (L2 norm of the mean action vector),
    ``policy/action_std`` (std of each dim over the batch, averaged over dims),
    ``policy/saturation_rate`` (share of entries with ``|a| > 0.95``). Binary columns: share of
    rows with the bit set; discrete columns: share of rows with a non-zero choice
    (``policy/trigger_rate/<name>``).
    """
    out: dict[str, torch.Tensor] = {}
    m = mask.float()
    n = m.sum().clamp(min=1.0)
    box = [column_values(actions, c).float() for c in columns if c.kind == BOX]
    if box:
        # A plain Gaussian's raw samples are unbounded; the env sees them clipped (to_env_action).
        a = torch.stack(box, dim=-1).clamp(-1.0, 1.0)  # [L, S, Dc]
        w = m.unsqueeze(-1)
        mean = (a * w).sum((0, 1)) / n  # [Dc]
        std = ((((a - mean) ** 2) * w).sum((0, 1)) / n).sqrt()
        out[N.POLICY_ACTION_MEAN_NORM] = mean.norm()
        out[N.POLICY_ACTION_STD] = std.mean()
        out[N.POLICY_SATURATION] = ((a.abs() > SATURATION).float() * w).sum() / (n * a.shape[-1])
    for c in columns:
        if c.kind == BOX:
            continue
        v = column_values(actions, c)
        hit = (v > 0.5) if c.kind == BINARY else (v != 0)
        out[N.trigger_rate_key(c.name)] = (hit.float() * m).sum() / n
    return out


def policy_std(policy: nn.Module) -> dict[str, torch.Tensor]:
    """``policy/std``: the Gaussian std of the policy's state-independent Box heads (clamped as the
    head clamps it), mean over dims; absent for state-dependent std (it varies per observation)."""
    stds = []
    for mod in policy.modules():
        log_std = getattr(mod, "log_std", None)
        if isinstance(log_std, nn.Parameter):
            stds.append(torch.clamp(log_std.detach(), mod.log_std_min, mod.log_std_max).exp().reshape(-1))
    if not stds:
        return {}
    return {N.POLICY_STD: torch.cat(stds).mean()}


def batch_policy_stats(advantages: torch.Tensor, values: torch.Tensor, actions: Any, mask: torch.Tensor,
                       columns: list[ActionColumn], policy: nn.Module) -> dict[str, torch.Tensor]:
    """Every ``policy/`` statistic of a batch except explained variance (the loss computes that).

    ``advantages [L, S]`` GAE advantages before normalisation and ``values [L, S]`` the behaviour
    critic's predictions, both in return units; ``actions``/``mask`` as in :func:`action_stats`.
    """
    with torch.no_grad():
        adv_mean, adv_std = masked_moments(advantages.float(), mask)
        v_mean, v_std = masked_moments(values.float(), mask)
        out = {N.POLICY_ADV_MEAN: adv_mean, N.POLICY_ADV_STD: adv_std, N.POLICY_VALUE_MEAN: v_mean,
               N.POLICY_VALUE_STD: v_std}
        out.update(action_stats(actions, mask, columns))
        out.update(policy_std(policy))
    return out
