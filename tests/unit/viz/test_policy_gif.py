"""dump_policy_gif: a short match from a tiny in-process checkpoint → GIF frames, step log, meta."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from echelon.checkpoint import Counters, TrainingState, build_payload, save_checkpoint
from echelon.config import config_to_dict, load_config
from echelon.env.render import TEAM_RGB
from echelon.env.vec_env import EchelonVecEnv
from echelon.model.loading import PolicyLoadError
from echelon.ppo.learner import Learner
from echelon.viz.policy_gif import CAPTION_H, default_out_dir, dump_policy_gif

ROOT = Path(__file__).resolve().parents[3]
TINY = ["model.hidden_size=16", "model.lstm_size=16", "model.slot_size=8", "learner.device=cpu"]


def _checkpoint(run_dir: Path, seed: int = 0) -> Path:
    """A checkpoint (as both training loops write it) of an untrained tiny policy."""
    cfg = load_config(ROOT / "ray_configs" / "smoke.yaml", [*TINY, f"seed={seed}"])
    env = EchelonVecEnv(cfg.env, 1)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    state = TrainingState(learner=learner.state_dict(), counters=Counters(), config=config_to_dict(cfg),
                          run_id="tiny", trace_id="tiny:0")
    return save_checkpoint(run_dir, 0, build_payload(state))


def _frames(path: Path) -> list[np.ndarray]:
    out = []
    with Image.open(path) as img:
        for i in range(img.n_frames):
            img.seek(i)
            out.append(np.asarray(img.convert("RGB")))
    return out


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_short_match_against_the_heuristic(tmp_path):
    ckpt = _checkpoint(tmp_path / "run")
    result = dump_policy_gif(ckpt, tmp_path / "out", seed=3, steps=6)
    assert result.steps == 6 and result.frames == 7 and result.outcome is None
    frames = _frames(result.gif)
    assert len(frames) == 7
    # 40 m map drawn at 12 px/m under the caption strip.
    assert frames[0].shape == (40 * 12 + CAPTION_H, 40 * 12, 3)
    maps = [f[CAPTION_H:].astype(int) for f in frames]
    assert all(np.abs(maps[i + 1] - maps[i]).sum() > 0 for i in range(6)), "the map must change every step"
    for team_rgb in TEAM_RGB:  # both teams are on the map (GIF palettes may shift colours slightly)
        assert (np.abs(maps[0] - np.array(team_rgb)).sum(-1) < 40).sum() > 50

    steps = _lines(result.jsonl)
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6]
    first = steps[0]
    assert sorted(first["actions"]) == [f"blue_{k}" for k in range(5)]  # red is the heuristic: no actions logged
    assert set(first["actions"]["blue_0"]) == {"move", "trigger", "target", "ewar", "sort", "hostile_only", "comm"}
    assert len(first["actions"]["blue_0"]["move"]) == 4 and set(first["rewards"]) == set(first["actions"])
    assert set(first["reward_components"]["blue_0"]) >= {"zone", "approach", "damage", "kill", "outcome"}
    assert len(first["alive"]) == 10 and all(first["alive"].values())
    assert {"score_blue", "score_red", "in_zone_blue", "in_zone_red"} <= set(first["zone"])
    assert all(isinstance(e["kind"], str) for s in steps for e in s["events"])

    meta = json.loads(result.meta.read_text())
    assert meta["checkpoint"]["path"] == str(ckpt) and meta["checkpoint"]["trace_id"] == "tiny:0"
    assert meta["opponent"] == "heuristic" and meta["seed"] == 3 and meta["greedy"] is False
    assert meta["steps"] == 6 and meta["frames"] == 7 and meta["match_ended"] is False
    assert meta["env"]["blue"] == "policy" and meta["env"]["red"] == "heuristic" and "torch" in meta["versions"]


def test_a_whole_match_ends_with_an_outcome_and_fighting(tmp_path):
    result = dump_policy_gif(_checkpoint(tmp_path / "run"), tmp_path / "out", seed=1)
    assert result.outcome is not None and result.outcome["winner"] in ("blue", "red", "draw")
    assert result.frames == result.steps + 1 == result.outcome["length"] + 1
    steps = _lines(result.jsonl)
    assert steps[-1]["outcome"]["reason"] == result.outcome["reason"]
    kinds = {e["kind"] for s in steps for e in s["events"]}
    assert kinds & {"laser_hit", "projectile_hit"}, kinds  # shots landed
    assert json.loads(result.meta.read_text())["match_ended"] is True


def test_second_checkpoint_drives_red_and_greedy_is_deterministic(tmp_path):
    blue, red = _checkpoint(tmp_path / "a"), _checkpoint(tmp_path / "b", seed=1)
    one = dump_policy_gif(blue, tmp_path / "one", opponent=str(red), seed=0, steps=3, greedy=True)
    two = dump_policy_gif(blue, tmp_path / "two", opponent=str(red), seed=0, steps=3, greedy=True)
    steps = _lines(one.jsonl)
    assert sorted(steps[0]["actions"]) == [f"{t}_{k}" for t in ("blue", "red") for k in range(5)]
    assert one.jsonl.read_text() == two.jsonl.read_text()
    meta = json.loads(one.meta.read_text())
    assert meta["opponent"]["path"] == str(red) and meta["env"]["red"] == "policy"


def test_default_out_dir_is_inside_the_run():
    assert default_out_dir("runs/x/checkpoints/ckpt_00000016.pt", 2) == Path("runs/x/rollouts/ckpt_00000016_seed2")


def test_command_line_exits_1_on_a_bad_checkpoint(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("dump_policy_gif_cli", ROOT / "scripts" / "dump_policy_gif.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint") and "missing.pt' does not exist" in err
    ckpt = _checkpoint(tmp_path / "run")
    out = str(tmp_path / "o")
    assert cli.main(["--checkpoint", str(ckpt), "--opponent", str(tmp_path / "nope.pt"), "--out", out]) == 1
    assert "nope.pt' does not exist" in capsys.readouterr().err
    assert cli.main(["--checkpoint", str(ckpt), "--steps", "2", "--out", str(tmp_path / "ok")]) == 0
    assert "2 steps, 3 frames" in capsys.readouterr().out and (tmp_path / "ok" / "rollout.gif").is_file()


def test_a_policy_trained_elsewhere_is_refused(tmp_path):
    cfg = load_config(None, ["rollout.env=gymnasium:CartPole-v1", "learner.device=cpu", "model.hidden_size=8",
                             "model.lstm_size=8"])
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    obs_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    learner = Learner(cfg, obs_space, env.action_space)
    state = TrainingState(learner=learner.state_dict(), counters=Counters(), config=config_to_dict(cfg),
                          run_id="cp", trace_id="cp:0")
    ckpt = save_checkpoint(tmp_path, 0, build_payload(state))
    with pytest.raises(PolicyLoadError, match="was trained on 'gymnasium:CartPole-v1', not Echelon"):
        dump_policy_gif(ckpt, tmp_path / "out", steps=1)
