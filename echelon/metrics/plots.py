"""Training curves from ``train_log.jsonl`` files: one multi-panel PNG against env steps.

Panels, when their series are in the log: episode return (``returns/``: mean with the p10–p90 band),
win/draw/loss rates, end reasons, entropy and approx KL, value and policy loss, throughput and
policy lag; then one small panel per other numeric metric found in the update records (so new
metric families show up without a change here). Resumes are dashed vertical lines. Several
logs share one figure (one colour per run) to compare runs. Only standing update records are
drawn: updates abandoned by a resume are dropped (:func:`echelon.metrics.logread.standing_records`).

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from echelon.metrics import names as N
from echelon.metrics.logread import LogReadError, scan_log, standing_records

PLOT_NAME = "train.png"


class NothingToPlot(ValueError):
    """No log given holds an update record with env steps."""


@dataclass(frozen=True)
class Panel:
    """A named panel: ``left`` series on the left axis, ``right`` on a twin axis, optional band."""

    title: str
    left: tuple[str, ...]
    right: tuple[str, ...] = ()
    band: Optional[tuple[str, str]] = None  # (low, high) keys filled around the first left series
    ylabel: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return self.left + self.right + (self.band or ())


PANELS = (
    Panel("Episode return (mean, p10-p90)", (N.RETURNS_MEAN,), band=(N.RETURNS_P10, N.RETURNS_P90),
          ylabel="return"),
    Panel("Outcomes", (N.RETURNS_WIN_RATE, N.RETURNS_DRAW_RATE, N.RETURNS_LOSS_RATE), ylabel="rate"),
    Panel("End reasons", (N.RETURNS_END_ZONE_RATE, N.RETURNS_END_ELIMINATION_RATE, N.RETURNS_END_TIME_RATE),
          ylabel="rate"),
    Panel("Entropy and approx KL", (N.TRAIN_ENTROPY,), (N.TRAIN_APPROX_KL,)),
    Panel("Value and policy loss", (N.TRAIN_VALUE_LOSS,), (N.TRAIN_POLICY_LOSS,)),
    Panel("Throughput and policy lag", (N.TRAIN_SPS,), (N.SYSTEM_POLICY_LAG_MEAN, N.SYSTEM_POLICY_LAG_MAX)),
)

# Counters and clocks: the x axis or bookkeeping, not curves worth a panel.
_NOT_CURVES = {
    N.TIME,
    N.TRAIN_UPDATE,
    N.TRAIN_ENV_STEPS,
    N.TRAIN_AGENT_STEPS,
    N.TRAIN_POLICY_VERSION,
    N.TRAIN_EPISODES,
    N.PERF_ELAPSED_S,
    "train/optimizer_steps",
}
_FAMILY_ORDER = ("returns/", "train/", "policy/", "rewards/", "combat/", "zone/", "coordination/", "perception/",
                 "perf/", "system/")
_STYLES = ("-", "--", ":", "-.")


@dataclass
class RunCurves:
    """One log's standing update records as arrays.

    ``steps [U]`` env steps (int64); ``series[key] [U]`` float64 (NaN where a record lacks the
    key or holds a non-finite value); ``resume_steps`` env steps where resumes restarted;
    ``errors`` count of error records.
    """

    label: str
    path: str
    steps: np.ndarray
    series: dict[str, np.ndarray] = field(default_factory=dict)
    resume_steps: list[int] = field(default_factory=list)
    errors: int = 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_curves(path: str | Path, label: Optional[str] = None) -> tuple[RunCurves, list[str]]:
    """Read ``path`` into :class:`RunCurves`; notes say what was skipped (malformed lines).

    Raises :class:`~echelon.metrics.logread.LogReadError` when the file cannot be read.
    """
    path = Path(path)
    lines, problems = scan_log(path)
    notes = [f"{path}:{lineno}: skipped ({why})" for lineno, why in problems]
    records = standing_records([ln.record for ln in lines])
    updates = [r for r in records if r.get(N.KIND) == N.KIND_UPDATE and _is_number(r.get(N.TRAIN_ENV_STEPS))]
    keys = sorted({k for r in updates for k, v in r.items() if _is_number(v) and "/" in k} - _NOT_CURVES)
    curves = RunCurves(
        label=label or default_label(path),
        path=str(path),
        steps=np.array([int(r[N.TRAIN_ENV_STEPS]) for r in updates], dtype=np.int64),
        series={k: np.array([float(r[k]) if _is_number(r.get(k)) else np.nan for r in updates]) for k in keys},
        resume_steps=[
            int(r[N.TRAIN_ENV_STEPS]) for r in records
            if r.get(N.KIND) == N.KIND_RESUME and _is_number(r.get(N.TRAIN_ENV_STEPS))
        ],
        errors=sum(1 for r in records if r.get(N.KIND) == N.KIND_ERROR),
    )
    for values in curves.series.values():
        values[~np.isfinite(values)] = np.nan
    return curves, notes


def default_label(path: Path) -> str:
    """``train_log.jsonl`` files are named after their run directory, other files by their stem."""
    return path.parent.name if path.name == "train_log.jsonl" and path.parent.name else path.stem


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` finite points (NaN-aware); ``[U] -> [U]`` float64.

    A point is NaN only when its whole window is NaN. ``window <= 1`` returns a copy.
    """
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values.copy()
    ok = np.isfinite(values)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, values, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    total, count = csum[idx] - csum[lo], ccount[idx] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _short(key: str) -> str:
    return key.split("/", 1)[-1]


def _family_rank(key: str) -> tuple[int, str]:
    for i, prefix in enumerate(_FAMILY_ORDER):
        if key.startswith(prefix):
            return i, key
    return len(_FAMILY_ORDER), key


def plan_panels(runs: Sequence[RunCurves]) -> tuple[list[Panel], dict[str, float], list[str]]:
    """The panels to draw for ``runs``, the metrics left out as constant, and notes on what is missing.

    A metric outside the named :data:`PANELS` gets its own panel unless it holds one value in
    every run (e.g. ``train/lr`` without decay): those are listed as ``{key: value}`` instead of
    drawn as flat lines.
    """
    notes: list[str] = []
    present = [set(k for k, v in r.series.items() if np.isfinite(v).any()) for r in runs]
    found = set().union(*present)
    panels: list[Panel] = []
    for panel in PANELS:
        keys = [k for k in panel.left + panel.right if k in found]
        if not keys:
            notes.append(f"panel {panel.title!r} skipped: no {', '.join(panel.left + panel.right)} in any log")
            continue
        panels.append(panel)
        for run, have in zip(runs, present, strict=True):
            missing = [k for k in panel.keys if k not in have]
            if missing:
                notes.append(f"{run.label}: no {', '.join(missing)} (panel {panel.title!r})")
    named = {k for p in PANELS for k in p.keys}
    constants: dict[str, float] = {}
    for key in sorted(found - named, key=_family_rank):
        values = np.concatenate([r.series[key] for r in runs if key in r.series])
        values = values[np.isfinite(values)]
        if values.min() == values.max():
            constants[key] = float(values[0])
        else:
            panels.append(Panel(key, (key,)))
    return panels, constants, notes


def _draw_constants(ax: Any, constants: dict[str, float]) -> None:
    ax.axis("off")
    ax.set_title("Constant in every run", fontsize=10)
    text = "\n".join(f"{k} = {v:.6g}" for k, v in constants.items())
    ax.text(0.02, 0.98, text, transform=ax.transAxes, va="top", ha="left", fontsize=8, family="monospace")


def _draw_panel(ax: Any, panel: Panel, runs: Sequence[RunCurves], smoothing: int) -> None:
    axes = [(ax, panel.left)]
    if panel.right:
        axes.append((ax.twinx(), panel.right))
    style_of = {k: _STYLES[i % len(_STYLES)] for i, k in enumerate(panel.left + panel.right)}
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for target, keys in axes:
        for run, colour in zip(runs, colours, strict=True):
            for key in keys:
                if key not in run.series or not np.isfinite(run.series[key]).any():
                    continue
                raw = run.series[key]
                # Strided families (coordination/, perception/) hold a value every few updates:
                # join the points they have instead of leaving NaN gaps between them.
                ok = np.isfinite(raw)
                marker = "." if ok.sum() < len(raw) else None
                if smoothing > 1:
                    target.plot(run.steps[ok], raw[ok], color=colour, linestyle=style_of[key], linewidth=0.8,
                                alpha=0.25)
                target.plot(run.steps[ok], smooth(raw, smoothing)[ok], color=colour, linestyle=style_of[key],
                            linewidth=1.6, marker=marker)
            if panel.band and target is ax and all(k in run.series for k in panel.band):
                low, high = (smooth(run.series[k], smoothing) for k in panel.band)
                target.fill_between(run.steps, low, high, color=colour, alpha=0.18, linewidth=0)
    for run, colour in zip(runs, colours, strict=True):
        for step in run.resume_steps:
            ax.axvline(step, color=colour, linestyle="--", linewidth=1.0, alpha=0.7)
    ax.set_title(panel.title, fontsize=10)
    ax.set_ylabel(panel.ylabel or (_short(panel.left[0]) if len(panel.left) == 1 else ""), fontsize=8)
    if panel.right:
        axes[1][0].set_ylabel(", ".join(_short(k) for k in panel.right), fontsize=8)
        axes[1][0].tick_params(labelsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if len(style_of) > 1:
        # Line styles name the metrics (colours name the runs, in the figure legend).
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], color="0.25", linestyle=style, label=_short(k) + (" (right)" if k in panel.right else ""))
            for k, style in style_of.items()
        ]
        ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.6)


def plot_curves(
    runs: Sequence[RunCurves], out: str | Path, smoothing: int = 1, ncols: int = 4
) -> tuple[Path, list[str]]:
    """Draw ``runs`` into the PNG ``out``; return its path and notes on what was skipped.

    Raises :class:`NothingToPlot` when no run has an update record with env steps.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter

    runs = [r for r in runs if len(r.steps)]
    if not runs:
        raise NothingToPlot("nothing to plot: no update records with train/env_steps in the given logs")
    panels, constants, notes = plan_panels(runs)
    cells = len(panels) + (1 if constants else 0)
    ncols = max(1, min(ncols, cells))
    nrows = -(-cells // ncols)
    # Fixed margins in inches (title and run legend on top, axis labels below), panels between.
    top_in, bottom_in, panel_h = 1.0, 0.5, 3.0
    height = panel_h * nrows + top_in + bottom_in
    fig = Figure(figsize=(4.6 * ncols, height), dpi=90)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        nrows, ncols, hspace=0.55, wspace=0.45, left=0.05, right=0.96,
        top=1 - top_in / height, bottom=bottom_in / height,
    )
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        _draw_panel(ax, panel, runs, smoothing)
        ax.xaxis.set_major_formatter(EngFormatter())
        if i + ncols >= cells:
            ax.set_xlabel("env steps", fontsize=8)
    if constants:
        _draw_constants(fig.add_subplot(grid[len(panels) // ncols, len(panels) % ncols]), constants)
    handles = [
        Line2D([], [], color=f"C{i % 10}", linewidth=2,
               label=f"{r.label}: {_count(len(r.steps), 'update')}, {_count(len(r.resume_steps), 'resume')}, "
                     f"{_count(r.errors, 'error record')}")
        for i, r in enumerate(runs)
    ]
    handles.append(Line2D([], [], color="0.3", linestyle="--", label="resume"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / height), ncol=min(len(handles), 3),
               fontsize=9, frameon=False)
    smoothing_note = f" (trailing mean of {smoothing} updates)" if smoothing > 1 else ""
    fig.suptitle(f"Training curves vs env steps{smoothing_note}", y=1 - 0.12 / height, fontsize=13)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out, notes


def plot_logs(paths: Sequence[str | Path], out: str | Path, smoothing: int = 1) -> tuple[Path, list[str]]:
    """Read every log in ``paths`` and plot them on one figure; see :func:`plot_curves`.

    Unreadable logs are skipped with a note; labels are made unique by a ``#n`` suffix.
    """
    runs, notes = [], []
    seen: dict[str, int] = {}
    for path in paths:
        try:
            curves, more = load_curves(path)
        except LogReadError as exc:
            notes.append(f"skipped: {exc}")
            continue
        notes.extend(more)
        n = seen.get(curves.label, 0)
        seen[curves.label] = n + 1
        if n:
            curves.label = f"{curves.label}#{n + 1}"
        if not len(curves.steps):
            notes.append(f"{path}: no update records with train/env_steps")
        runs.append(curves)
    out_path, plan_notes = plot_curves(runs, out, smoothing)
    return out_path, notes + plan_notes


def main_plot(paths: Sequence[str], out: Optional[str] = None, smoothing: int = 1, err: Any = None) -> int:
    """The plotter's command line: plot, print notes and the PNG path; return the exit code.

    ``out`` defaults to ``train.png`` beside the first log. Returns 1 when there is nothing to plot.
    """
    err = err if err is not None else sys.stderr
    target = Path(out) if out else Path(paths[0]).parent / PLOT_NAME
    try:
        written, notes = plot_logs(paths, target, smoothing)
    except NothingToPlot as exc:
        print(f"error: {exc}", file=err)
        return 1
    for note in notes:
        print(f"note: {note}", file=err)
    print(written)
    return 0
