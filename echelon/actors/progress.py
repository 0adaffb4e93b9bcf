"""Live progress of a training run: a ``rich`` table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional

from echelon.metrics import names as N
from echelon.metrics.sinks import format_console_line


def eta_seconds(done: int, total: int, elapsed_s: float) -> Optional[float]:
    """Seconds left at the average rate so far (None before any progress)."""
    if done <= 0 or elapsed_s <= 0:
        return None
    return max(0.0, (total - done) * elapsed_s / done)


def _fmt_duration(s: Optional[float]) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class PlainProgress:
    """One line per ``every`` updates (for logs, CI, ``ray job submit``), ending with the ETA."""

    def __init__(self, every: int = 1, stream: Any = None) -> None:
        self.every = max(1, every)
        self.stream = stream or sys.stdout

    def start(self, orch: Any) -> None:
        self.total_updates = orch.target_updates
        self.total_steps = orch.cfg.learner.total_env_steps
        self.steps0 = orch.counters.env_steps
        self.t0 = time.time()
        print(
            f"[echelon] {orch.num_workers} rollout workers x {orch.cfg.rollout.num_envs} envs, "
            f"{orch.fragments_per_update} fragments/update, {orch.target_updates} updates, "
            f"learner on {orch.learner_device}",
            file=self.stream,
            flush=True,
        )

    def update(self, record: dict) -> None:
        upd = int(record.get(N.TRAIN_UPDATE, 0))
        if upd % self.every == 0 or upd >= self.total_updates:
            steps = int(record.get(N.TRAIN_ENV_STEPS, self.steps0))
            eta = eta_seconds(steps - self.steps0, self.total_steps - self.steps0, time.time() - self.t0)
            print(f"[echelon] {format_console_line(record)} | eta {_fmt_duration(eta)}", file=self.stream, flush=True)

    def stop(self) -> None:
        pass


class RichProgress:
    """A live table: env steps, SPS, return, win rate, lag, dropped, restarts, ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.t0 = time.time()

    def start(self, orch: Any) -> None:
        self.total_steps = orch.cfg.learner.total_env_steps
        self.steps0 = orch.counters.env_steps
        self.title = (
            f"Echelon · {orch.num_workers} workers × {orch.cfg.rollout.num_envs} envs · "
            f"learner {orch.learner_device} · {orch.run_dir}"
        )
        self.t0 = time.time()
        self.live.start()
        self.live.update(self._table({}))

    def _table(self, r: dict) -> Any:
        from rich.table import Table

        steps = int(r.get(N.TRAIN_ENV_STEPS, self.steps0))
        eta = eta_seconds(steps - self.steps0, self.total_steps - self.steps0, time.time() - self.t0)
        table = Table(title=self.title, show_header=True, header_style="bold")
        for col in ("update", "env steps", "SPS", "return", "win rate", "lag", "dropped", "restarts", "ETA"):
            table.add_column(col, justify="right")
        table.add_row(
            _fmt(r.get(N.TRAIN_UPDATE), "d"),
            f"{steps:,} / {self.total_steps:,}",
            _fmt(r.get(N.TRAIN_SPS), ".0f"),
            _fmt(r.get(N.RETURNS_MEAN), ".2f"),
            _fmt(r.get(N.RETURNS_WIN_RATE), ".2f"),
            _fmt(r.get(N.SYSTEM_POLICY_LAG_MAX), "d"),
            _fmt(r.get(N.SYSTEM_DROPPED_FRAGMENTS), "d"),
            _fmt(r.get(N.SYSTEM_WORKER_RESTARTS), "d"),
            _fmt_duration(eta),
        )
        return table

    def update(self, record: dict) -> None:
        self.live.update(self._table(record))

    def stop(self) -> None:
        self.live.stop()


def make_progress(every: int = 1) -> Any:
    """Rich on a terminal, plain lines otherwise."""
    return RichProgress() if sys.stdout.isatty() else PlainProgress(every=every)
