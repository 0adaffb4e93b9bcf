"""PPO clipped surrogate loss (Schulman et al. 2017, https://arxiv.org/abs/1707.06347).

Pure functions of tensors; they return the loss and statistics and never log. Every mean is
over the entries where ``mask`` is True; masked-out entries go through ``torch.where`` so that
whatever they hold (padding, garbage, NaN-free or not) changes neither the loss nor any
gradient.
"""

from __future__ import annotations

import torch

from echelon.model.actor_critic import ActorCritic
from echelon.model.distributions import imitation_loss


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over ``mask`` (same shape, bool); 0 when the mask is empty."""
    x = torch.where(mask, x, torch.zeros_like(x))
    return x.sum() / mask.sum().clamp(min=1)


def explained_variance(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``1 - Var[target - pred] / Var[target]`` over ``mask``; NaN when ``Var[target] = 0``."""
    mt = masked_mean(target, mask)
    var_t = masked_mean((target - mt) ** 2, mask)
    resid = target - pred
    mr = masked_mean(resid, mask)
    var_r = masked_mean((resid - mr) ** 2, mask)
    return torch.where(var_t > 0, 1 - var_r / var_t, torch.full_like(var_t, float("nan")))


def ppo_loss(
    new_logprob: torch.Tensor,
    old_logprob: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    mask: torch.Tensor,
    clip_coef: float,
    clip_vloss: bool,
    ent_coef: float,
    vf_coef: float,
    norm_adv: bool,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total PPO loss (scalar) and detached stats.

    All inputs share one shape (``[L, M]`` or flat), float32 except ``mask`` (bool). Values and
    returns are in the critic's normalised space. ``approx_kl`` is the low-variance estimator
    ``E[(r - 1) - log r]`` (http://joschu.net/blog/kl-approx.html).
    """
    mask = mask.bool()
    adv = advantages
    if norm_adv:
        mean = masked_mean(adv, mask)
        std = torch.sqrt(masked_mean((adv - mean) ** 2, mask))
        adv = (adv - mean) / (std + 1e-8)
    logratio = torch.where(mask, new_logprob - old_logprob, torch.zeros_like(new_logprob))
    ratio = torch.exp(logratio)
    pg1 = -adv * ratio
    pg2 = -adv * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    policy_loss = masked_mean(torch.max(pg1, pg2), mask)

    v_unclipped = (new_values - returns) ** 2
    if clip_vloss:
        v_clipped = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
        v_loss = 0.5 * masked_mean(torch.max(v_unclipped, (v_clipped - returns) ** 2), mask)
    else:
        v_loss = 0.5 * masked_mean(v_unclipped, mask)

    ent = masked_mean(entropy, mask)
    loss = policy_loss - ent_coef * ent + vf_coef * v_loss
    with torch.no_grad():
        stats = {
            "policy_loss": policy_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": ent.detach(),
            "approx_kl": masked_mean((ratio - 1) - logratio, mask),
            "clipfrac": masked_mean(((ratio - 1).abs() > clip_coef).float(), mask),
            "explained_variance": explained_variance(old_values, returns, mask),
        }
    return loss, stats


def segment_loss(
    policy: ActorCritic, batch: dict, ppo, burn_in: int = 0, bc_coef: float = 0.0
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO loss of a minibatch of segments (``batch`` from :meth:`SegmentBuffer.minibatch`).

    Unrolls the policy over ``[L, M]`` from ``batch["state0"]``; the first ``burn_in`` steps run
    without gradient and only warm up the state. ``ppo`` is a :class:`~echelon.config.PPOConfig`.
    With ``batch["teacher"]`` present, ``bc_coef`` times the imitation loss of the teacher's
    actions (:func:`~echelon.model.distributions.imitation_loss`, masked mean) is added and
    reported as ``bc_loss``. Once ``ppo.bc_env_steps`` have passed, the training loops stop asking
    the collectors for the teacher's actions, so neither is computed any more.
    """
    obs, es, rv = batch["obs"], batch["episode_start"], batch["recurrent_valid"]
    state = batch["state0"]
    if burn_in > 0:
        with torch.no_grad():
            state = policy.unroll(obs[:burn_in], state, es[:burn_in], rv[:burn_in]).state
    out = policy.unroll(obs[burn_in:], state, es[burn_in:], rv[burn_in:])

    def tail(x):
        return {k: tail(v) for k, v in x.items()} if isinstance(x, dict) else x[burn_in:]

    new_logprob = out.dist.log_prob(tail(batch["actions"]))
    loss, stats = ppo_loss(
        new_logprob,
        batch["logprobs"][burn_in:],
        batch["advantages"][burn_in:],
        out.value.float(),
        batch["values"][burn_in:],
        batch["returns"][burn_in:],
        out.dist.entropy(),
        batch["loss_mask"][burn_in:],
        clip_coef=ppo.clip_coef,
        clip_vloss=ppo.clip_vloss,
        ent_coef=ppo.ent_coef,
        vf_coef=ppo.vf_coef,
        norm_adv=ppo.norm_adv,
    )
    if policy.next_obs_head is not None:
        aux = next_obs_loss(
            policy.predict_next_obs(out.features),
            policy.normalized_obs(obs[burn_in:]).detach(),
            batch["loss_mask"][burn_in:],
            rv[burn_in:],
            es[burn_in:],
        )
        loss = loss + ppo.aux_coef * aux
        stats["aux_loss"] = aux.detach()
    if "teacher" in batch:
        bc = masked_mean(imitation_loss(out.dist, tail(batch["teacher"])), batch["loss_mask"][burn_in:])
        if bc_coef > 0:
            loss = loss + bc_coef * bc
        stats["bc_loss"] = bc.detach()
    return loss, stats


def next_obs_loss(
    pred: torch.Tensor, target_obs: torch.Tensor, loss_mask: torch.Tensor, valid: torch.Tensor,
    episode_start: torch.Tensor,
) -> torch.Tensor:
    """Mean squared error of next-observation predictions, per observation dimension.

    ``pred [L, M, D]``: the prediction made at step ``t`` of the observation at ``t + 1``;
    ``target_obs [L, M, D]`` (normalised); ``loss_mask``, ``valid``, ``episode_start [L, M]``
    bool. A pair counts when step ``t`` reaches the loss and step ``t + 1`` is valid and in the
    same episode; the last step of a segment has no target inside it and is left out.
    """
    pair = loss_mask[:-1] & valid[1:] & ~episode_start[1:]  # [L - 1, M]
    # Zero the left-out pairs before squaring: garbage (even NaN) there must not reach a gradient.
    diff = torch.where(pair.unsqueeze(-1), pred[:-1] - target_obs[1:], torch.zeros((), dtype=pred.dtype))
    return masked_mean((diff**2).mean(-1), pair)
