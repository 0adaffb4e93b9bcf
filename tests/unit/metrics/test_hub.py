"""MetricsHub in-process: windows, JSONL (flushed per record, appended across resumes), console."""

import io
import json
import math

import numpy as np
import pytest

from echelon.config import MetricsConfig, load_config
from echelon.metrics import names as N
from echelon.metrics.episodes import episode_end_reason, episode_winner
from echelon.metrics.families import outcome_rates, returns_stats
from echelon.metrics.hub import MetricsHub
from echelon.metrics.logread import read_log
from echelon.metrics.sinks import ConsoleSink, format_console_line


def window_stats(returns, lengths, winners, reasons=()):
    return {**returns_stats(returns, lengths), **outcome_rates(winners, reasons)}


def _ep(ret, length, winner=None):
    ep = {"return": ret, "length": length}
    if winner is not None:
        ep["outcome"] = {"reason": "zone", "winner": winner}
    return ep


def test_window_stats_values():
    s = window_stats([1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40], ["blue", "red", "draw", "blue"])
    assert s[N.RETURNS_MEAN] == pytest.approx(2.5)
    assert s[N.RETURNS_LENGTH_MEAN] == pytest.approx(25.0)
    assert s[N.RETURNS_P10] == pytest.approx(1.3)
    assert s[N.RETURNS_P90] == pytest.approx(3.7)
    assert s[N.RETURNS_WIN_RATE] == pytest.approx(0.5)
    assert s[N.RETURNS_DRAW_RATE] == pytest.approx(0.25)
    assert s[N.RETURNS_LOSS_RATE] == pytest.approx(0.25)


def test_window_without_outcomes_has_no_win_rate():
    s = window_stats([5.0], [5], [None])
    assert N.RETURNS_WIN_RATE not in s and s[N.RETURNS_MEAN] == 5.0
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
    assert stats[N.RETURNS_MEAN] == pytest.approx(2.0)
    assert stats[N.RETURNS_WIN_RATE] == pytest.approx(2 / 3)
    assert stats[N.TRAIN_EPISODES] == 4
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
    assert rec[N.RETURNS_MEAN] == 1.5 and rec[N.RETURNS_WIN_RATE] == 1.0
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
    assert records[-1][N.TRAIN_EPISODES] == 2


def test_console_line_and_sink():
    rec = {N.KIND: N.KIND_UPDATE, N.TRAIN_UPDATE: 3, N.TRAIN_ENV_STEPS: 12345, N.TRAIN_SPS: 99.6,
           N.RETURNS_WIN_RATE: 0.25, N.SYSTEM_POLICY_LAG_MAX: 1}
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


def test_wandb_online_without_key_warns_once_and_training_goes_on(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = load_config(None, ["metrics.wandb_mode=online", "metrics.console=false", "metrics.wandb_init_timeout_s=5"])
    with caplog.at_level("WARNING", logger="echelon.metrics"):
        hub = MetricsHub.from_config(cfg, tmp_path)
        for u in (1, 2):
            hub.log_update({N.TRAIN_UPDATE: u, N.TRAIN_ENV_STEPS: 64 * u})
        hub.close(checkpoint=None)
    warnings = [r for r in caplog.records if "W&B" in r.getMessage()]
    assert len(warnings) == 1 and "init failed" in warnings[0].getMessage()
    assert hub.wandb_location() is None and hub.sink_stats() == {N.SYSTEM_SINK_ERRORS: 1}
    assert [r[N.TRAIN_UPDATE] for r in read_log(tmp_path / "train_log.jsonl")] == [1, 2]


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
    assert (s[N.RETURNS_END_ZONE_RATE], s[N.RETURNS_END_ELIMINATION_RATE], s[N.RETURNS_END_TIME_RATE]) == (
        0.5, 0.25, 0.25,
    )
    assert s[N.RETURNS_WIN_RATE] == 0.5 and s[N.RETURNS_DRAW_RATE] == 0.25
    # Episodes without an outcome (CartPole) leave the reason rates out rather than at 0.
    assert N.RETURNS_END_ZONE_RATE not in window_stats([1.0], [3], [None], [None])


def _match_ep(i):
    agents = [{"id": m, "team": "blue" if m < 2 else "red", "class": "scout", "alive": m != 1, "damage_dealt": 5.0,
               "damage_taken": 2.0, "kills": 0, "assists": 0, "reward": float(i)} for m in range(4)]
    return {"return": float(i), "length": 40, "reward_components": {"zone": float(i), "outcome": 0.0},
            "outcome": {"reason": "zone", "winner": "blue", "stats": {"damage_blue": 10.0, "kills_blue": 0.0,
                                                                      "pack_dispersion_sum_blue": 8.0,
                                                                      "pack_dispersion_count_blue": 4.0},
                        "agents": agents, "death_positions": [(3.0, 4.0, "blue")],
                        "damage_heatmap": np.ones((16, 16)), "map_size": (40, 40)},
            "occupancy": np.ones((2, 16, 16), np.float32)}


def _hub(tmp_path, level="full"):
    mcfg = MetricsConfig(window=10, level=level, coordination_every=2, histogram_every=3, spatial_every=4,
                         table_every=4)
    return MetricsHub(tmp_path, window=10, mcfg=mcfg, run_id="r")


def test_strided_families_land_on_their_updates(tmp_path):
    hub = _hub(tmp_path)
    sample = {"yaw": {"kind": "box", "n": 0, "values": np.array([-1.0, 0.0, 0.5], np.float32)}}
    keys_by_update = {}
    for u in range(1, 5):
        hub.add_fragment([_match_ep(u)], sample)
        rec = hub.log_update({N.TRAIN_UPDATE: u, N.DIST_ADVANTAGES: np.array([0.5, -0.5, 1.0])})
        keys_by_update[u] = set(rec)
    hub.close()
    assert N.COORD_PACK_DISPERSION not in keys_by_update[1] and N.COORD_PACK_DISPERSION in keys_by_update[2]
    assert N.DIST_RETURNS in keys_by_update[3] and N.DIST_RETURNS not in keys_by_update[2]
    assert {N.SPATIAL_DEATHS, N.SPATIAL_DAMAGE, N.SPATIAL_MOVEMENT, N.EPISODES_AGENT_BREAKDOWN} <= keys_by_update[4]
    for u in (1, 2, 3):
        assert not keys_by_update[u] & {N.SPATIAL_DEATHS, N.EPISODES_AGENT_BREAKDOWN}
    records = [r for r in read_log(tmp_path / "train_log.jsonl") if r[N.KIND] == N.KIND_UPDATE]
    assert N.reward_key("zone") in records[0] and records[0][N.COMBAT_SURVIVAL_RATE] == 0.5
    assert records[1][N.COORD_PACK_DISPERSION] == 2.0
    hist = records[2][N.DIST_ADVANTAGES]
    assert hist["_type"] == "histogram" and hist["n"] == 3 and sum(hist["counts"]) == 3
    yaw = records[2][N.action_hist_key("yaw")]
    assert yaw["edges"][0] == -1.0 and yaw["n"] == 9  # three fragments' samples of 3 values
    image = records[3][N.SPATIAL_DEATHS]
    assert image["_type"] == "image" and (tmp_path / image["path"]).read_bytes()[:4] == b"\x89PNG"
    table = records[3][N.EPISODES_AGENT_BREAKDOWN]
    data = json.loads((tmp_path / table["path"]).read_text())
    assert table["rows"] == 4 and data["columns"][0] == "agent" and data["data"][1][3] is False
    # The raw advantage sample never reaches the log; update records stay finite and valid.
    assert all(not isinstance(r.get(N.DIST_ADVANTAGES), list) for r in records)


def test_minimal_level_logs_returns_only(tmp_path):
    hub = _hub(tmp_path, level="minimal")
    for u in range(1, 5):
        hub.add_fragment([_match_ep(u)], None)
        rec = hub.log_update({N.TRAIN_UPDATE: u})
    hub.close()
    families = {k.split("/")[0] for k in rec if "/" in k}
    assert families == {"train", "returns"} and rec[N.RETURNS_WIN_RATE] == 1.0


def test_window_families_follow_new_episodes_and_copies_are_independent(tmp_path):
    hub = MetricsHub(tmp_path, window=10)
    hub.add_episodes([_ep(1.0, 10, "blue")])
    first = hub.window_stats()
    first[N.RETURNS_MEAN] = -99.0  # a caller's edit must not leak into the next update's record
    assert hub.window_stats()[N.RETURNS_MEAN] == pytest.approx(1.0)
    hub.add_episodes([_ep(3.0, 30, "red")])
    stats = hub.window_stats()
    assert stats[N.RETURNS_MEAN] == pytest.approx(2.0)
    assert stats[N.RETURNS_WIN_RATE] == pytest.approx(0.5)
    assert stats[N.TRAIN_EPISODES] == 2
    hub.set_episode_count(7)  # the counter is not part of the cached families
    assert hub.window_stats()[N.TRAIN_EPISODES] == 7
    hub.close()


def test_wandb_sink_sends_numbers_and_media_of_metric_keys_only(tmp_path):
    import wandb

    from echelon.metrics.media import Histogram
    from echelon.metrics.sinks import WandbSink

    class Run:
        def __init__(self):
            self.calls = []

        def log(self, data, step):
            self.calls.append((data, step))

    sink = WandbSink.__new__(WandbSink)
    sink.mode, sink.errors, sink._warned, sink._wandb, sink.run_dir = "offline", 0, False, wandb, tmp_path
    sink._run = run = Run()
    hist = Histogram.of([1.0, 2.0, 2.0], 4)
    sink.write({N.KIND: N.KIND_UPDATE, N.TRAIN_UPDATE: 3, N.TRAIN_LOSS: 0.5, "train/f64": np.float64(1.5),
                "train/f32": np.float32(0.25), "train/i64": np.int64(2), "train/flag": True, "train/text": "x",
                "no_group": 1.0, N.TRACE_ID: "r:3", N.DIST_RETURNS: hist})
    ((data, step),) = run.calls
    assert step == 3
    # NumPy float32 / int64 scalars are not Python numbers: left out, as bools, text and ungrouped keys.
    assert set(data) == {N.TRAIN_UPDATE, N.TRAIN_LOSS, "train/f64", N.DIST_RETURNS}
    assert data[N.TRAIN_LOSS] == 0.5 and type(data["train/f64"]) is np.float64
    assert isinstance(data[N.DIST_RETURNS], wandb.Histogram)
    assert list(data[N.DIST_RETURNS].histogram) == list(hist.counts)
