"""Learning-rate schedules of ``ppo.lr_schedule`` (pure functions of numbers).

``adaptive_kl`` is the KL-adaptive rule of legged-robot PPO (Rudin et al. 2021, "Learning to
Walk in Minutes Using Massively Parallel Deep RL", https://arxiv.org/abs/2109.11978, and its
``rsl_rl`` trainer): after every minibatch, a KL above twice the desired value cuts the rate by
``ADAPT_FACTOR`` and one below half of it raises the rate by the same factor; in between it stays.
It keeps each update's step in policy space near ``desired_kl`` whatever the task's scale, which
a fixed or linearly decayed rate does not (docs/learning.md).
"""

from __future__ import annotations

# rsl_rl's factor: large enough to react within one update (4-40 minibatches), small enough
# that one noisy minibatch KL moves the rate by less than 2x.
ADAPT_FACTOR = 1.5

# Linear decay ends at this share of ppo.lr rather than 0, so a run resumed past its budget moves.
LINEAR_FLOOR = 1e-2


def adaptive_kl_lr(lr: float, kl: float, desired_kl: float, lr_min: float, lr_max: float,
                   factor: float = ADAPT_FACTOR) -> float:
    """The next learning rate after a minibatch with ``approx_kl = kl`` (nats).

    ``kl > 2 * desired_kl`` → ``lr / factor``; ``kl < desired_kl / 2`` → ``lr * factor``; else
    ``lr``; the result is clamped into ``[lr_min, lr_max]``. A non-finite ``kl`` cuts the rate
    (a step that produced it was too large or broken, never too small).
    """
    if not kl == kl or kl > 2.0 * desired_kl:  # NaN compares unequal to itself
        lr = lr / factor
    elif kl < 0.5 * desired_kl:
        lr = lr * factor
    return min(max(lr, lr_min), lr_max)


def linear_lr(lr: float, env_steps: int, total_env_steps: int) -> float:
    """``lr`` decayed linearly to ``LINEAR_FLOOR * lr`` at ``total_env_steps`` (and held there)."""
    frac = 1.0 - min(env_steps / total_env_steps, 1.0)
    return max(lr * frac, lr * LINEAR_FLOOR)
