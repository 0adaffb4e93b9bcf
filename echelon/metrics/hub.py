"""MetricsHub: episodes from any number of workers + update records -> metric families -> sinks.

A plain class, tested in-process; ``echelon.actors.metrics_actor.MetricsActor`` is its Ray
shell and the serial loop uses it directly. It keeps the last ``metrics.window`` finished
episodes (compact records, :mod:`echelon.metrics.episodes`), the action samples the workers
send, and the spatial grids since the last heat map. Each update record it completes with:

- every update: ``returns/`` and, at ``metrics.level: full``, ``rewards/``, ``combat/``, ``zone/``
  (:func:`echelon.metrics.families.window_families`);
- every ``metrics.coordination_every`` updates: ``coordination/`` and ``perception/``;
- every ``metrics.histogram_every``: ``distributions/`` histograms (window returns, the learner's
  advantage sample, each named action dim from the workers' samples);
- every ``metrics.spatial_every``: ``spatial/`` heat maps (PNG files under ``RUN_DIR/media/``);
- every ``metrics.table_every``: ``episodes/agent_breakdown`` (one recent match, JSON file).

The JSONL file (``RUN_DIR/train_log.jsonl``) is the source of truth: one JSON object per line,
flushed after every record, appended to across resumes. Keys are the constants of
:mod:`echelon.metrics.names`.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from echelon.config import MetricsConfig
from echelon.metrics import names as N
from echelon.metrics.alarms import AlarmMonitor, alarm_config, format_warning
from echelon.metrics.actions import column_histogram
from echelon.metrics.episodes import agent_table, compact_episode
from echelon.metrics.families import EpisodeRow, coordination_stats, perception_stats, window_families_of_rows
from echelon.metrics.media import MEDIA_DIR, Histogram, Image, Media, media_name, write_table
from echelon.metrics.schema import make_trace_id
from echelon.metrics.sinks import ConsoleSink, JsonlSink, Sink, WandbSink
from echelon.metrics.spatial import SpatialAccumulator, render_heatmap

LOG_NAME = "train_log.jsonl"
# Newest worker samples kept between two histograms (a worker sends one every histogram_every fragments).
MAX_ACTION_SAMPLES = 16


class MetricsHub:
    """Aggregates finished episodes over a rolling window and writes records to sinks.

    Args:
        run_dir: the run directory; the log goes to ``run_dir/train_log.jsonl`` (appended), media
            files to ``run_dir/media/``.
        window: episodes in the rolling window (overrides ``mcfg.window``).
        sinks: extra sinks besides the JSONL one (console, W&B); built by :meth:`from_config`.
        alarms: collapse alarms fed every update record; their warning records are written to
            the sinks and printed to stderr (None = no alarms).
        mcfg: the metrics config (level and strides); defaults to :class:`MetricsConfig`.
    """

    def __init__(self, run_dir: str | Path, window: int = 100, sinks: Iterable[Sink] = (), run_id: str = "",
                 mcfg: Optional[MetricsConfig] = None, alarms: Optional[AlarmMonitor] = None) -> None:
        self.alarms = alarms
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.mcfg = mcfg or MetricsConfig(window=window)
        self.full = self.mcfg.level == "full"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.run_dir / LOG_NAME
        self._jsonl = JsonlSink(self.log_path)
        self._sinks: list[Sink] = [self._jsonl, *sinks]
        self._episodes: deque[dict] = deque(maxlen=window)
        # What the per-update families read of each episode of the window, extracted on arrival.
        self._rows: deque[EpisodeRow] = deque(maxlen=window)
        self._actions: deque[dict] = deque(maxlen=MAX_ACTION_SAMPLES)
        self._spatial = SpatialAccumulator()
        self._last_match: Optional[dict] = None  # newest episode with per-mech rows (the table)
        self._window_cache: Optional[dict[str, float]] = None  # families of the window as it stands
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
        wandb = WandbSink.create(cfg, run_dir)
        if wandb is not None:
            sinks.append(wandb)
        alarms = AlarmMonitor(alarm_config(cfg)) if mcfg.alarms else None
        return cls(run_dir, window=mcfg.window, sinks=sinks, run_id=run_id, mcfg=mcfg, alarms=alarms)

    def add_sink(self, sink: Sink) -> None:
        """One more sink for every record from now on (the metrics actor adds the Ray dashboard)."""
        self._sinks.append(sink)

    # -- input ---------------------------------------------------------------------------------

    def set_episode_count(self, count: int) -> None:
        """Continue the cumulative episode counter after a resume."""
        self.episode_count = int(count)

    def add_episodes(self, episodes: Sequence[dict]) -> None:
        """Add finished episodes: raw env episode dicts or compact records (any worker, any order)."""
        for raw in episodes:
            ep = compact_episode(raw, full=self.full)
            self._episodes.append(ep)
            self._rows.append(EpisodeRow(ep))
            self._window_cache = None
            if self.full:
                self._spatial.add(ep)
                if ep.get("agents"):
                    self._last_match = ep
        self.episode_count += len(episodes)

    def add_action_sample(self, sample: Optional[dict]) -> None:
        """Keep a worker's action sample (:func:`echelon.metrics.actions.sample_actions`) for the next histograms."""
        if self.full and sample:
            self._actions.append(sample)

    def add_fragment(self, episodes: Sequence[dict], action_sample: Optional[dict] = None) -> None:
        """What a worker sends per fragment: its finished episodes and at most one action sample."""
        self.add_episodes(episodes)
        self.add_action_sample(action_sample)

    # -- output --------------------------------------------------------------------------------

    def window_stats(self) -> dict[str, float]:
        """The per-update families of the current window plus the cumulative episode count."""
        # Unchanged until an episode arrives: on a small workload most updates end no match, and the
        # window's families are the largest fixed per-update cost of the metrics actor.
        if self._window_cache is None:
            self._window_cache = window_families_of_rows(self._rows, full=self.full)
        stats = dict(self._window_cache)
        stats[N.TRAIN_EPISODES] = self.episode_count
        return stats

    def strided(self, update: int, advantages: Any = None) -> dict[str, Any]:
        """The strided families due at ``update`` (``advantages``: the learner's sample, or None)."""
        m, eps = self.mcfg, list(self._episodes)
        out: dict[str, Any] = {}
        if update % m.coordination_every == 0:
            out.update(coordination_stats(eps))
            out.update(perception_stats(eps))
        if update % m.histogram_every == 0:
            out.update(self._histograms(eps, advantages))
        if update % m.spatial_every == 0:
            out.update(self._heatmaps(update))
        if update % m.table_every == 0 and self._last_match is not None:
            columns, rows = agent_table(self._last_match)
            caption = f"one match ended before update {update}: {self._last_match.get('winner')} won " \
                      f"({self._last_match.get('reason')}, {self._last_match.get('length')} steps)"
            out[N.EPISODES_AGENT_BREAKDOWN] = write_table(self.run_dir, N.EPISODES_AGENT_BREAKDOWN, update,
                                                          columns, rows, caption)
        return out

    def _histograms(self, eps: list[dict], advantages: Any) -> dict[str, Histogram]:
        bins = self.mcfg.histogram_bins
        out: dict[str, Optional[Histogram]] = {
            N.DIST_RETURNS: Histogram.of([ep["return"] for ep in eps], bins),
            N.DIST_ADVANTAGES: Histogram.of(advantages, bins) if advantages is not None else None,
        }
        merged: dict[str, tuple[str, int, list]] = {}
        for sample in self._actions:
            for name, col in sample.items():
                merged.setdefault(name, (col["kind"], col["n"], []))[2].append(np.asarray(col["values"]))
        for name, (kind, n, parts) in merged.items():
            out[N.action_hist_key(name)] = column_histogram(kind, n, np.concatenate(parts), bins)
        self._actions.clear()
        return {k: v for k, v in out.items() if v is not None}

    def _heatmaps(self, update: int) -> dict[str, Image]:
        acc = self._spatial
        if acc.matches == 0 or acc.map_size is None:
            return {}
        note = f"{acc.matches} matches before update {update}"
        maps = [
            (N.SPATIAL_DEATHS, list(acc.deaths), ["blue deaths", "red deaths"], "deaths"),
            (N.SPATIAL_DAMAGE, [acc.damage], ["damage landed"], "HP"),
        ]
        if acc.movement.sum() > 0:
            maps.append((N.SPATIAL_MOVEMENT, list(acc.movement), ["blue movement", "red movement"], "mech-steps"))
        out = {}
        for key, grids, titles, unit in maps:
            rel = f"{MEDIA_DIR}/{media_name(key, update, '.png')}"
            render_heatmap(self.run_dir / rel, grids, titles, f"{key}: {note}", acc.map_size, unit)
            out[key] = Image(rel, f"{key}: {note}")
        acc.reset()
        return out

    def log_update(self, record: dict[str, Any]) -> dict[str, Any]:
        """Complete an update record (families, time, run and trace ids) and write it.

        Returns the record as the log holds it (media as their JSON form, see
        :meth:`echelon.metrics.media.Media.to_json`).
        """
        full = {N.KIND: N.KIND_UPDATE, N.TIME: time.time(), N.RUN_ID: self.run_id, **record}
        advantages = full.pop(N.DIST_ADVANTAGES, None)  # the learner's raw sample, never logged as is
        full.update(self.window_stats())
        update = full.get(N.TRAIN_UPDATE)
        if update is not None:
            full[N.TRACE_ID] = make_trace_id(self.run_id, update)
            if self.full:
                full.update(self.strided(int(update), advantages))
        self._write(full)
        for warning in self.alarms.observe(full) if self.alarms is not None else ():
            warning = {N.TIME: time.time(), N.RUN_ID: self.run_id, **warning}
            if N.TRAIN_UPDATE in warning:
                warning[N.TRACE_ID] = make_trace_id(self.run_id, warning[N.TRAIN_UPDATE])
            self._write(warning)
            # Whatever the console setting: an alarm is rare (once per episode of trouble) and
            # is the line a user must not miss. Under Ray it reaches the driver's terminal too.
            print(format_warning(warning), file=sys.stderr, flush=True)
        return {k: (v.to_json() if isinstance(v, Media) else v) for k, v in full.items()}

    def log(self, records: Sequence[dict[str, Any]]) -> None:
        """Write records of any kind (meta, resume, summary); update records get the families.

        A summary record also gets ``system/episodes_received`` (this hub's episode count).
        """
        for rec in records:
            kind = rec.get(N.KIND, N.KIND_UPDATE)
            if kind == N.KIND_UPDATE:
                self.log_update(rec)
                continue
            extra: dict[str, Any] = {}
            if kind == N.KIND_SUMMARY:
                extra = {N.SYSTEM_EPISODES_RECEIVED: self.episode_count, **self.sink_stats()}
            self._write({N.TIME: time.time(), N.RUN_ID: self.run_id, **rec, **extra})

    def sink_stats(self) -> dict[str, int]:
        """``system/sink_errors``: failed W&B calls so far (each reported once in the logs)."""
        return {N.SYSTEM_SINK_ERRORS: sum(getattr(s, "errors", 0) for s in self._sinks)}

    def _write(self, record: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink.write(record)

    def flush(self) -> None:
        for sink in self._sinks:
            sink.flush()

    def close(self, checkpoint: Optional[str | Path] = None) -> None:
        """Close every sink; ``checkpoint`` (the newest one) goes to W&B as an artifact first."""
        for sink in self._sinks:
            if checkpoint is not None and isinstance(sink, WandbSink):
                sink.log_checkpoint(checkpoint)
            sink.close()

    def wandb_location(self) -> Optional[str]:
        """Where the W&B run lives (URL online, directory offline), None when disabled or failed."""
        for sink in self._sinks:
            if isinstance(sink, WandbSink):
                return sink.location()
        return None
