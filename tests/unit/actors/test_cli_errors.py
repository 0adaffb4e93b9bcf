"""User errors of train_distributed.py: one `error:` line, exit status 2, before Ray starts."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from echelon.actors.cli import UserError, config_changes, main, unsafe_changes
from echelon.checkpoint import Counters, TrainingState, build_payload, save_checkpoint
from echelon.config import config_to_dict, load_config
from echelon.env.vec_env import EchelonVecEnv
from echelon.league.league import League
from echelon.league.signature import env_signature
from echelon.ppo.learner import Learner

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "ray_configs" / "smoke.yaml"


def _ours(run_dir: Path) -> None:
    """A real checkpoint of the smoke config's policy (update 2)."""
    cfg = load_config(SMOKE, ["learner.device=cpu"])
    env = EchelonVecEnv(cfg.env, 1)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    state = TrainingState(learner=learner.state_dict(), counters=Counters(update=2, env_steps=256),
                          config=config_to_dict(cfg), run_id="r", trace_id="r:2")
    save_checkpoint(run_dir, 2, build_payload(state))


def _case(name: str, tmp: Path) -> tuple[list[str], str]:
    """``(argv, text the one line must contain)`` of a user error."""
    if name == "invalid_yaml":
        (tmp / "bad.yaml").write_text("ppo: {lr: [1\n")
        return ["--config", str(tmp / "bad.yaml")], "is not valid YAML at line 2"
    if name == "list_top_level":
        (tmp / "list.yaml").write_text("- a\n- b\n")
        return ["--config", str(tmp / "list.yaml")], "must be a mapping of sections"
    if name == "missing_config":
        return ["--config", str(tmp / "nope.yaml")], "does not exist"
    if name == "bad_set_value":
        return ["--config", str(SMOKE), "--set", "ppo.lr=[1"], "override 'ppo.lr=[1': the value does not parse"
    if name == "unknown_key":
        return ["--config", str(SMOKE), "--set", "ppo.lrr=1"], "Key 'lrr' not in 'PPOConfig'"
    if name == "bad_value_type":
        return ["--config", str(SMOKE), "--set", "ppo.lr=fast"], "(at ppo.lr)"
    if name == "unknown_env":
        # cartpole.yaml: smoke.yaml's curriculum and evaluation are Echelon's and refuse another env.
        return ["--config", str(SMOKE.with_name("cartpole.yaml")), "--set", "rollout.env=gymnasium:NoSuchEnv-v9"], \
            "rollout.env='gymnasium:NoSuchEnv-v9' cannot be built"
    if name == "unwritable_run_dir":
        return ["--config", str(SMOKE), "--run-dir", "/proc/echelon-run"], "run dir '/proc/echelon-run' is not writable"
    if name == "no_checkpoint":
        (tmp / "run").mkdir()
        return ["--resume", str(tmp / "run")], "no checkpoints under"
    if name == "foreign_checkpoint":
        save_checkpoint(tmp / "run", 1, {"weights": torch.zeros(2)})
        return ["--resume", str(tmp / "run")], "not an Echelon checkpoint"
    if name == "resume_changed_lstm":
        _ours(tmp / "run")
        return ["--resume", str(tmp / "run"), "--set", "model.lstm_size=32"], "model.lstm_size (64 -> 32)"
    if name == "wandb_online_without_key":
        return ["--config", str(SMOKE), "--set", "metrics.wandb_mode=online"], "needs WANDB_API_KEY"
    if name.startswith("league_"):
        return _league_case(name, tmp)
    raise AssertionError(name)


def _league_case(name: str, tmp: Path) -> tuple[list[str], str]:
    """Arena training's user errors (league.path set)."""
    if name == "league_serial":
        return ["--serial", "--config", str(SMOKE), "--set", "league.path=l.json"], "needs the Ray trainer"
    if name == "league_curriculum":
        League.create(tmp / "l.json", env_signature(load_config(SMOKE)), [1.0])
        return ["--config", str(SMOKE), "--set", f"league.path={tmp / 'l.json'}"], "drop weapon_fire_prob"
    if name == "league_missing":
        return ["--config", str(SMOKE), "--set", f"league.path={tmp / 'none.json'}",
                "--set", "curriculum.stages=[]"], "no league file at"
    if name == "league_other_env":
        League.create(tmp / "l.json", env_signature(load_config(SMOKE)), [1.0])
        return ["--config", str(SMOKE), "--set", f"league.path={tmp / 'l.json'}", "--set", "env.size_x=50",
                "--set", "curriculum.stages=[]"], \
            "env.size_x is 40 in the league but 50 in this run's config"
    raise AssertionError(name)


CASES = ["wandb_online_without_key",
         "invalid_yaml", "list_top_level", "missing_config", "bad_set_value", "unknown_key", "bad_value_type",
         "unknown_env", "unwritable_run_dir", "no_checkpoint", "foreign_checkpoint", "resume_changed_lstm",
         "league_serial", "league_missing", "league_other_env", "league_curriculum"]


@pytest.mark.parametrize("name", CASES)
def test_user_error_is_one_line_and_exit_2_before_ray(name, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    argv, expected = _case(name, tmp_path)
    capsys.readouterr()
    t0 = time.perf_counter()
    rc = main(argv)
    elapsed = time.perf_counter() - t0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err and out == ""  # nothing started: not even the run dir line
    assert elapsed < 3.0, f"{name} took {elapsed:.1f} s"
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_the_script_itself_prints_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("seed: [\n")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "train_distributed.py"), "--config",
                           str(tmp_path / "bad.yaml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: config file '{tmp_path / 'bad.yaml'}' is not valid YAML")


def test_safe_and_unsafe_resume_changes():
    old = config_to_dict(load_config(SMOKE, ["curriculum.stages=[]"]))  # smoke's stages fit a 40 m map only
    new = config_to_dict(load_config(SMOKE, ["ppo.lr=1e-4", "rollout.num_envs=2", "model.lstm_size=32",
                                             "env.size_x=50", "curriculum.stages=[]"]))
    changes = config_changes(old, new)
    assert changes == {"env.size_x": [40, 50], "model.lstm_size": [64, 32], "ppo.lr": [3e-4, 1e-4],
                       "rollout.num_envs": [4, 2]}
    assert unsafe_changes(changes) == ["env.size_x", "model.lstm_size"]


def test_a_relative_run_dir_becomes_absolute(tmp_path, monkeypatch):
    # The metrics actor writes into the run dir from its own working directory.
    from echelon.actors.cli import build_parser, prepare

    monkeypatch.chdir(tmp_path)
    plan = prepare(build_parser().parse_args(["--config", str(SMOKE), "--run-dir", "runs/rel"]))
    assert plan.run_dir == tmp_path / "runs" / "rel" and plan.run_dir.is_dir()
    default = prepare(build_parser().parse_args([]))  # the embedded default config
    assert default.run_dir.is_absolute() and default.run_dir.parent == tmp_path / "runs"
    assert default.run_dir.name.startswith("local-") and default.cfg.env.size_x == 40


def test_league_path_run_makes_the_runs_own_league_once(tmp_path):
    # league.path: run (make train's recipe) makes RUN_DIR/league.json at the first start and
    # finds it again on the next start of the same run dir, entries kept.
    from echelon.actors.cli import build_parser, prepare

    argv = ["--config", str(SMOKE), "--set", "league.path=run", "--set", "curriculum.stages=[]",
            "--set", "league.fixed_fire_probs=[1.0,0.5]", "--run-dir", str(tmp_path / "r")]
    plan = prepare(build_parser().parse_args(argv))
    path = tmp_path / "r" / "league.json"
    assert plan.cfg.league.path == str(path)
    league = League.load(path)
    assert sorted(league.entries) == ["heuristic@0.5", "heuristic@1.0"]
    assert league.settings["heuristic_fraction"] == plan.cfg.league.heuristic_fraction
    league.entries["heuristic@0.5"].games = 7
    league.save()
    again = prepare(build_parser().parse_args(argv))
    assert again.cfg.league.path == str(path) and League.load(path).entries["heuristic@0.5"].games == 7
    # The same run dir with another env: refused, naming the difference.
    with pytest.raises(UserError, match="env.size_x is 40 in the league but 48"):
        prepare(build_parser().parse_args(argv + ["--set", "env.size_x=48", "--set", "env.size_y=48"]))
