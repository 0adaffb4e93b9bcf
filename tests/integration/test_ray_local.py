"""The actor-learner on one real local Ray instance (started once for the module).

Echelon smoke config (5v5, 40 x 40, vs the heuristic): end to end through the CLI, stop and
resume, corrupt-checkpoint fallback.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from echelon.actors.orchestrator import Orchestrator
from echelon.checkpoint import CheckpointError, find_latest_checkpoint, list_checkpoints, load_training_state
from echelon.config import load_config
from echelon.metrics import names as N

from helpers_ray import REPO, SMOKE, assert_valid_log, read_log, updates_of

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def local_ray():
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ctx
    ray.shutdown()


def _smoke(*overrides):
    return load_config(SMOKE, ["ray.address=local", *overrides])


def test_smoke_trains_end_to_end_through_the_cli(local_ray, tmp_path):
    # The CLI connects to the running instance (as under `ray job submit`) instead of
    # starting a second one on this 2-core machine.
    run_dir = tmp_path / "run"
    gcs = local_ray.address_info["gcs_address"]
    cmd = [sys.executable, str(REPO / "scripts" / "train_distributed.py"), "--config", str(SMOKE),
           "--run-dir", str(run_dir), "--address", gcs]
    # As from a user's shell: no RAY_AUTH_MODE inherited from this process's ray.init; the CLI
    # finds the local cluster's token (~/.ray/auth_token) and joins with it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=200, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "InvalidAuthToken" not in proc.stderr
    assert f"log                    {run_dir}/train_log.jsonl" in proc.stdout
    assert "checkpoints" in proc.stdout and "wandb" in proc.stdout

    records = read_log(run_dir)
    assert records[0][N.KIND] == N.KIND_META and records[0]["num_workers"] == 1
    ups = updates_of(records)
    assert [r[N.TRAIN_UPDATE] for r in ups] == list(range(1, 9))
    steps = [r[N.TRAIN_ENV_STEPS] for r in ups]
    assert steps == [128 * k for k in range(1, 9)]  # 4 matches x 32 steps per update
    for r in ups:
        for key in (N.TRAIN_POLICY_LOSS, N.TRAIN_VALUE_LOSS, N.TRAIN_ENTROPY, N.TRAIN_APPROX_KL):
            assert isinstance(r[key], float) and abs(r[key]) < 1e6, (key, r[key])
        assert 0 <= r[N.SYSTEM_POLICY_LAG_MAX] <= 1
    last = ups[-1]
    assert last[N.TRAIN_EPISODES] > 0
    assert 0.0 <= last[N.RETURNS_WIN_RATE] <= 1.0  # outcomes vs the heuristic reached the log
    assert last[N.RETURNS_WIN_RATE] + last[N.RETURNS_DRAW_RATE] + last[N.RETURNS_LOSS_RATE] == pytest.approx(1.0)
    # Curriculum (smoke.yaml): 0.2 -> 0.6 ramp over the first quarter, 0.6 until the win-rate
    # condition or 3/4 of the run, then 1.0; what the workers get after each update.
    stages = [r[N.CURRICULUM_STAGE] for r in ups]
    ramp = [r[N.CURRICULUM_WEAPON_FIRE_PROB] for r in ups]
    assert ramp[0] == pytest.approx(0.2 + 0.4 * 128 / 256) and stages[0] == 0
    assert stages[1] == 1 and ramp[1] == 0.6  # 256 env steps: the schedule point
    assert stages == sorted(stages) and stages[5:] == [2, 2, 2] and ramp[-1] == 1.0 and ramp == sorted(ramp)
    assert all(r[N.CURRICULUM_WINDOW_MATCHES] <= 4 for r in ups)
    sizes = [(r[N.CURRICULUM_SIZE_MIN], r[N.CURRICULUM_SIZE_MAX]) for r in ups]
    assert sizes[0] == (32, 40) and sizes[1:] == [(40, 40)] * 7  # stage 0's range, then the full map again
    # One evaluation (eval.every 5: the weights of update 5), logged once it finished, by update 8.
    evals = [r for r in ups if N.EVAL_WIN_RATE in r]
    assert len(evals) == 1 and evals[0][N.EVAL_UPDATE] == 5 and evals[0][N.TRAIN_UPDATE] >= 5
    ev = evals[0]
    assert ev[N.EVAL_MATCHES] == 4 and ev[N.EVAL_POLICY_VERSION] == 5
    assert ev[N.EVAL_WIN_RATE] + ev[N.EVAL_DRAW_RATE] + ev[N.EVAL_LOSS_RATE] == pytest.approx(1.0)
    assert ev[N.EVAL_CI_LOW] <= ev[N.EVAL_WIN_RATE] <= ev[N.EVAL_CI_HIGH]
    assert ev[N.EVAL_END_ZONE_RATE] + ev[N.EVAL_END_ELIMINATION_RATE] + ev[N.EVAL_END_TIME_RATE] == pytest.approx(1.0)
    gif = run_dir / ev[N.EVAL_MATCH_GIF]["path"]
    assert ev[N.EVAL_MATCH_GIF]["_type"] == "video" and gif.parent == run_dir / "media"
    assert gif.name == "eval_match_00000005.gif" and gif.read_bytes()[:6] == b"GIF89a"
    print(f"evaluation of update 5: {ev[N.EVAL_WALL_S]:.1f} s in its actor, logged at update {ev[N.TRAIN_UPDATE]}")
    assert records[-1][N.KIND] == N.KIND_SUMMARY and records[-1]["stopped_by"] == "done"
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_00000004.pt", "ckpt_00000008.pt"]
    assert_valid_log(run_dir)


def test_sigterm_stops_cleanly_with_a_final_checkpoint(local_ray, tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "scripts" / "train_distributed.py"), "--config", str(SMOKE),
           "--run-dir", str(run_dir), "--address", local_ray.address_info["gcs_address"],
           "--set", "learner.total_env_steps=1000000", "--set", "learner.checkpoint_every=1000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            log = run_dir / "train_log.jsonl"
            if log.exists() and len(updates_of(read_log(run_dir))) >= 2:
                break
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    records = read_log(run_dir)
    summary = records[-1]
    assert summary[N.KIND] == N.KIND_SUMMARY and summary["stopped_by"] == "signal"
    last_update = updates_of(records)[-1][N.TRAIN_UPDATE]
    assert summary[N.TRAIN_UPDATE] == last_update >= 2
    # checkpoint_every is far away: the only checkpoint is the final one, at the last update.
    assert [p.name for p in list_checkpoints(run_dir)] == [f"ckpt_{last_update:08d}.pt"]
    assert "stopped_by             signal" in out


@pytest.fixture(scope="module")
def resumed_run(local_ray, tmp_path_factory):
    """A smoke run stopped cleanly after 3 updates, then resumed to the end (8 updates)."""
    run_dir = tmp_path_factory.mktemp("resumed") / "run"
    cfg = _smoke()
    first = Orchestrator(cfg, run_dir, stop_at_update=3).run()
    second = Orchestrator(cfg, run_dir, resume_from=find_latest_checkpoint(run_dir)).run()
    return cfg, run_dir, first, second


def test_stop_then_resume_reaches_the_same_final_update(resumed_run):
    cfg, run_dir, first, second = resumed_run
    assert first.stopped_by == "stop_at_update" and first.counters["update"] == 3
    assert first.checkpoint.endswith("ckpt_00000003.pt")  # the final checkpoint of a clean stop
    assert second.stopped_by == "done" and second.counters["update"] == 8  # as an uninterrupted run

    records = read_log(run_dir)
    kinds = [r[N.KIND] for r in records]
    assert kinds.count(N.KIND_RESUME) == 1 and kinds.count(N.KIND_META) == 2
    resume = records[kinds.index(N.KIND_RESUME)]
    assert resume[N.TRAIN_UPDATE] == 3 and resume[N.TRAIN_ENV_STEPS] == 384
    assert resume[N.RESUME_FROM].endswith("ckpt_00000003.pt") and resume[N.RESUME_SKIPPED] == []
    ups = updates_of(records)
    assert [r[N.TRAIN_UPDATE] for r in ups] == list(range(1, 9))
    steps = [r[N.TRAIN_ENV_STEPS] for r in ups]
    assert all(b > a for a, b in zip(steps, steps[1:], strict=False)) and steps[-1] == 1024
    episodes = [r[N.TRAIN_EPISODES] for r in ups]
    assert episodes == sorted(episodes)  # the episode counter continues across the resume
    # The curriculum continues at the checkpoint's stage, with its win-rate window.
    saved = find_latest_checkpoint(run_dir).state  # ckpt 8; ckpt 3 is the one resumed from
    ckpt3 = [r for r in ups if r[N.TRAIN_UPDATE] == 3][0]
    first_resumed = [r for r in ups if r[N.TRAIN_UPDATE] == 4][0]
    state3 = load_training_state(run_dir / "checkpoints" / "ckpt_00000003.pt").curriculum
    assert state3["stage"] == ckpt3[N.CURRICULUM_STAGE] == 1 and state3["env_steps"] == 384
    assert len(state3["results"]) == ckpt3[N.CURRICULUM_WINDOW_MATCHES]
    if first_resumed[N.CURRICULUM_STAGE] == 1:  # still there: its window went on, not restarted
        assert first_resumed[N.CURRICULUM_WINDOW_MATCHES] >= len(state3["results"])
    assert saved.curriculum["stage"] == ups[-1][N.CURRICULUM_STAGE] == 2
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt_00000003.pt", "ckpt_00000004.pt", "ckpt_00000008.pt"]


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(resumed_run, tmp_path):
    cfg, src, _, _ = resumed_run
    run_dir = tmp_path / "run"
    shutil.copytree(src, run_dir)
    newest = list_checkpoints(run_dir)[-1]
    assert newest.name == "ckpt_00000008.pt"
    # 4 KB of flipped bytes in the middle: torch would load it; the digest refuses it.
    data = bytearray(newest.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(b ^ 0xFF for b in data[mid:mid + 4096])
    damaged = bytes(data)
    newest.write_bytes(damaged)

    found = find_latest_checkpoint(run_dir)
    assert found.path.name == "ckpt_00000004.pt" and "SHA-256" in found.skipped[0][1]
    result = Orchestrator(cfg, run_dir, resume_from=found).run()
    assert result.counters["update"] == 8 and result.counters["env_steps"] == 1024
    resume = [r for r in read_log(run_dir) if r[N.KIND] == N.KIND_RESUME][-1]
    assert resume[N.TRAIN_UPDATE] == 4 and resume[N.RESUME_SKIPPED] == [str(newest)]
    assert resume[N.RESUME_ABANDONED] == [5, 8]  # logged after ckpt 4, before this resume
    summary = assert_valid_log(run_dir).summary  # the abandoned 5..8 are dropped, not duplicates
    assert [r["update"] for r in summary["resumes"]] == [3, 4]
    # The unusable file is kept byte for byte beside the new checkpoints, never overwritten.
    kept = newest.with_name(newest.name + ".unusable")
    assert kept.read_bytes() == damaged
    assert [p.name for p in list_checkpoints(run_dir)][-1] == "ckpt_00000008.pt"
    assert list_checkpoints(run_dir)[-1].read_bytes() != damaged


def test_resume_without_a_usable_checkpoint_fails_clearly(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "ckpt_00000002.pt").write_bytes(b"garbage")
    from echelon.actors.cli import main

    with pytest.raises(CheckpointError):
        find_latest_checkpoint(run_dir)
    assert main(["--resume", str(run_dir)]) == 2
    assert (run_dir / "checkpoints" / "ckpt_00000002.pt").read_bytes() == b"garbage"
    assert not os.path.exists(run_dir / "train_log.jsonl")


def test_restart_between_calls_is_counted_and_gets_weights_before_sampling(local_ray, tmp_path):
    """Ray restarts a worker while none of the driver's calls to it is running, so no call fails.

    The driver must still notice (the new process's first header carries a new incarnation),
    count the restart once, and send weights before the new process samples: no fragment from
    its untrained initial policy may reach the learner.
    """
    cfg = _smoke("ray.num_workers=1")
    killed = {}

    def on_update(orch, record):
        if killed and record[N.TRAIN_UPDATE] == 6:
            # The new process got the curriculum stage in force too (it starts with none):
            # get_curriculum runs after the calls queued before it, the last push included.
            sent_tag, sent = orch.workers[0].curriculum
            killed["worker_curriculum"] = ray.get(orch.workers[0].handle.get_curriculum.remote(), timeout=60)
            killed["sent"] = (sent_tag, sent)
        if killed or record[N.TRAIN_UPDATE] != 2:
            return
        handle = orch.workers[0].handle
        # Let the in-flight sample finish (its result is already owned by the driver), then
        # kill the idle process; Ray restarts it (ray.max_restarts).
        pending = [ref for ref, (i, _) in orch.workers.inflight.items() if i == 0]
        ray.wait(pending, num_returns=len(pending), fetch_local=False)
        ray.kill(handle, no_restart=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                ray.get(handle.node_id.remote(), timeout=10)
                break
            except ray.exceptions.RayActorError:
                assert time.monotonic() < deadline, "the worker was not restarted"
                time.sleep(0.2)
        killed["restarts_before"] = orch.counters.worker_restarts

    result = Orchestrator(cfg, tmp_path / "run", on_update=on_update).run()

    assert killed["restarts_before"] == 0 and result.stopped_by == "done"
    assert result.counters["worker_restarts"] == 1  # noticed once, from the new incarnation
    assert result.counters["lost_fragments"] == 0
    ups = updates_of(read_log(tmp_path / "run"))
    assert [r[N.TRAIN_ENV_STEPS] for r in ups] == [128 * k for k in range(1, 9)]
    # Every consumed fragment was sampled with weights the learner had published.
    assert all(0 <= r[N.SYSTEM_POLICY_LAG_MAX] <= cfg.ray.max_policy_lag for r in ups)
    assert ups[-1][N.SYSTEM_WORKER_RESTARTS] == 1 and ups[-1][N.SYSTEM_NUM_WORKERS] == 1
    # What went out with the worker's last sample before update 6 ended: the stage of update 4, 5 or 6.
    sent_tag, sent = killed["sent"]
    assert killed["worker_curriculum"]["weapon_fire_prob"] == sent["weapon_fire_prob"]  # pushed to the new process
    then = [r for r in ups[3:6] if r[N.CURRICULUM_STAGE] == sent_tag]
    assert then and sent["weapon_fire_prob"] == pytest.approx(then[-1][N.CURRICULUM_WEAPON_FIRE_PROB], abs=0.01)


def _assert_one_continuous_run(run_dir, final_update, final_steps):
    records = read_log(run_dir)
    kinds = [r[N.KIND] for r in records]
    assert kinds.count(N.KIND_RESUME) == 1 and kinds.count(N.KIND_META) == 2
    assert len({r[N.RUN_ID] for r in records}) == 1
    ups = updates_of(records)
    assert [r[N.TRAIN_UPDATE] for r in ups] == list(range(1, final_update + 1))
    for key in (N.TRAIN_ENV_STEPS, N.TRAIN_AGENT_STEPS, N.TRAIN_EPISODES):
        values = [r[key] for r in ups]
        assert values == sorted(values), key
    assert ups[-1][N.TRAIN_ENV_STEPS] == final_steps
    assert_valid_log(run_dir)
    return records[kinds.index(N.KIND_RESUME)], [r[N.KIND] for r in records].index(N.KIND_RESUME)


def test_a_serial_run_resumes_under_ray(local_ray, tmp_path):
    from echelon.actors.serial import train_serial

    run_dir = tmp_path / "run"
    first = train_serial(_smoke("learner.total_env_steps=384"), run_dir)  # 3 updates of 128 steps
    assert first["updates"] == 3
    result = Orchestrator(_smoke(), run_dir, resume_from=find_latest_checkpoint(run_dir)).run()
    assert result.counters["update"] == 8 and result.counters["env_steps"] == 1024
    records = read_log(run_dir)
    resume, at = _assert_one_continuous_run(run_dir, 8, 1024)
    assert records[0]["mode"] == "serial" and records[at - 1]["mode"] == "ray"
    assert resume[N.TRAIN_UPDATE] == 3 and resume[N.RESUME_FROM].endswith("ckpt_00000003.pt")


def test_a_ray_run_resumes_serially(local_ray, tmp_path):
    from echelon.actors.serial import train_serial

    run_dir = tmp_path / "run"
    Orchestrator(_smoke(), run_dir, stop_at_update=3).run()
    out = train_serial(_smoke(), run_dir, resume=True)
    assert out["updates"] == 8 and out["env_steps"] == 1024
    records = read_log(run_dir)
    resume, at = _assert_one_continuous_run(run_dir, 8, 1024)
    assert records[0]["mode"] == "ray" and records[at - 1]["mode"] == "serial"
    assert resume[N.TRAIN_UPDATE] == 3


def test_resume_with_fewer_envs_stops_at_the_env_step_budget(resumed_run, tmp_path):
    cfg, src, _, _ = resumed_run
    run_dir = tmp_path / "run"
    shutil.copytree(src, run_dir)
    # Continue the finished run (1024 steps) to 1536 with 2 matches per fragment (64 steps/update).
    changed = _smoke("rollout.num_envs=2", "learner.total_env_steps=1536")
    result = Orchestrator(changed, run_dir, resume_from=find_latest_checkpoint(run_dir),
                          resume_changes={"rollout.num_envs": [4, 2]}).run()
    assert result.counters["env_steps"] == 1536 and result.counters["update"] == 8 + 512 // 64
    resume = [r for r in read_log(run_dir) if r[N.KIND] == N.KIND_RESUME][-1]
    assert resume[N.RESUME_CHANGED] == {"rollout.num_envs": [4, 2]} and resume[N.RESUME_ABANDONED] is None


def _kill_metrics_at(update, no_restart):
    killed = {}

    def on_update(orch, record):
        if not killed and record[N.TRAIN_UPDATE] == update:
            killed["restarts_before"] = orch.metrics.failures
            killed["link"] = orch.metrics
            ray.kill(orch.metrics.handle, no_restart=no_restart)

    return killed, on_update


def test_killed_metrics_actor_restarts_and_the_log_keeps_every_update_once(local_ray, tmp_path, caplog):
    killed, on_update = _kill_metrics_at(3, no_restart=False)  # as a node or OOM kill would: Ray restarts it
    with caplog.at_level("WARNING", logger="echelon"):
        result = Orchestrator(_smoke(), tmp_path / "run", on_update=on_update).run()
    assert killed and result.stopped_by == "done" and result.counters["update"] == 8
    assert "metrics actor was restarted" in caplog.text
    # One death, counted and recovered from once, however many update records were in flight.
    assert killed["restarts_before"] == 0 and killed["link"].failures == 1
    ups = updates_of(read_log(tmp_path / "run"))
    assert [r[N.TRAIN_UPDATE] for r in ups] == list(range(1, 9))  # every update exactly once
    episodes = [r[N.TRAIN_EPISODES] for r in ups]
    assert episodes == sorted(episodes) and episodes[-1] == result.counters["episodes"] > 0
    assert read_log(tmp_path / "run")[-1][N.KIND] == N.KIND_SUMMARY
    assert_valid_log(tmp_path / "run")


def test_metrics_actor_gone_for_good_stops_the_run_cleanly(local_ray, tmp_path, caplog):
    killed, on_update = _kill_metrics_at(3, no_restart=True)
    with caplog.at_level("WARNING", logger="echelon"):
        result = Orchestrator(_smoke(), tmp_path / "run", on_update=on_update).run()
    assert killed and result.stopped_by == "metrics_lost"
    assert "continue with --resume" in caplog.text
    records = read_log(tmp_path / "run")
    last = updates_of(records)[-1][N.TRAIN_UPDATE]
    assert 4 <= last < 8 and [r[N.TRAIN_UPDATE] for r in updates_of(records)] == list(range(1, last + 1))
    assert records[-1][N.KIND] == N.KIND_SUMMARY and records[-1]["stopped_by"] == "metrics_lost"
    assert records[-1]["checkpoint"].endswith(f"ckpt_{last:08d}.pt")  # the final checkpoint of a clean stop
    assert_valid_log(tmp_path / "run")


def test_nan_batch_and_worker_exception_leave_receipts_and_the_run_completes(local_ray, tmp_path):
    run_dir = tmp_path / "run"
    cfg = _smoke("learner.debug_nan_update=3", "rollout.debug_fail_sample=2")
    result = Orchestrator(cfg, run_dir).run()
    assert result.stopped_by == "done" and result.counters["update"] == 8
    records = read_log(run_dir)
    errors = {r[N.ERROR_KIND]: r for r in records if r[N.KIND] == N.KIND_ERROR}
    assert set(errors) == {"nonfinite_update", "worker_exception"}
    assert errors["nonfinite_update"][N.TRAIN_UPDATE] == 3
    assert 3 not in [r[N.TRAIN_UPDATE] for r in updates_of(records)]
    assert "debug_fail_sample" in errors["worker_exception"][N.ERROR_MESSAGE]
    for err in errors.values():
        receipt = Path(err[N.ERROR_RECEIPT])
        names = {p.name for p in receipt.iterdir()}
        assert {"config.json", "report.json", "frame_00.png", "frame_07.png"} <= names, names
    worker_report = json.loads((Path(errors["worker_exception"][N.ERROR_RECEIPT]) / "report.json").read_text())
    assert "Traceback" in worker_report["traceback"] and worker_report["env_seed"] > 0
    assert_valid_log(run_dir)


def test_sigkilled_driver_resumes_and_the_log_validates(local_ray, tmp_path):
    run_dir = tmp_path / "run"
    base = [sys.executable, str(REPO / "scripts" / "train_distributed.py"), "--address",
            local_ray.address_info["gcs_address"]]
    first = subprocess.Popen([*base, "--config", str(SMOKE), "--run-dir", str(run_dir),
                              "--set", "learner.total_env_steps=2048"],  # 16 updates, checkpoints every 4
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            log = run_dir / "train_log.jsonl"
            if log.exists() and len(updates_of(read_log(run_dir))) >= 6:
                break
            time.sleep(0.2)
        first.kill()  # SIGKILL: no final checkpoint, no summary
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    logged = [r[N.TRAIN_UPDATE] for r in updates_of(read_log(run_dir))]
    assert len(logged) >= 6 and read_log(run_dir)[-1][N.KIND] == N.KIND_UPDATE
    resumed = subprocess.run([*base, "--resume", str(run_dir)], capture_output=True, text=True, timeout=200, cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    records = read_log(run_dir)
    resume = [r for r in records if r[N.KIND] == N.KIND_RESUME][-1]
    at = resume[N.TRAIN_UPDATE]
    assert at == max(u for u in logged if u % 4 == 0)  # the newest checkpoint before the kill
    assert resume[N.RESUME_ABANDONED] == ([at + 1, max(logged)] if max(logged) > at else None)
    assert records[-1][N.KIND] == N.KIND_SUMMARY and records[-1][N.TRAIN_ENV_STEPS] == 2048
    assert_valid_log(run_dir)
    assert "log_check              valid" in resumed.stdout and (run_dir / "train.png").is_file()
