"""MetricsHub: rolling episode windows + update records -> sinks (JSONL, console, W&B).

A plain class, tested in-process; ``echelon.actors.metrics_actor.MetricsActor`` is its Ray
shell. The JSONL file (``RUN_DIR/train_log.jsonl``) is the source of truth: one JSON object
per line, flushed after every record, appended to across resumes. Keys are the constants of
:mod:`echelon.metrics.names`.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from echelon.metrics import names as N
from echelon.metrics.alarms import AlarmMonitor, alarm_config, format_warning
from echelon.metrics.schema import make_trace_id
from echelon.metrics.sinks import ConsoleSink, JsonlSink, Sink, WandbSink

LOG_NAME = "train_log.jsonl"

# The team the learning policy drives in Echelon (env.blue = "policy" by default).
POLICY_TEAM = "blue"


def episode_winner(episode: dict) -> Optional[str]:
    """``"blue" | "red" | "draw"`` for an Echelon episode dict, None when it has no outcome.

    ENV_SPEC reports ``outcome`` as a dict with a ``winner`` key; a bare string is accepted too.
    """
    outcome = episode.get("outcome")
    if isinstance(outcome, dict):
        outcome = outcome.get("winner")
    return outcome if isinstance(outcome, str) else None


def episode_end_reason(episode: dict) -> Optional[str]:
    """Why an Echelon episode ended (``"zone" | "elimination" | "time"``), None when not reported."""
    outcome = episode.get("outcome")
    reason = outcome.get("reason") if isinstance(outcome, dict) else None
    return reason if isinstance(reason, str) else None


# ENV_SPEC end reasons -> the window rate key of each.
END_REASON_KEYS = {
    "zone": N.EPISODE_END_ZONE_RATE,
    "elimination": N.EPISODE_END_ELIMINATION_RATE,
    "time": N.EPISODE_END_TIME_RATE,
}


def window_stats(
    returns: Sequence[float],
    lengths: Sequence[float],
    winners: Sequence[Optional[str]],
    reasons: Sequence[Optional[str]] = (),
) -> dict:
    """Summary of a window of finished episodes (pure function).

    Returns the ``episode/*`` keys; rates are over episodes that reported an outcome (winner
    rates) or an end reason (``episode/end_*_rate``) and are omitted when none did (CartPole),
    so a missing win rate never reads as 0.
    """
    out: dict[str, float] = {}
    if len(returns):
        r = np.asarray(returns, dtype=np.float64)
        out[N.EPISODE_RETURN_MEAN] = float(r.mean())
        out[N.EPISODE_RETURN_P10] = float(np.percentile(r, 10))
        out[N.EPISODE_RETURN_P90] = float(np.percentile(r, 90))
        out[N.EPISODE_LENGTH_MEAN] = float(np.mean(np.asarray(lengths, dtype=np.float64)))
    decided = [w for w in winners if w is not None]
    if decided:
        n = float(len(decided))
        out[N.EPISODE_WIN_RATE] = sum(w == POLICY_TEAM for w in decided) / n
        out[N.EPISODE_DRAW_RATE] = sum(w == "draw" for w in decided) / n
        out[N.EPISODE_LOSS_RATE] = 1.0 - out[N.EPISODE_WIN_RATE] - out[N.EPISODE_DRAW_RATE]
    ended = [r for r in reasons if r is not None]
    if ended:
        for reason, key in END_REASON_KEYS.items():
            out[key] = sum(r == reason for r in ended) / float(len(ended))
    return out


class MetricsHub:
    """Aggregates finished episodes over a rolling window and writes records to sinks.

    Args:
        run_dir: the run directory; the log goes to ``run_dir/train_log.jsonl`` (appended).
        window: episodes in the rolling window (``metrics.window``).
        sinks: extra sinks besides the JSONL one (console, W&B); built by :meth:`from_config`.
        alarms: collapse alarms fed every update record; their warning records are written to
            the sinks and printed to stderr (None = no alarms).
    """

    def __init__(self, run_dir: str | Path, window: int = 100, sinks: Iterable[Sink] = (), run_id: str = "",
                 alarms: Optional[AlarmMonitor] = None) -> None:
        self.alarms = alarms
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / LOG_NAME
        self._jsonl = JsonlSink(self.log_path)
        self._sinks: list[Sink] = [self._jsonl, *sinks]
        self._returns: deque[float] = deque(maxlen=window)
        self._lengths: deque[float] = deque(maxlen=window)
        self._winners: deque[Optional[str]] = deque(maxlen=window)
        self._reasons: deque[Optional[str]] = deque(maxlen=window)
        self.episode_count = 0

    @classmethod
    def from_config(
        cls, cfg: Any, run_dir: str | Path, console: Optional[bool] = None, run_id: str = ""
    ) -> "MetricsHub":
        """Hub with the sinks ``cfg.metrics`` asks for; ``console`` overrides metrics.console."""
        mcfg = cfg.metrics
        sinks: list[Sink] = []
        if mcfg.console if console is None else console:
            sinks.append(ConsoleSink())
        if mcfg.wandb_mode != "disabled":
            sinks.append(WandbSink(cfg, run_dir))
        alarms = AlarmMonitor(alarm_config(cfg)) if mcfg.alarms else None
        return cls(run_dir, window=mcfg.window, sinks=sinks, run_id=run_id, alarms=alarms)

    def set_episode_count(self, count: int) -> None:
        """Continue the cumulative episode counter after a resume."""
        self.episode_count = int(count)

    def add_episodes(self, episodes: Sequence[dict]) -> None:
        """Add finished-episode dicts (``return``, ``length``, optional ``outcome``: winner, reason)."""
        for ep in episodes:
            self._returns.append(float(ep["return"]))
            self._lengths.append(float(ep["length"]))
            self._winners.append(episode_winner(ep))
            self._reasons.append(episode_end_reason(ep))
        self.episode_count += len(episodes)

    def window_stats(self) -> dict[str, float]:
        stats = window_stats(self._returns, self._lengths, self._winners, self._reasons)
        stats[N.EPISODE_COUNT] = self.episode_count
        return stats

    def log_update(self, record: dict[str, Any]) -> dict[str, Any]:
        """Complete an update record (window, time, run and trace ids), write it; returns the record."""
        full = {N.KIND: N.KIND_UPDATE, N.TIME: time.time(), N.RUN_ID: self.run_id, **record, **self.window_stats()}
        if N.TRAIN_UPDATE in full:
            full[N.TRACE_ID] = make_trace_id(self.run_id, full[N.TRAIN_UPDATE])
        self._write(full)
        for warning in self.alarms.observe(full) if self.alarms is not None else ():
            warning = {N.TIME: time.time(), N.RUN_ID: self.run_id, **warning}
            if N.TRAIN_UPDATE in warning:
                warning[N.TRACE_ID] = make_trace_id(self.run_id, warning[N.TRAIN_UPDATE])
            self._write(warning)
            # Whatever the console setting: an alarm is rare (once per episode of trouble) and
            # is the line a user must not miss. Under Ray it reaches the driver's terminal too.
            print(format_warning(warning), file=sys.stderr, flush=True)
        return full

    def log(self, records: Sequence[dict[str, Any]]) -> None:
        """Write records of any kind (meta, resume, summary); update records get the window."""
        for rec in records:
            if rec.get(N.KIND, N.KIND_UPDATE) == N.KIND_UPDATE:
                self.log_update(rec)
            else:
                self._write({N.TIME: time.time(), N.RUN_ID: self.run_id, **rec})

    def _write(self, record: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink.write(record)

    def flush(self) -> None:
        for sink in self._sinks:
            sink.flush()

    def close(self) -> None:
        for sink in self._sinks:
            sink.close()

    def wandb_location(self) -> Optional[str]:
        """Where the W&B run lives (URL online, directory offline), None when disabled."""
        for sink in self._sinks:
            if isinstance(sink, WandbSink):
                return sink.location()
        return None

