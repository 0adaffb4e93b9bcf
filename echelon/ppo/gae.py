"""Generalised advantage estimation (Schulman et al. 2016, https://arxiv.org/abs/1506.02438).

Pure functions over time-major arrays ``[T, B]``. Terminated ≠ truncated:

- ``terminated[t]``: the episode ended in a terminal state; the next value is 0 (no bootstrap).
- ``truncated[t]``: the episode was cut (time limit); bootstrap from ``final_values[t]``, the
  critic's value of the true last observation.
- fragment end (``t = T - 1`` and not done): bootstrap from ``last_values``, the critic's value
  of the observation after the fragment.

In every case where ``terminated | truncated`` the advantage recursion stops (the following
row belongs to another episode). All values here are in *return units* (de-normalised).
"""

from __future__ import annotations

import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    final_values: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns, both float32 ``[T, B]``.

    rewards, values, final_values: float ``[T, B]``; terminated, truncated: bool ``[T, B]``;
    last_values: float ``[B]``. ``returns = advantages + values``.
    """
    T = rewards.shape[0]
    rewards, values = rewards.float(), values.float()
    term, trunc = terminated.bool(), truncated.bool()
    next_values = torch.cat([values[1:], last_values.float().unsqueeze(0)], dim=0)
    next_values = torch.where(trunc, final_values.float(), next_values)
    next_values = torch.where(term, torch.zeros_like(next_values), next_values)
    deltas = rewards + gamma * next_values - values
    carry = gamma * gae_lambda * (~(term | trunc)).float()
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(T - 1, -1, -1):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages, advantages + values


def compute_gae_reference(
    rewards, values, terminated, truncated, final_values, last_values, gamma: float, gae_lambda: float
) -> tuple[list[list[float]], list[list[float]]]:
    """Scalar Python-loop twin of :func:`compute_gae` (for tests); nested lists ``[T][B]``."""
    T, B = len(rewards), len(rewards[0])
    adv = [[0.0] * B for _ in range(T)]
    for b in range(B):
        next_adv = 0.0
        for t in reversed(range(T)):
            if terminated[t][b]:
                next_value, cont = 0.0, 0.0
            elif truncated[t][b]:
                next_value, cont = float(final_values[t][b]), 0.0
            else:
                next_value = float(last_values[b]) if t == T - 1 else float(values[t + 1][b])
                cont = 1.0
            delta = float(rewards[t][b]) + gamma * next_value - float(values[t][b])
            next_adv = delta + gamma * gae_lambda * cont * next_adv
            adv[t][b] = next_adv
    ret = [[adv[t][b] + float(values[t][b]) for b in range(B)] for t in range(T)]
    return adv, ret
