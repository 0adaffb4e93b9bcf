"""Collapse alarms: each fires on a synthetic series that shows its failure, once per episode of
trouble, and stays silent on a healthy run's series."""

import json
import math

import numpy as np
import pytest

from echelon.config import load_config
from echelon.metrics import names as N
from echelon.metrics.schema import SCHEMA_VERSION
from echelon.metrics.alarms import AlarmConfig, AlarmMonitor, alarm_config, format_warning
from echelon.metrics.hub import MetricsHub
from echelon.metrics.validate import validate_lines
from echelon.metrics.logread import scan_log

UPDATES = 300


def healthy(seed: int = 0) -> list[dict]:
    """A run that learns: KL near its 0.01 target, grad norm and value loss noisy but bounded
    (the value loss peaks while the return climbs), entropy falling from ln 2 to ~0.25, the
    windowed return climbing from 20 to 500 and staying with noise."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(UPDATES):
        frac = min(u / 150, 1.0)
        ret = 20 + 480 * frac + rng.normal(0, 15)
        out.append({
            N.KIND: N.KIND_UPDATE, N.TRAIN_UPDATE: u + 1, N.TRAIN_ENV_STEPS: 512 * (u + 1),
            N.TRAIN_APPROX_KL: float(0.01 * rng.lognormal(0, 0.5)),
            N.TRAIN_GRAD_NORM: float(0.5 * (1 + frac) * rng.lognormal(0, 0.3)),
            N.TRAIN_ENTROPY: float(0.69 - 0.44 * frac + rng.normal(0, 0.02)),
            N.TRAIN_VALUE_LOSS: float((0.05 + 0.3 * math.sin(math.pi * frac)) * rng.lognormal(0, 0.3)),
            N.RETURNS_MEAN: float(min(ret, 500.0)),
            N.RETURNS_P10: float(min(ret, 500.0) * 0.6),
            N.RETURNS_P90: float(min(ret * 1.3, 500.0)),
        })
    return out


def run(series: list[dict], config: AlarmConfig | None = None) -> list[dict]:
    monitor = AlarmMonitor(config or AlarmConfig())
    return [w for r in series for w in monitor.observe(r)]


def with_(series: list[dict], key: str, fn) -> list[dict]:
    """A copy of ``series`` with ``key`` set to ``fn(u, old)`` from update index u."""
    return [{**r, key: fn(u, r[key])} for u, r in enumerate(series)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_healthy_run_raises_nothing(seed):
    assert run(healthy(seed)) == []


def test_kl_high_fires_once_on_a_sustained_excursion():
    # The log: approx_kl 0.2-0.9 per update for most of the run.
    bad = with_(healthy(), N.TRAIN_APPROX_KL, lambda u, kl: kl * 40 if u >= 100 else kl)
    warnings = run(bad)
    assert [w[N.WARNING_ALARM] for w in warnings] == ["kl_high"]
    w = warnings[0]
    assert w[N.KIND] == N.KIND_WARNING and w[N.WARNING_THRESHOLD] == pytest.approx(0.05)
    assert w[N.WARNING_VALUE] > 0.05
    # The median of 10 crosses after ~6 bad updates, then 5 sustained: within 15 updates.
    assert 100 < w[N.TRAIN_UPDATE] <= 115
    assert "approx_kl" in w[N.WARNING_MESSAGE] and "kl_high" in format_warning(w)


def test_one_warning_per_episode_of_trouble_and_again_after_recovery():
    def kl(u, old):
        return old * 40 if 100 <= u < 130 or 200 <= u < 230 else old

    warnings = run(with_(healthy(), N.TRAIN_APPROX_KL, kl))
    assert [w[N.WARNING_ALARM] for w in warnings] == ["kl_high", "kl_high"]
    assert 100 < warnings[0][N.TRAIN_UPDATE] < 130 and 200 < warnings[1][N.TRAIN_UPDATE] < 230
    # A short blip (shorter than the window's median can see) raises nothing.
    assert run(with_(healthy(), N.TRAIN_APPROX_KL, lambda u, old: old * 40 if u in (100, 101, 102) else old)) == []


def never_learns(series: list[dict]) -> list[dict]:
    """The same run with its return stuck at the random level (noise around 20)."""
    rng = np.random.default_rng(7)
    return with_(series, N.RETURNS_MEAN, lambda u, r: 20 + rng.normal(0, 2))


def test_grad_norm_growth_fires_on_steady_growth_away_from_the_best_return():
    # The log: pre-clip grad norm rising steadily from 0.5 to 12, the return at random level.
    bad = never_learns(with_(healthy(), N.TRAIN_GRAD_NORM, lambda u, g: g * (1 + 23 * u / UPDATES)))
    warnings = run(bad)
    assert [w[N.WARNING_ALARM] for w in warnings] == ["grad_norm_growth"]
    assert warnings[0][N.WARNING_VALUE] > 10 * 0.4


def test_a_narrowing_gaussian_at_its_best_return_is_healthy():
    # Measured on healthy Pendulum runs: grad norm 0.44 -> 7.9, entropy 0.67 -> -2.6 nats, while
    # the return sits at its best. Neither alarm may speak.
    pend = with_(healthy(), N.TRAIN_GRAD_NORM, lambda u, g: g * (1 + 17 * u / UPDATES))
    pend = with_(pend, N.TRAIN_ENTROPY, lambda u, e: 0.67 - 3.3 * min(u / 200, 1.0))
    assert run(pend) == []


def test_entropy_collapse_fires_when_exploration_vanishes_before_anything_is_learned():
    bad = never_learns(with_(healthy(), N.TRAIN_ENTROPY, lambda u, e: max(0.69 * (1 - u / 100), 0.005)))
    warnings = run(bad)
    assert [w[N.WARNING_ALARM] for w in warnings] == ["entropy_collapse"]
    assert warnings[0][N.WARNING_VALUE] < 0.069
    # Continuous actions: entropy in nats can start negative; a drop of more than 1 nat fires.
    cont = never_learns(with_(healthy(), N.TRAIN_ENTROPY, lambda u, e: -0.5 - 2.0 * min(u / 100, 1.0)))
    assert [w[N.WARNING_ALARM] for w in run(cont)] == ["entropy_collapse"]


def test_value_loss_explosion_fires_on_a_blow_up():
    bad = with_(healthy(), N.TRAIN_VALUE_LOSS, lambda u, v: v * 100 if u >= 200 else v)
    warnings = run(bad)
    assert [w[N.WARNING_ALARM] for w in warnings] == ["value_loss_explosion"]
    assert warnings[0][N.WARNING_VALUE] > 1.0
    # Without return normalisation there is no absolute floor: the ratio alone decides.
    assert alarm_config(load_config(None, ["ppo.norm_returns=false"])).value_floor == 0.0


def test_return_collapse_fires_on_a_late_fall_and_not_on_a_flat_run():
    # The run: climbed ~75% of the way, then fell back to random level.
    def fall(u, r):
        return 20 + 360 * min(u / 100, 1.0) if u < 150 else max(380 - 8 * (u - 150), 20)

    bad = with_(healthy(), N.RETURNS_MEAN, fall)
    warnings = run(bad)
    assert [w[N.WARNING_ALARM] for w in warnings] == ["return_collapse"]
    assert 150 < warnings[0][N.TRAIN_UPDATE] < 200
    # A run that never learns (noise around the random level) has no best to fall from.
    rng = np.random.default_rng(3)
    flat = with_(healthy(), N.RETURNS_MEAN, lambda u, r: 20 + rng.normal(0, 3))
    flat = with_(flat, N.RETURNS_P10, lambda u, r: 10.0)
    flat = with_(flat, N.RETURNS_P90, lambda u, r: 35.0)
    assert run(flat) == []


def test_kl_target_follows_the_config():
    assert alarm_config(load_config(None, ["ppo.desired_kl=0.02"])).kl_target == 0.02
    assert alarm_config(load_config(None, ["ppo.target_kl=0.05"])).kl_target == 0.05


def test_hub_writes_a_valid_warning_record_and_a_console_line(tmp_path, capsys):
    hub = MetricsHub(tmp_path, window=10, run_id="abc", alarms=AlarmMonitor())
    hub.log([{N.KIND: N.KIND_META, N.SCHEMA_VERSION: SCHEMA_VERSION, "mode": "serial", "config": {}, "seed": 0,
              "command": [], "device": "cpu", "config_hash": "x", "env_signature_hash": "y", "git_sha": None,
              "versions": {}}])
    groups = ("train/", "policy/", "perf/", "system/")
    required = {k: 0.0 for k in N.REQUIRED_UPDATE_KEYS if k.startswith(groups)}
    ints = (N.TRAIN_UPDATE, N.TRAIN_ENV_STEPS, N.TRAIN_AGENT_STEPS, N.TRAIN_POLICY_VERSION,
            N.SYSTEM_DROPPED_FRAGMENTS, N.SYSTEM_WORKER_RESTARTS, N.SYSTEM_LOST_FRAGMENTS, N.SYSTEM_NUM_WORKERS)
    for r in with_(healthy(), N.TRAIN_APPROX_KL, lambda u, kl: kl * 40 if u >= 100 else kl)[:150]:
        rec = {**required, **{k: v for k, v in r.items() if k != N.KIND}}
        rec.update({k: int(rec[k]) for k in ints})
        hub.log_update(rec)
    hub.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("WARNING [kl_high] at update 1")
    lines, problems = scan_log(tmp_path / "train_log.jsonl")
    result = validate_lines(lines, problems)
    assert result.ok, result.errors
    warnings = [json.loads(x) for x in (tmp_path / "train_log.jsonl").read_text().splitlines()
                if json.loads(x)[N.KIND] == N.KIND_WARNING]
    assert len(warnings) == 1 and warnings[0][N.TRACE_ID] == f"abc:{warnings[0][N.TRAIN_UPDATE]}"
    assert result.summary["counts"][N.KIND_WARNING] == 1
    assert result.summary["warning_records"][0]["alarm"] == "kl_high"


def test_hub_from_config_builds_the_alarms_unless_switched_off(tmp_path):
    hub = MetricsHub.from_config(load_config(None, ["metrics.console=false", "ppo.target_kl=0.03"]), tmp_path / "a")
    assert isinstance(hub.alarms, AlarmMonitor) and hub.alarms.config.kl_target == 0.03
    hub.close()
    hub = MetricsHub.from_config(load_config(None, ["metrics.alarms=false", "metrics.console=false"]), tmp_path / "b")
    assert hub.alarms is None
    hub.close()
