"""MetricsHub in-process: windows, JSONL (flushed per record, appended across resumes), console."""

import io
import json
import math

import pytest

from echelon.config import load_config
from echelon.metrics import names as N
from echelon.metrics.hub import MetricsHub, episode_end_reason, episode_winner, window_stats
from echelon.metrics.logread import read_log
from echelon.metrics.sinks import ConsoleSink, format_console_line


def _ep(ret, length, winner=None):
    ep = {"return": ret, "length": length}
    if winner is not None:
        ep["outcome"] = {"reason": "zone", "winner": winner}
    return ep


def test_window_stats_values():
    s = window_stats([1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40], ["blue", "red", "draw", "blue"])
    assert s[N.EPISODE_RETURN_MEAN] == pytest.approx(2.5)
    assert s[N.EPISODE_LENGTH_MEAN] == pytest.approx(25.0)
    assert s[N.EPISODE_RETURN_P10] == pytest.approx(1.3)
    assert s[N.EPISODE_RETURN_P90] == pytest.approx(3.7)
    assert s[N.EPISODE_WIN_RATE] == pytest.approx(0.5)
    assert s[N.EPISODE_DRAW_RATE] == pytest.approx(0.25)
    assert s[N.EPISODE_LOSS_RATE] == pytest.approx(0.25)


def test_window_without_outcomes_has_no_win_rate():
    s = window_stats([5.0], [5], [None])
    assert N.EPISODE_WIN_RATE not in s and s[N.EPISODE_RETURN_MEAN] == 5.0
    assert window_stats([], [], []) == {}


def test_episode_winner_accepts_dict_and_string():
    assert episode_winner(_ep(0, 1, "blue")) == "blue"
    assert episode_winner({"return": 0, "length": 1, "outcome": "red"}) == "red"
    assert episode_winner(_ep(0, 1)) is None


def test_rolling_window_keeps_the_newest_episodes(tmp_path):
    hub = MetricsHub(tmp_path, window=3)
    hub.add_episodes([_ep(100.0, 1, "red")])
    hub.add_episodes([_ep(1.0, 1, "blue"), _ep(2.0, 1, "blue"), _ep(3.0, 1, "red")])
    stats = hub.window_stats()
    assert stats[N.EPISODE_RETURN_MEAN] == pytest.approx(2.0)
    assert stats[N.EPISODE_WIN_RATE] == pytest.approx(2 / 3)
    assert stats[N.EPISODE_COUNT] == 4
    hub.close()


def test_jsonl_is_written_per_record_and_appended_on_resume(tmp_path):
    hub = MetricsHub(tmp_path, window=10)
    hub.log([{N.KIND: N.KIND_META, "seed": 3}])
    hub.add_episodes([_ep(1.5, 7, "blue")])
    full = hub.log_update({N.TRAIN_UPDATE: 1, N.TRAIN_ENV_STEPS: 128, N.POLICY_EXPLAINED_VAR: float("nan")})
    # Readable before close: every record is flushed as it is written.
    lines = (tmp_path / "train_log.jsonl").read_text().splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[1])
    assert rec[N.KIND] == N.KIND_UPDATE and rec[N.TRAIN_ENV_STEPS] == 128
    assert rec[N.EPISODE_RETURN_MEAN] == 1.5 and rec[N.EPISODE_WIN_RATE] == 1.0
    # NaN is not JSON: the log contract writes it as the string "nan" (never null, which would
    # hide it); the reader turns it back into a float.
    assert rec[N.POLICY_EXPLAINED_VAR] == "nan"
    assert math.isnan(read_log(tmp_path / "train_log.jsonl")[1][N.POLICY_EXPLAINED_VAR])
    assert math.isnan(full[N.POLICY_EXPLAINED_VAR])
    hub.close()

    resumed = MetricsHub(tmp_path, window=10)
    resumed.set_episode_count(1)
    resumed.log([{N.KIND: N.KIND_RESUME, N.TRAIN_UPDATE: 1}])
    resumed.add_episodes([_ep(0.0, 3)])
    resumed.log_update({N.TRAIN_UPDATE: 2, N.TRAIN_ENV_STEPS: 256})
    resumed.close()
    records = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r[N.KIND] for r in records] == ["meta", "update", "resume", "update"]
    assert records[-1][N.EPISODE_COUNT] == 2


def test_console_line_and_sink():
    rec = {N.KIND: N.KIND_UPDATE, N.TRAIN_UPDATE: 3, N.TRAIN_ENV_STEPS: 12345, N.PERF_SPS: 99.6,
           N.EPISODE_WIN_RATE: 0.25, N.POLICY_LAG_MAX: 1}
    line = format_console_line(rec)
    assert line == "upd 3 | steps 12,345 | sps 100 | win 0.25 | lag 1"
    out = io.StringIO()
    ConsoleSink(out).write(rec)
    ConsoleSink(out).write({N.KIND: N.KIND_META})
    assert out.getvalue() == line + "\n"


def test_wandb_offline_sink_writes_under_run_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = load_config(None, ["metrics.wandb_mode=offline", "metrics.console=false"])
    hub = MetricsHub.from_config(cfg, tmp_path)
    hub.log_update({N.TRAIN_UPDATE: 1, N.TRAIN_ENV_STEPS: 64, N.TRAIN_POLICY_LOSS: 0.5})
    where = hub.wandb_location()
    hub.close()
    assert where is not None and where.startswith(str(tmp_path / "wandb"))
    assert (tmp_path / "wandb_run_id").read_text().strip()
    assert any((tmp_path / "wandb").glob("offline-run-*"))


def test_wandb_online_without_key_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = load_config(None, ["metrics.wandb_mode=online"])
    with pytest.raises(RuntimeError, match="WANDB_API_KEY"):
        MetricsHub.from_config(cfg, tmp_path)


def test_window_end_reason_rates():
    eps = [
        {"return": 1.0, "length": 10, "outcome": {"winner": "blue", "reason": "zone"}},
        {"return": 3.0, "length": 20, "outcome": {"winner": "red", "reason": "elimination"}},
        {"return": 2.0, "length": 30, "outcome": {"winner": "blue", "reason": "zone"}},
        {"return": 0.0, "length": 40, "outcome": {"winner": "draw", "reason": "time"}},
    ]
    s = window_stats(
        [e["return"] for e in eps], [e["length"] for e in eps],
        [episode_winner(e) for e in eps], [episode_end_reason(e) for e in eps],
    )
    assert (s[N.EPISODE_END_ZONE_RATE], s[N.EPISODE_END_ELIMINATION_RATE], s[N.EPISODE_END_TIME_RATE]) == (
        0.5, 0.25, 0.25,
    )
    assert s[N.EPISODE_WIN_RATE] == 0.5 and s[N.EPISODE_DRAW_RATE] == 0.25
    # Episodes without an outcome (CartPole) leave the reason rates out rather than at 0.
    assert N.EPISODE_END_ZONE_RATE not in window_stats([1.0], [3], [None], [None])
