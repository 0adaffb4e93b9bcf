"""Metric families through a real local Ray run, read back from disk (no mocks).

One smoke run with two rollout workers and W&B offline feeds most checks: the W&B run read back
with ``wandb leet inspect --json`` holds every namespace, a histogram, a heat-map image and the
episode table; the metrics actor received every finished episode exactly once; a Ray custom
metric was read from the node's Prometheus export port while the run went on. A second, short
CLI run with ``metrics.wandb_mode=online``, a bogus key and no reachable W&B finishes with one
warning and a complete log. It runs first, before the module's Ray instance starts, so the two
never share the 2-core machine.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from echelon.actors.orchestrator import Orchestrator
from echelon.config import load_config
from echelon.metrics import names as N

from helpers_ray import REPO, SMOKE, assert_valid_log, read_log, updates_of

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

NAMESPACES = ("train/", "policy/", "returns/", "rewards/", "combat/", "zone/", "coordination/", "perception/",
              "distributions/", "spatial/", "episodes/", "perf/", "system/", "curriculum/", "eval/")
SPS_METRIC = "ray_echelon_train_env_steps_per_s"


def test_wandb_online_unreachable_warns_once_and_training_completes(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "scripts" / "train_distributed.py"), "--config", str(SMOKE), "--run-dir",
           str(run_dir), "--address", "local", "--set", "metrics.wandb_mode=online", "--set",
           "metrics.wandb_init_timeout_s=10", "--set", "learner.total_env_steps=256"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "WANDB_"))}
    # A key of the right shape that no server knows, and a W&B server address nothing listens on:
    # no network is reached whatever the machine can reach.
    env.update(WANDB_API_KEY="bogus" + "0" * 40, WANDB_BASE_URL="http://127.0.0.1:9")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=REPO, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # The one warning (from the metrics actor, forwarded by Ray) and the summary line naming it.
    warnings = [line for line in out.splitlines() if "W&B init failed" in line]
    assert len(warnings) == 1 and "W&B logging is off for this run" in warnings[0], warnings
    assert "off: W&B failed (see the warning above)" in proc.stdout
    records = read_log(run_dir)
    assert [r[N.TRAIN_UPDATE] for r in updates_of(records)] == [1, 2]
    summary = records[-1]
    assert summary[N.KIND] == N.KIND_SUMMARY and summary["stopped_by"] == "done"
    assert summary[N.SYSTEM_SINK_ERRORS] == 1
    assert_valid_log(run_dir)
    assert "bogus" not in out  # the key is never echoed


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run (2 workers, W&B offline) on a local Ray started as the driver starts it."""
    from echelon.actors.cli import connect_ray

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("WANDB_")}
    ctx, _ = connect_ray("local")
    port = ctx.address_info["metrics_export_port"]
    run_dir = tmp_path_factory.mktemp("metrics") / "run"
    # Two workers on 2 cores: half a CPU each leaves one for the learner. 2048 env steps = 8
    # updates of 2 fragments, so the smoke strides log every family.
    cfg = load_config(SMOKE, ["ray.address=local", "ray.num_workers=2", "ray.num_cpus_per_worker=0.5",
                              "learner.total_env_steps=2048", "metrics.wandb_mode=offline"])
    scraped: list[str] = []

    def on_update(orch, record):
        # Read the run's SPS gauge from the node's Prometheus endpoint while the run goes on.
        # Ray exports every few seconds; wait for it at most 60 s, once.
        deadline = time.monotonic() + 60
        while not scraped and time.monotonic() < deadline and record[N.TRAIN_UPDATE] >= 2:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            lines = [ln for ln in text.splitlines() if ln.startswith(SPS_METRIC + "{")
                     and f'run="{orch.run_id}"' in ln]
            if lines:
                scraped.extend(lines)
                break
            time.sleep(2)

    try:
        result = Orchestrator(cfg, run_dir, on_update=on_update).run()
    finally:
        ray.shutdown()
        os.environ.update(saved)
    return run_dir, result, scraped


def _wandb_records(run_dir: Path) -> list[dict]:
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    proc = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect", "--json", str(offline)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_wandb_offline_run_holds_every_family(smoke_run):
    run_dir, result, _ = smoke_run
    recs = _wandb_records(run_dir)
    history = [r["history"]["item"] for r in recs if r["type"] == "history"]
    assert len(history) == result.counters["update"] == 8
    keys = set().union(*history)
    for ns in NAMESPACES:
        assert any(k.startswith(ns) for k in keys), f"no {ns} key in the W&B history"
    types = {k.rsplit("._type", 1)[0]: v for item in history for k, v in item.items() if k.endswith("._type")}
    assert types[N.DIST_ADVANTAGES] == "histogram" and types[N.action_hist_key("forward")] == "histogram"
    assert types[N.SPATIAL_DEATHS] == types[N.SPATIAL_MOVEMENT] == "image-file"
    assert types[N.EPISODES_AGENT_BREAKDOWN] == "table-file"
    assert types[N.EVAL_MATCH_GIF] == "video-file"  # the evaluation's GIF, as a W&B video
    # The image and the table travel with the run (files under the offline run's media/).
    images = [item[N.SPATIAL_DAMAGE + ".path"] for item in history if N.SPATIAL_DAMAGE + ".path" in item]
    assert images and list((run_dir / "wandb").glob("offline-run-*/files/" + images[0]))
    run = next(r["run"] for r in recs if r["type"] == "run")
    assert "vs-heuristic" in run["tags"] and "5v5" in run["tags"]
    assert '"num_workers"' in json.dumps(run["config"])
    artifacts = [r["artifact"] for r in recs if r["type"] == "artifact"]
    model = [a for a in artifacts if a["type"] == "model"]
    assert model and {c["path"] for c in model[0]["manifest"]["contents"]} == {
        "ckpt_00000008.pt", "ckpt_00000008.pt.sha256"}


def test_jsonl_log_holds_the_families_and_media(smoke_run):
    run_dir, _, _ = smoke_run
    result = assert_valid_log(run_dir)
    assert result.summary["schema_version"] == 2
    ups = updates_of(read_log(run_dir))
    keys = set().union(*ups)
    for ns in NAMESPACES:
        assert any(k.startswith(ns) for k in keys), ns
    for u in ups:  # strided families only on their updates (smoke: every 2, heat maps and table every 4)
        assert (N.COORD_PACK_DISPERSION in u) == (u[N.TRAIN_UPDATE] % 2 == 0 and u.get(N.TRAIN_EPISODES, 0) > 0)
        assert (N.SPATIAL_DEATHS in u) <= (u[N.TRAIN_UPDATE] % 4 == 0)
    last = ups[-1]
    for key in (N.SPATIAL_DEATHS, N.SPATIAL_DAMAGE, N.SPATIAL_MOVEMENT, N.EPISODES_AGENT_BREAKDOWN):
        assert (run_dir / last[key]["path"]).is_file(), key
    table = json.loads((run_dir / last[N.EPISODES_AGENT_BREAKDOWN]["path"]).read_text())
    assert len(table["data"]) == 10 and table["columns"][:3] == ["agent", "team", "class"]
    # Worker-side and learner-side timings, and the reward mix adding up to the return.
    for key in (N.PERF_WORKER_ENV_STEP_S, N.PERF_WORKER_INFERENCE_S, N.PERF_FRAGMENT_SEND_S,
                N.PERF_LEARNER_FORWARD_S, N.PERF_LEARNER_BACKWARD_S):
        assert last[key] >= 0.0, key
    assert last[N.REWARDS_TOTAL] == pytest.approx(last[N.RETURNS_MEAN], abs=1e-3)
    # Cumulative minibatch steps: at most updates x epochs x minibatches, fewer when the KL
    # guard (ppo.target_kl) stopped an update early.
    assert last[N.TRAIN_OPTIMIZER_STEPS] == sum(int(u[N.TRAIN_MINIBATCH_STEPS]) for u in ups) <= 8 * 2 * 2


def test_every_episode_reaches_the_metrics_actor_exactly_once(smoke_run):
    run_dir, result, _ = smoke_run
    summary = read_log(run_dir)[-1]
    assert summary[N.KIND] == N.KIND_SUMMARY and result.counters["update"] == 8
    sent, received = summary[N.SYSTEM_EPISODES_SENT], summary[N.SYSTEM_EPISODES_RECEIVED]
    assert sent == received and sent >= 2 * 4  # two workers x four matches each, at least
    assert summary[N.SYSTEM_WORKER_RESTARTS] == 0


def test_ray_custom_metric_read_from_the_export_port_during_the_run(smoke_run):
    _, _, scraped = smoke_run
    assert scraped, f"no {SPS_METRIC} sample on the node's metrics export port"
    value = float(scraped[0].rsplit(" ", 1)[1])
    assert value > 0 and re.search(r'run="[0-9a-f]{12}"', scraped[0])
