"""The training-curve plotter: standing records only, panels planned from what the logs hold, PNG out."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from echelon.metrics import names as N
from echelon.metrics import schema as S
from echelon.metrics.plots import NothingToPlot, load_curves, main_plot, plan_panels, plot_logs, smooth

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "example_train_log.jsonl"


def test_smooth_is_a_nan_aware_trailing_mean():
    x = np.array([1.0, 3.0, np.nan, 5.0, 7.0])
    np.testing.assert_allclose(smooth(x, 2), [1.0, 2.0, 3.0, 5.0, 6.0])
    np.testing.assert_allclose(smooth(x, 1), x)
    assert np.isnan(smooth(np.array([np.nan, np.nan]), 2)).all()


def test_curves_keep_only_standing_updates():
    curves, notes = load_curves(EXAMPLE)
    assert notes == [] and curves.label == "example_train_log"
    # Updates 5 and 6 of the interrupted process are abandoned: each env step appears once.
    assert curves.steps.tolist() == [128 * u for u in range(1, 9)]
    assert curves.resume_steps == [512] and curves.errors == 1
    assert np.isnan(curves.series[N.RETURNS_MEAN][0]) and curves.series[N.RETURNS_MEAN][1] < 0
    assert N.TRAIN_ENV_STEPS not in curves.series and N.TRAIN_UPDATE not in curves.series


def test_panels_notes_and_constants():
    curves, _ = load_curves(EXAMPLE)
    del curves.series[N.RETURNS_DRAW_RATE]
    panels, constants, notes = plan_panels([curves])
    titles = [p.title for p in panels]
    assert titles[:6] == ["Episode return (mean, p10-p90)", "Outcomes", "End reasons", "Entropy and approx KL",
                          "Value and policy loss", "Throughput and policy lag"]
    assert N.TRAIN_GRAD_NORM in titles and N.TRAIN_CLIPFRAC in titles
    assert constants[N.TRAIN_LR] == pytest.approx(3e-4) and constants[N.SYSTEM_NUM_WORKERS] == 1
    assert N.TRAIN_LR not in titles
    assert notes == ["example_train_log: no returns/draw_rate (panel 'Outcomes')"]


def test_png_is_written_for_one_and_for_two_logs(tmp_path):
    out, notes = plot_logs([EXAMPLE], tmp_path / "one.png", smoothing=3)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 1000 and img.height > 1000
        pixels = np.asarray(img.convert("RGB"))
    # Matplotlib's first colour (C0, blue) draws the run's curves.
    assert ((np.abs(pixels.astype(int) - (31, 119, 180)).sum(-1)) < 30).sum() > 500
    second = tmp_path / "run-b" / "train_log.jsonl"
    second.parent.mkdir()
    second.write_text(EXAMPLE.read_text())
    out2, _ = plot_logs([EXAMPLE, second], tmp_path / "two.png")
    with Image.open(out2) as img:
        pixels = np.asarray(img.convert("RGB"))
    # The second run (C1, orange) is drawn too.
    assert ((np.abs(pixels.astype(int) - (255, 127, 14)).sum(-1)) < 30).sum() > 500


def test_nothing_to_plot_exits_1(tmp_path):
    empty = tmp_path / "train_log.jsonl"
    empty.write_text("")
    err = io.StringIO()
    assert main_plot([str(empty)], str(tmp_path / "x.png"), err=err) == 1
    assert "nothing to plot" in err.getvalue() and not (tmp_path / "x.png").exists()
    meta_only = tmp_path / "meta.jsonl"
    meta_only.write_text(S.dumps({N.KIND: N.KIND_META}) + "\n")
    with pytest.raises(NothingToPlot):
        plot_logs([meta_only, tmp_path / "missing.jsonl"], tmp_path / "y.png")
    assert main_plot([str(EXAMPLE)], str(tmp_path / "ok.png"), err=err) == 0 and (tmp_path / "ok.png").is_file()
