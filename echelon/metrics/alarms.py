"""Collapse alarms: watch the update records for the signs of a PPO run going wrong.

A long PPO run can climb and then fall back to random level with nothing in the log flagging
it (docs/learning.md tells that story: approx_kl 0.2-0.9 per update, the gradient norm growing
20x, entropy falling, the return gone). Each alarm here reads one signal of the update records
(``update(record)``), decides whether that signal is in trouble at this update, and a latch turns
a *sustained* condition into exactly one warning per episode of trouble:

- ``kl_high``: the median ``policy/approx_kl`` of the last ``window`` updates is above
  ``kl_factor`` × the run's KL target (``ppo.target_kl``, else ``ppo.desired_kl``);
- ``grad_norm_growth``: the median pre-clip ``train/grad_norm`` of the last ``window`` updates is
  ``grad_growth`` × the lowest such median seen earlier in the run, while the return is not
  near its best (below);
- ``entropy_collapse``: the mean ``policy/entropy`` of the last ``window`` updates has fallen
  below ``entropy_floor`` × the first window's (when that was positive; else more than
  ``entropy_drop`` nats below it), while the return is not near its best: a policy that
  stopped exploring before it found anything;
- ``value_loss_explosion``: the median ``train/value_loss`` of the last ``window`` updates is
  ``value_growth`` × the lowest earlier median and above ``value_floor`` (with normalised returns,
  0.5 is what predicting the mean scores; 1.0 is worse than knowing nothing);
- ``return_collapse``: the windowed return (median of the last ``window`` values of
  ``episode/return_mean``) has fallen more than ``return_drop`` of the way from the run's best
  back to its first level, after a gain larger than half the first window's p10-p90 spread
  (so a run that never learned, whose "best" is noise, stays silent).

"Not near its best" means the windowed return has made less than half of its best gain over
its first level (a run with no real gain yet counts as not near). The gradient-norm and entropy
alarms need that gate: a *healthy* continuous-control run narrows its action noise as it
learns, and the gradient of a Gaussian's log-probability grows as its std shrinks. Measured on
Pendulum (docs/learning.md): pre-clip grad norm 0.44 -> 7.9 and entropy 0.67 -> -2.6 nats at
the run's best return, the same growth as the collapsing run's 0.5 -> 12.

A condition becomes a warning once it has held ``sustain`` updates in a row; the alarm then
stays latched (silent) until the condition has been clear for ``clear`` updates in a row, after
which a new episode of trouble warns again. Pure: no I/O; :class:`~echelon.metrics.hub.MetricsHub`
feeds it every update record it writes and writes the warnings it returns.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional

from echelon.metrics import names as N


@dataclass(frozen=True)
class AlarmConfig:
    """Thresholds of the alarms (module docstring); windows and counts are in updates."""

    window: int = 10
    sustain: int = 5
    clear: int = 20
    kl_target: float = 0.01
    kl_factor: float = 5.0
    grad_growth: float = 10.0
    entropy_drop: float = 1.0
    entropy_floor: float = 0.1
    value_growth: float = 20.0
    value_floor: float = 1.0
    return_drop: float = 0.5


def alarm_config(cfg: Any) -> AlarmConfig:
    """The alarms' thresholds for a :class:`~echelon.config.TrainConfig`."""
    ppo = cfg.ppo
    return AlarmConfig(
        kl_target=ppo.target_kl if ppo.target_kl is not None else ppo.desired_kl,
        # Without return normalisation the value loss is in squared return units: no absolute floor.
        value_floor=1.0 if ppo.norm_returns else 0.0,
    )


@dataclass(frozen=True)
class Trouble:
    """What an alarm saw at one update: the value it watches and the threshold it crossed."""

    value: float
    threshold: float
    message: str


def _finite(record: dict, key: str) -> Optional[float]:
    v = record.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


class _Windowed:
    """Rolling window of one record key; ``None`` until the window is full."""

    def __init__(self, key: str, window: int) -> None:
        self.key = key
        self.values: deque[float] = deque(maxlen=window)

    def push(self, record: dict) -> bool:
        v = _finite(record, self.key)
        if v is None:
            return False
        self.values.append(v)
        return len(self.values) == self.values.maxlen

    def median(self) -> float:
        return statistics.median(self.values)

    def mean(self) -> float:
        return statistics.fmean(self.values)


class ReturnProgress:
    """How far the windowed return stands between the run's first level and its best.

    The return read is the median of the last ``window`` values of ``episode/return_mean``;
    ``first`` is the first such median, ``spread`` the median p10-p90 width of the windows
    before it (the noise scale of the starting policy). :attr:`progress` is
    ``(now - first) / (best - first)`` once the best gain exceeds half that spread, else 0.0
    (nothing learned yet); None until the first window is full.
    """

    def __init__(self, window: int) -> None:
        self.w = _Windowed(N.RETURNS_MEAN, window)
        self.spreads: deque[float] = deque(maxlen=window)
        self.first: Optional[float] = None
        self.spread = 0.0
        self.best = -math.inf
        self.now: Optional[float] = None
        self.progress: Optional[float] = None

    @property
    def gain(self) -> float:
        """The best gain over the first level when it exceeds the noise gate, else 0.0."""
        if self.first is None:
            return 0.0
        gain = self.best - self.first
        return gain if gain > 0.5 * self.spread and gain > 0 else 0.0

    def update(self, record: dict) -> None:
        p10, p90 = _finite(record, N.RETURNS_P10), _finite(record, N.RETURNS_P90)
        full = self.w.push(record)
        if self.first is None and p10 is not None and p90 is not None:
            self.spreads.append(p90 - p10)
        if not full:
            return
        self.now = self.w.median()
        if self.first is None:
            self.first = self.now
            self.spread = statistics.median(self.spreads) if self.spreads else 0.0
        self.best = max(self.best, self.now)
        gain = self.gain
        self.progress = (self.now - self.first) / gain if gain > 0 else 0.0

    def near_best(self) -> bool:
        """True when the return has made at least half of its best gain (the gate of two alarms)."""
        return self.progress is not None and self.progress >= 0.5


class KLHigh:
    name = "kl_high"

    def __init__(self, c: AlarmConfig, ret: ReturnProgress) -> None:
        self.w, self.limit = _Windowed(N.TRAIN_APPROX_KL, c.window), c.kl_factor * c.kl_target
        self.factor, self.target = c.kl_factor, c.kl_target

    def update(self, record: dict) -> Optional[Trouble]:
        if not self.w.push(record):
            return None
        kl = self.w.median()
        if kl <= self.limit:
            return None
        return Trouble(kl, self.limit, f"approx_kl median {kl:.3g} over the last {len(self.w.values)} updates is "
                       f"{kl / self.target:.0f}x the KL target {self.target:g} (alarm at {self.factor:g}x): "
                       "steps too large; lower ppo.lr or use ppo.lr_schedule=adaptive_kl / ppo.target_kl")


class _GrowthFromFloor:
    """Median of the window against the lowest earlier median (the run's floor)."""

    name = ""
    label = ""
    advice = ""

    def __init__(self, key: str, window: int, growth: float, floor: float = 0.0,
                 gate: Optional[ReturnProgress] = None) -> None:
        self.w, self.growth, self.abs_floor, self.gate = _Windowed(key, window), growth, floor, gate
        self.lowest: Optional[float] = None

    def update(self, record: dict) -> Optional[Trouble]:
        if not self.w.push(record):
            return None
        now = self.w.median()
        low = self.lowest
        self.lowest = now if low is None else min(low, now)
        if low is None or low <= 0 or (self.gate is not None and self.gate.near_best()):
            return None
        limit = max(self.growth * low, self.abs_floor)
        if now <= limit:
            return None
        return Trouble(now, limit, f"{self.label} median {now:.3g} over the last {len(self.w.values)} updates is "
                       f"{now / low:.0f}x its lowest earlier median {low:.3g} (alarm at {self.growth:g}x"
                       + (f" and above {self.abs_floor:g}" if self.abs_floor > 0 else "") + f"): {self.advice}")


class GradNormGrowth(_GrowthFromFloor):
    name, label = "grad_norm_growth", "pre-clip grad norm"
    advice = ("the loss surface is steepening while the return is far from its best; lower ppo.lr "
              "or check the KL and value-loss alarms")

    def __init__(self, c: AlarmConfig, ret: ReturnProgress) -> None:
        super().__init__(N.TRAIN_GRAD_NORM, c.window, c.grad_growth, gate=ret)


class ValueLossExplosion(_GrowthFromFloor):
    name, label = "value_loss_explosion", "value loss"
    advice = "the critic no longer fits its targets; lower ppo.lr / ppo.critic_lr or check the return scale"

    def __init__(self, c: AlarmConfig, ret: ReturnProgress) -> None:
        super().__init__(N.TRAIN_VALUE_LOSS, c.window, c.value_growth, c.value_floor)


class EntropyCollapse:
    name = "entropy_collapse"

    def __init__(self, c: AlarmConfig, ret: ReturnProgress) -> None:
        self.w, self.drop, self.floor = _Windowed(N.TRAIN_ENTROPY, c.window), c.entropy_drop, c.entropy_floor
        self.ret = ret
        self.first: Optional[float] = None

    def update(self, record: dict) -> Optional[Trouble]:
        if not self.w.push(record):
            return None
        now = self.w.mean()
        if self.first is None:
            self.first = now
            return None
        # Discrete entropy is >= 0 and a share of the start measures its loss; a Gaussian's can
        # start <= 0 (narrow initial std), where only a drop in nats means anything.
        limit = self.floor * self.first if self.first > 0 else self.first - self.drop
        if now >= limit or self.ret.near_best():
            return None
        return Trouble(now, limit, f"entropy {now:.3g} (mean of the last {len(self.w.values)} updates) fell from "
                       f"{self.first:.3g} at the start to below {limit:.3g} while the return is far from its "
                       "best: the policy stopped exploring; raise ppo.ent_coef or lower ppo.lr")


class ReturnCollapse:
    name = "return_collapse"

    def __init__(self, c: AlarmConfig, ret: ReturnProgress) -> None:
        self.ret, self.drop = ret, c.return_drop

    def update(self, record: dict) -> Optional[Trouble]:
        r = self.ret
        if r.progress is None or r.now is None or r.first is None or r.gain <= 0:
            return None
        limit = r.best - self.drop * r.gain
        if r.now >= limit:
            return None
        return Trouble(r.now, limit, f"windowed return {r.now:.4g} fell from the run's best {r.best:.4g} more than "
                       f"{self.drop:.0%} of the way back to its start {r.first:.4g}: the policy is unlearning; "
                       "check the KL, entropy and value-loss alarms and resume from the checkpoint of the best")


ALARMS = (KLHigh, GradNormGrowth, EntropyCollapse, ValueLossExplosion, ReturnCollapse)


class _Latch:
    """Fire once when a condition has held ``sustain`` updates; re-arm after ``clear`` clear ones."""

    def __init__(self, sustain: int, clear: int) -> None:
        self.sustain, self.clear = sustain, clear
        self.bad = self.good = 0
        self.active = False

    def step(self, trouble: bool) -> bool:
        self.bad, self.good = (self.bad + 1, 0) if trouble else (0, self.good + 1)
        if self.active and self.good >= self.clear:
            self.active = False
        if not self.active and self.bad >= self.sustain:
            self.active = True
            return True
        return False


class AlarmMonitor:
    """All the alarms over one run's update records; :meth:`observe` returns warning records."""

    def __init__(self, config: Optional[AlarmConfig] = None) -> None:
        self.config = config = config or AlarmConfig()
        self.ret = ReturnProgress(config.window)
        self.alarms = [cls(config, self.ret) for cls in ALARMS]
        self.latches = {a.name: _Latch(config.sustain, config.clear) for a in self.alarms}

    def observe(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Feed one update record; returns the warning records (``type: warning``) it raises."""
        self.ret.update(record)
        out = []
        for alarm in self.alarms:
            trouble = alarm.update(record)
            if self.latches[alarm.name].step(trouble is not None) and trouble is not None:
                out.append(warning_record(alarm.name, trouble, record))
        return out


def warning_record(alarm: str, trouble: Trouble, update: dict[str, Any]) -> dict[str, Any]:
    """The ``warning`` record of an alarm raised at update record ``update``."""
    rec: dict[str, Any] = {
        N.KIND: N.KIND_WARNING,
        N.WARNING_ALARM: alarm,
        N.WARNING_MESSAGE: trouble.message,
        N.WARNING_VALUE: trouble.value,
        N.WARNING_THRESHOLD: trouble.threshold,
    }
    for key in (N.TRAIN_UPDATE, N.TRAIN_ENV_STEPS):
        if key in update:
            rec[key] = update[key]
    return rec


def format_warning(record: dict[str, Any]) -> str:
    """One console line for a warning record."""
    where = f"update {record.get(N.TRAIN_UPDATE)}, env step {record.get(N.TRAIN_ENV_STEPS)}"
    return f"WARNING [{record.get(N.WARNING_ALARM)}] at {where}: {record.get(N.WARNING_MESSAGE)}"


def replay(records: list[dict[str, Any]], config: Optional[AlarmConfig] = None) -> list[dict[str, Any]]:
    """The warnings the alarms raise over a finished log's update records (e.g. an older run's)."""
    monitor = AlarmMonitor(config)
    return [w for r in records if r.get(N.KIND) == N.KIND_UPDATE for w in monitor.observe(r)]
