"""The PPO learner: fragments in, one update, new weights out (a plain class; Ray wraps it).

One ``update`` (CleanRL order, recurrent variant):

1. per fragment: de-normalise the stored values with the current value statistics, GAE
   (:func:`~echelon.ppo.gae.compute_gae`) in return units;
2. fold the valid returns into the value normaliser (``ppo.norm_returns``) and normalise the
   targets and the old values with the new statistics (the critic learns in that space);
3. cut into segments (:mod:`echelon.ppo.segments`), recompute segment-start LSTM states with
   the current network, write everything into the preallocated :class:`SegmentBuffer`;
4. ``ppo.epochs`` × ``ppo.num_minibatches`` Adam steps on whole segments with gradient-norm
   clipping; with ``ppo.lr_schedule: adaptive_kl`` the rate follows each minibatch's
   ``approx_kl`` (:mod:`echelon.ppo.schedule`); stop early once a minibatch's ``approx_kl``
   exceeds ``ppo.target_kl``; with ``ppo.recompute_adv`` the advantages and value targets are
   recomputed with the updated critic before every epoch after the first;
5. fold the fragments' observation moments into the observation normaliser (after the
   gradient steps, so training sees the statistics the fragments were sampled with), bump
   the version.
"""

from __future__ import annotations

import dataclasses
import math
import time
from contextlib import nullcontext
from typing import Any, Optional

import numpy as np
import torch
from gymnasium import spaces

from echelon.config import TrainConfig
from echelon.metrics import names as N
from echelon.metrics.actions import action_columns
from echelon.metrics.policy_stats import batch_policy_stats
from echelon.model.actor_critic import ActorCritic, LSTMState, build_policy
from echelon.ppo.buffer import Fragment, SegmentBuffer
from echelon.ppo.gae import compute_gae
from echelon.ppo.loss import segment_loss
from echelon.model.normalization import merge_moments, moments
from echelon.ppo.schedule import adaptive_kl_lr, linear_lr
from echelon.ppo.segments import segment_layout, segment_masks, segment_start_states, to_segments


def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to_tensor(x: Any, device: torch.device) -> Any:
    """Tensor on ``device`` from an array (or dict of arrays), sharing memory where it can.

    Fragments that came through Ray are read-only views of the object store; torch has no
    read-only tensors (``as_tensor`` warns and would let a later in-place op write into the
    store), so those are copied once (on a GPU that copy is the host-to-device one anyway).
    Writable arrays are wrapped without a copy.
    """
    if isinstance(x, dict):
        return {k: _to_tensor(v, device) for k, v in x.items()}
    arr = np.asarray(x)
    if not arr.flags.writeable:
        return torch.tensor(arr, device=device)
    return torch.as_tensor(arr, device=device)


def measured_update(learner: "Learner", fragments: list[Fragment]) -> dict[str, float]:
    """``learner.update(fragments)`` plus what both training loops log about it.

    Adds ``lag_max`` / ``lag_mean`` (learner version before the update minus each fragment's
    version stamp, in versions), ``update_s`` (seconds), ``env_steps`` and ``agent_steps``
    consumed (rows x steps of ``[T, R]``) and ``learner_samples_per_s`` (agent steps / s).
    """
    lags = [learner.version - int(f.version) for f in fragments]
    t0 = time.perf_counter()
    stats = dict(learner.update(list(fragments)))
    seconds = time.perf_counter() - t0
    agent_steps = sum(int(f.rewards.shape[0] * f.rewards.shape[1]) for f in fragments)
    stats.update(
        lag_max=max(lags),
        lag_mean=sum(lags) / len(lags),
        update_s=seconds,
        env_steps=sum(int(f.env_steps) for f in fragments),
        agent_steps=agent_steps,
        learner_samples_per_s=agent_steps / seconds if seconds > 0 else math.inf,
    )
    return stats



def bc_weight(ppo, env_steps: int) -> float:
    """The imitation weight after ``env_steps`` env steps: ``ppo.bc_coef`` decayed linearly to 0 at
    ``ppo.bc_env_steps`` (held when that is null). Once it is 0 the workers stop recording the
    teacher's actions (the driver asks them not to)."""
    if ppo.bc_env_steps is None:
        return ppo.bc_coef
    return ppo.bc_coef * max(0.0, 1.0 - env_steps / ppo.bc_env_steps)

class Learner:
    """Owns the policy being trained, its Adam optimiser and the update counters.

    The optimiser has two parameter groups: everything but the value head, then the value head
    (``ppo.critic_lr`` sets the latter's rate; null = the same as the policy's).
    """

    def __init__(self, cfg: TrainConfig, obs_space: spaces.Box, action_space: spaces.Space) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.learner.device)
        self.policy: ActorCritic = build_policy(cfg, obs_space, action_space).to(self.device)
        self.action_space = action_space
        params, critic = list(self.policy.parameters()), list(self.policy.critic.parameters())
        # The critic's parameters are the last ones (ActorCritic registers it last), so the two
        # groups index parameters in the same order as one group did: older optimiser states load.
        if any(a is not b for a, b in zip(params[-len(critic):], critic, strict=True)):
            raise RuntimeError("ActorCritic must register the critic head last (optimizer groups rely on it)")
        self.optimizer = torch.optim.Adam(
            [{"params": params[: -len(critic)]}, {"params": critic}], lr=cfg.ppo.lr, eps=1e-5
        )
        # The policy's learning rate carried between updates by the adaptive_kl schedule.
        self.adaptive_lr = cfg.ppo.lr
        self._data: list[dict] = []
        self.version = 0
        self.env_steps = 0
        self.updates = 0
        self.optimizer_steps = 0  # Adam steps, cumulative (train/optimizer_steps)
        self.amp = cfg.learner.amp and self.device.type == "cuda"
        self._buffer: SegmentBuffer | None = None
        self._columns = action_columns(action_space)  # named action dims for the policy/ stats

    # -- weights -----------------------------------------------------------------------------
    def get_weights(self) -> tuple[int, dict]:
        """``(version, state_dict)`` with CPU tensors (normaliser buffers included)."""
        return self.version, {k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()}

    def set_weights(self, version: int, state_dict: dict) -> None:
        self.policy.load_state_dict(state_dict)
        self.version = int(version)

    def state_dict(self) -> dict:
        """Everything to resume: model (with normalisers), optimiser, counters."""
        return {
            "model": self.get_weights()[1],
            "optimizer": self.optimizer.state_dict(),
            "counters": {"version": self.version, "env_steps": self.env_steps, "updates": self.updates,
                         "adaptive_lr": self.adaptive_lr,
                         "optimizer_steps": self.optimizer_steps},
        }

    def load_state_dict(self, d: dict) -> None:
        self.policy.load_state_dict(d["model"])
        self.optimizer.load_state_dict(_two_groups(d["optimizer"], len(self.optimizer.param_groups[1]["params"])))
        self.version = int(d["counters"]["version"])
        self.env_steps = int(d["counters"]["env_steps"])
        self.updates = int(d["counters"]["updates"])
        ppo = self.cfg.ppo
        # Checkpoints from before adaptive_kl carry no rate: start from ppo.lr.
        self.adaptive_lr = min(max(float(d["counters"].get("adaptive_lr", ppo.lr)), ppo.lr_min), ppo.lr_cap)
        self.optimizer_steps = int(d["counters"].get("optimizer_steps", 0))  # absent in older checkpoints

    # -- update ------------------------------------------------------------------------------
    def _lr(self) -> float:
        """The policy's learning rate at the start of an update (``ppo.lr_schedule``)."""
        ppo = self.cfg.ppo
        if ppo.lr_schedule == "linear":
            return linear_lr(ppo.lr, self.env_steps, self.cfg.learner.total_env_steps)
        if ppo.lr_schedule == "adaptive_kl":
            return self.adaptive_lr
        return ppo.lr

    def bc_coef(self) -> float:
        """The imitation weight of this update (:func:`bc_weight` at the learner's env steps)."""
        return bc_weight(self.cfg.ppo, self.env_steps)

    def _set_lr(self, lr: float) -> float:
        """Set both groups' rates from the policy's ``lr``; returns the critic's."""
        ppo = self.cfg.ppo
        if ppo.critic_lr is None:
            critic_lr = lr
        elif ppo.lr_schedule == "linear":
            critic_lr = linear_lr(ppo.critic_lr, self.env_steps, self.cfg.learner.total_env_steps)
        else:
            critic_lr = ppo.critic_lr
        self.optimizer.param_groups[0]["lr"] = lr
        self.optimizer.param_groups[1]["lr"] = critic_lr
        return critic_lr

    def _prepare(self, fragments: list[Fragment]) -> SegmentBuffer:
        """Steps 1-3 of the update: GAE, value normalisation, segments into the buffer."""
        ppo, policy, dev = self.cfg.ppo, self.policy, self.device
        data = []
        for f in fragments:
            t = {
                "obs": _to_tensor(f.obs, dev).float(),
                "actions": _to_tensor(f.actions, dev),
                "logprobs": _to_tensor(f.logprobs, dev).float(),
                "values_n": _to_tensor(f.values, dev).float(),
                "episode_start": _to_tensor(f.episode_start, dev).bool(),
                "valid": _to_tensor(f.valid, dev).bool(),
                "state0": LSTMState(_to_tensor(f.state0.h, dev).float(), _to_tensor(f.state0.c, dev).float()),
            }
            if f.teacher is not None:
                t["teacher"] = _to_tensor(f.teacher, dev)
            with torch.no_grad():
                values = policy.denormalize_value(t["values_n"])
                adv, ret = compute_gae(
                    _to_tensor(f.rewards, dev).float(),
                    values,
                    _to_tensor(f.terminated, dev),
                    _to_tensor(f.truncated, dev),
                    policy.denormalize_value(_to_tensor(f.final_values, dev).float()),
                    policy.denormalize_value(_to_tensor(f.last_values, dev).float()),
                    ppo.gamma,
                    ppo.gae_lambda,
                )
            t.update(
                values=values, advantages=adv, returns=ret,
                # Kept for ppo.recompute_adv: GAE again with the updated critic's values.
                rewards=_to_tensor(f.rewards, dev).float(), terminated=_to_tensor(f.terminated, dev),
                truncated=_to_tensor(f.truncated, dev),
                final_v=policy.denormalize_value(_to_tensor(f.final_values, dev).float()),
                last_v=policy.denormalize_value(_to_tensor(f.last_values, dev).float()),
            )
            data.append(t)
        if ppo.norm_returns:
            batch = moments(np.zeros((0,)))
            for t in data:
                ret = t["returns"].cpu().numpy().reshape(-1)
                batch = merge_moments(batch, moments(ret, t["valid"].cpu().numpy().reshape(-1)))
            policy.value_norm.merge(batch)

        layouts = [segment_layout(t["obs"].shape[0], ppo.bptt_len, ppo.burn_in) for t in data]
        S = sum(lay.K * t["obs"].shape[1] for lay, t in zip(layouts, data, strict=False))
        buf = self._buffer
        teacher = all("teacher" in t for t in data)
        if buf is None or buf.S != S or buf.L != ppo.bptt_len or (buf.teacher is not None) != teacher:
            buf = SegmentBuffer(ppo.bptt_len, S, policy.obs_dim, self.action_space, policy.state_size, dev,
                                teacher=teacher)
            self._buffer = buf
        col = 0
        with torch.no_grad():
            for lay, t in zip(layouts, data, strict=False):
                n = lay.K * t["obs"].shape[1]
                cols = slice(col, col + n)
                buf.obs[:, cols] = to_segments(t["obs"], lay)
                _write_actions(buf.actions, t["actions"], lay, cols)
                if teacher:
                    _write_actions(buf.teacher, t["teacher"], lay, cols)
                buf.logprobs[:, cols] = to_segments(t["logprobs"], lay)
                buf.values[:, cols] = to_segments(policy.normalize_value(t["values"]), lay)
                buf.advantages[:, cols] = to_segments(t["advantages"], lay)
                buf.returns[:, cols] = to_segments(policy.normalize_value(t["returns"]), lay)
                buf.episode_start[:, cols] = to_segments(t["episode_start"], lay)
                rec, loss_mask = segment_masks(t["valid"], lay)
                buf.recurrent_valid[:, cols] = rec
                buf.loss_mask[:, cols] = loss_mask
                s0 = segment_start_states(policy, t["obs"], t["state0"], t["episode_start"], t["valid"], lay)
                buf.h0[cols], buf.c0[cols] = s0.h, s0.c
                t["layout"], t["cols"] = lay, cols
                col += n
        self._data = data
        return buf

    @torch.no_grad()
    def _recompute_advantages(self, buf: SegmentBuffer) -> None:
        """GAE again with the current critic; rewrites ``buf.advantages`` and ``buf.returns``.

        Each fragment is unrolled whole from its ``state0`` (``[T, R]``, the same start the
        segment states were recomputed from). The bootstrap values at truncations and at the
        fragment's end stay those stored at sampling time (de-normalised with this update's
        statistics): recomputing them would need the LSTM state past the fragment. ``buf.values``
        (the old values, for value clipping) is left as it was.
        """
        ppo, policy = self.cfg.ppo, self.policy
        for t in self._data:
            values_n = policy.unroll(t["obs"], t["state0"], t["episode_start"], t["valid"]).value.float()
            adv, ret = compute_gae(t["rewards"], policy.denormalize_value(values_n), t["terminated"],
                                   t["truncated"], t["final_v"], t["last_v"], ppo.gamma, ppo.gae_lambda)
            buf.advantages[:, t["cols"]] = to_segments(adv, t["layout"])
            buf.returns[:, t["cols"]] = to_segments(policy.normalize_value(ret), t["layout"])

    def update(self, fragments: list[Fragment]) -> dict[str, Any]:
        """One PPO update on ``fragments``; returns float stats; ``version += 1``.

        A batch with a non-finite number in it, or a minibatch whose loss or gradient is not
        finite, is not trained on: that optimizer step is skipped, the rest of the update too,
        and the stats carry ``nonfinite = 1.0`` with ``report`` (where, which rows, batch
        statistics, parameter norms) instead of losses. The data counts as consumed (``updates``
        and ``env_steps`` advance); the weights and their ``version`` stay as they were.
        """
        t_start = time.perf_counter()
        ppo = self.cfg.ppo
        first_bad = self.cfg.learner.debug_nan_update
        if first_bad is not None and 0 <= self.updates + 1 - first_bad < self.cfg.learner.debug_nan_count:
            fragments = _poisoned(fragments)  # tests only: one NaN observation in this update's batch
        report = nonfinite_report(fragments)
        if report is not None:
            return self._skip(fragments, report, t_start)
        self.policy.train()
        t_prep = time.perf_counter()
        buf = self._prepare(fragments)
        prepare_s = time.perf_counter() - t_prep
        lr = self._lr()
        critic_lr = self._set_lr(lr)
        bc_coef = self.bc_coef() if buf.teacher is not None else 0.0
        lrs, critic_lrs = [], []
        # The behaviour data does not change across epochs: its policy/ statistics once, on device.
        batch_stats = batch_policy_stats(buf.advantages, self.policy.denormalize_value(buf.values), buf.actions,
                                         buf.loss_mask, self._columns, self.policy)
        if self._wants_advantage_sample():
            batch_stats[N.DIST_ADVANTAGES] = _subsample(buf.advantages[buf.loss_mask], ADVANTAGE_SAMPLE)

        S = buf.S
        n_mb = min(ppo.num_minibatches, S)
        # Loss statistics are summed on the device and read back once, after the last minibatch;
        # per minibatch the host reads only the three numbers it must act on (finite loss and
        # gradient, the KL early stop), in one transfer.
        sums: dict[str, torch.Tensor] = {}
        grad_norm_sum = torch.zeros((), device=self.device)
        n_steps, stopped = 0, False
        timer = _PhaseTimer(self.device)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()
        epochs_run = 0
        for epoch in range(ppo.epochs):
            epochs_run += 1
            if epoch > 0 and ppo.recompute_adv:
                self._recompute_advantages(buf)
            perm = torch.randperm(S, device=self.device)
            for idx in torch.tensor_split(perm, n_mb):
                timer.start()
                with autocast:
                    loss, stats = segment_loss(self.policy, buf.minibatch(idx), ppo, ppo.burn_in, bc_coef)
                timer.lap("forward")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # Norm before clipping: the number that tells whether clipping is active.
                gn = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), ppo.max_grad_norm)
                loss_v, gn_v, kl_v = torch.stack([loss.detach().float(), gn.float(),
                                                  stats["approx_kl"].float()]).cpu().tolist()
                if not (math.isfinite(loss_v) and math.isfinite(gn_v)):
                    self.optimizer.zero_grad(set_to_none=True)
                    where = "loss" if not math.isfinite(loss_v) else "gradient"
                    report = {"where": where, "epoch": epochs_run, "minibatch_step": n_steps,
                              "batch": batch_statistics(fragments), "rows": []}
                    return self._skip(fragments, report, t_start, steps_done=n_steps)
                if ppo.lr_schedule == "adaptive_kl":
                    # Before the step, as rsl_rl does: this minibatch's KL (measured before its
                    # own step) already says whether the steps so far were too large or small.
                    lr = self.adaptive_lr = adaptive_kl_lr(lr, kl_v, ppo.desired_kl, ppo.lr_min, ppo.lr_cap)
                    critic_lr = self._set_lr(lr)
                lrs.append(lr)
                critic_lrs.append(critic_lr)
                self.optimizer.step()
                timer.lap("backward")
                grad_norm_sum = grad_norm_sum + gn.detach().float()
                for k, v in stats.items():
                    sums[k] = sums[k] + v.float() if k in sums else v.float()
                n_steps += 1
                if ppo.target_kl is not None and kl_v > ppo.target_kl:
                    stopped = True
                    break
            if stopped:
                break

        if ppo.norm_obs:
            for f in fragments:
                self.policy.obs_norm.merge(f.obs_moments)
        self.version += 1
        self.updates += 1
        self.optimizer_steps += n_steps
        self.env_steps += sum(int(f.env_steps) for f in fragments)
        # The one read-back of the update's statistics.
        scalars = {k: v / max(n_steps, 1) for k, v in sums.items()}
        scalars["grad_norm"] = grad_norm_sum / max(n_steps, 1)
        scalars["value_norm_mean"] = self.policy.value_norm.mean
        scalars["value_norm_std"] = torch.sqrt(self.policy.value_norm.var)
        scalars["valid_frac"] = buf.loss_mask.float().mean()
        sample = batch_stats.pop(N.DIST_ADVANTAGES, None)
        scalars.update(batch_stats)
        out = _read_back(scalars, sample)
        out.update(timer.totals())
        out.update(
            # Mean rate of this update's steps (adaptive_kl moves it between minibatches).
            lr=float(np.mean(lrs)) if lrs else lr,
            critic_lr=float(np.mean(critic_lrs)) if critic_lrs else critic_lr,
            epochs=float(epochs_run),
            minibatch_steps=float(n_steps),
            optimizer_steps=self.optimizer_steps,
            kl_early_stop=float(stopped),
            version=float(self.version),
            **({"bc_coef": bc_coef} if buf.teacher is not None else {}),
            learner_prepare_s=prepare_s,
            learn_s=time.perf_counter() - t_start,
        )
        self._data = []
        return out

    def _wants_advantage_sample(self) -> bool:
        """True on the updates whose record carries distributions/ histograms (metrics.histogram_every)."""
        m = getattr(self.cfg, "metrics", None)
        return m is not None and m.level == "full" and (self.updates + 1) % m.histogram_every == 0

    def _skip(self, fragments: list[Fragment], report: dict, t_start: float, steps_done: int = 0) -> dict[str, Any]:
        """Count a batch that was not trained on (see :meth:`update`)."""
        self._data = []
        self.updates += 1
        self.env_steps += sum(int(f.env_steps) for f in fragments)
        report["param_norms"] = {name: float(p.detach().norm()) for name, p in self.policy.named_parameters()}
        report["optimizer_steps_before_skip"] = steps_done
        return {"nonfinite": 1.0, "report": report, "version": float(self.version),
                "learn_s": time.perf_counter() - t_start}


ADVANTAGE_SAMPLE = 2048  # advantages sent for the distributions/advantages histogram (at most)


def _subsample(x: torch.Tensor, k: int) -> torch.Tensor:
    """At most ``k`` entries of the 1-D ``x``, uniformly without replacement (on x's device)."""
    if x.numel() <= k:
        return x
    return x[torch.randperm(x.numel(), device=x.device)[:k]]


def _read_back(scalars: dict[str, torch.Tensor], sample: Optional[torch.Tensor]) -> dict[str, Any]:
    """``{key: float}`` of 0-dim tensors (plus the advantage sample as a NumPy array under
    ``distributions/advantages``) with one device-to-host copy."""
    keys = list(scalars)
    parts = [torch.stack([scalars[k].detach().float().reshape(()) for k in keys])]
    if sample is not None:
        parts.append(sample.detach().float().reshape(-1))
    flat = torch.cat(parts).cpu().numpy()
    out: dict[str, Any] = {k: float(v) for k, v in zip(keys, flat[: len(keys)], strict=True)}
    if sample is not None:
        out[N.DIST_ADVANTAGES] = flat[len(keys):].copy()
    return out


class _PhaseTimer:
    """Seconds spent in the forward and backward phases of the minibatch loop.

    On CPU wall-clock laps; on CUDA, events recorded in the stream and read after the update
    (the work is asynchronous, so host clocks would time the kernel launches only).
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.laps: dict[str, list] = {"forward": [], "backward": []}
        self._mark: Any = None

    def _now(self) -> Any:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def start(self) -> None:
        self._mark = self._now()

    def lap(self, phase: str) -> None:
        now = self._now()
        self.laps[phase].append((self._mark, now))
        self._mark = now

    def totals(self) -> dict[str, float]:
        """``{"learner_forward_s", "learner_backward_s"}`` summed over the minibatches."""
        if self.cuda and any(self.laps.values()):
            torch.cuda.synchronize()
            seconds = {p: sum(a.elapsed_time(b) for a, b in laps) / 1e3 for p, laps in self.laps.items()}
        else:
            seconds = {p: sum(b - a for a, b in laps) for p, laps in self.laps.items()}
        return {f"learner_{p}_s": s for p, s in seconds.items()}


_CHECKED = ("obs", "rewards", "values", "logprobs", "final_values", "last_values")


def _finite_stats(a: np.ndarray) -> dict[str, float]:
    finite = a[np.isfinite(a)]
    return {
        "min": float(finite.min()) if finite.size else math.nan,
        "max": float(finite.max()) if finite.size else math.nan,
        "mean": float(finite.mean()) if finite.size else math.nan,
        "nonfinite": int(a.size - finite.size),
    }


def batch_statistics(fragments: list[Fragment]) -> dict[str, dict[str, float]]:
    """Min / max / mean over the finite values and the count of non-finite ones, per array."""
    out = {}
    for name in _CHECKED:
        out[name] = _finite_stats(np.concatenate([np.asarray(getattr(f, name), np.float64).reshape(-1)
                                                  for f in fragments]))
    return out


def nonfinite_report(fragments: list[Fragment]) -> Optional[dict[str, Any]]:
    """None when every number of the batch is finite; else where the bad ones are.

    ``rows``: ``[{"fragment", "array", "row", "steps"}]`` for up to 20 rows (row = agent row
    ``r`` of ``[T, R, ...]``, steps = the time indices with a non-finite value in that row).
    """
    rows = []
    for i, f in enumerate(fragments):
        for name in _CHECKED:
            a = np.asarray(getattr(f, name))
            bad = ~np.isfinite(a)
            if not bad.any():
                continue
            if a.ndim == 1:  # [R]
                rows += [{"fragment": i, "array": name, "row": int(r), "steps": []} for r in np.nonzero(bad)[0]]
                continue
            per = bad.reshape(a.shape[0], a.shape[1], -1).any(-1)  # [T, R]
            for r in np.nonzero(per.any(0))[0]:
                rows.append({"fragment": i, "array": name, "row": int(r),
                             "steps": [int(t) for t in np.nonzero(per[:, r])[0]]})
    if not rows:
        return None
    return {"where": "batch", "batch": batch_statistics(fragments), "rows": rows[:20], "bad_rows": len(rows)}


def _two_groups(opt_state: dict, n_critic: int) -> dict:
    """An optimiser state dict from before the critic had its own group, split into two groups.

    Adam numbers parameters across groups in order; the critic's ``n_critic`` parameters are the
    last ones, so splitting the single group's index list keeps every parameter's moments.
    """
    groups = opt_state["param_groups"]
    if len(groups) != 1:
        return opt_state
    ids = list(groups[0]["params"])
    first, second = dict(groups[0], params=ids[:-n_critic]), dict(groups[0], params=ids[-n_critic:])
    return {"state": opt_state["state"], "param_groups": [first, second]}


def _poisoned(fragments: list[Fragment]) -> list[Fragment]:
    first = fragments[0]
    obs = np.array(first.obs, copy=True)
    obs[0, 0, 0] = np.nan
    return [dataclasses.replace(first, obs=obs), *fragments[1:]]


def _write_actions(dst: Any, src: Any, layout, cols: slice) -> None:
    if isinstance(dst, dict):
        for k in dst:
            _write_actions(dst[k], src[k], layout, cols)
        return
    seg = to_segments(src, layout)
    dst[:, cols] = seg.reshape(dst[:, cols].shape).to(dst.dtype)
