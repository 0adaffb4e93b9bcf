"""The evaluation a run makes of its own weights: seeded (same weights and seeds, same result), the same
as evaluating a checkpoint holding those weights, its eval/ keys, its GIF and when one is recorded."""

import io
from pathlib import Path

import pytest
from PIL import Image

from echelon.actors.evaluation import PeriodicEvaluator
from echelon.checkpoint import Counters, TrainingState, build_payload, save_checkpoint
from echelon.config import config_to_dict, load_config
from echelon.env.vec_env import EchelonVecEnv
from echelon.eval.evaluate import evaluate, play_evaluation
from echelon.eval.periodic import eval_record, run_eval
from echelon.metrics import names as N
from echelon.metrics.families import END_REASON_KEYS
from echelon.metrics.hub import MetricsHub
from echelon.metrics.media import Video, write_media_bytes
from echelon.model.loading import policy_from_weights
from echelon.ppo.learner import Learner

REPO = Path(__file__).resolve().parents[3]
TINY = ["model.hidden_size=16", "model.lstm_size=16", "model.slot_size=8", "learner.device=cpu",
        "env.episode_seconds=6.0"]
SUMMARY_KEYS = ("matches", "wins", "draws", "losses", "win_rate_ci95", "by_side", "reasons", "mean_length",
                "mean_return", "mean_damage_dealt", "mean_kills", "mean_deaths")


def _run(*overrides):
    cfg = load_config(REPO / "ray_configs" / "smoke.yaml", [*TINY, *overrides])
    env = EchelonVecEnv(cfg.env, 1)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    return cfg, learner


def test_same_weights_and_seeds_give_the_same_evaluation_as_the_checkpoint_tool(tmp_path):
    cfg, learner = _run("eval.matches=6", "eval.seed=5", "eval.greedy=false", "eval.fire_prob=1.0")
    _, weights = learner.get_weights()
    first = run_eval(cfg, weights, update=3, version=3, gif=False)
    again = run_eval(cfg, weights, update=3, version=3, gif=False)
    assert {k: first["summary"][k] for k in SUMMARY_KEYS} == {k: again["summary"][k] for k in SUMMARY_KEYS}
    assert first["summary"]["matches"] == 6 and first["gif"] is None and first["wall_s"] > 0
    # The same weights in a checkpoint, through scripts/eval_policy.py's function: the same matches.
    state = TrainingState(learner=learner.state_dict(), counters=Counters(update=3), config=config_to_dict(cfg),
                          run_id="r", trace_id="r:3")
    ckpt = save_checkpoint(tmp_path, 3, build_payload(state))
    tool = evaluate(ckpt, matches=6, seed=5, greedy=False, fire_prob=1.0)
    assert {k: tool[k] for k in SUMMARY_KEYS} == {k: first["summary"][k] for k in SUMMARY_KEYS}
    # Another seed base plays other maps.
    other = run_eval(load_config(None, [], base={**config_to_dict(cfg), "eval": {**config_to_dict(cfg)["eval"],
                                                                                  "seed": 6}}),
                     weights, update=3, version=3, gif=False)
    assert (other["summary"]["mean_length"], other["summary"]["mean_damage_dealt"]) != (
        first["summary"]["mean_length"], first["summary"]["mean_damage_dealt"])


def test_eval_record_values():
    result = {"update": 50, "version": 50, "wall_s": 2.5, "summary": {
        "matches": 8, "wins": 5, "draws": 1, "losses": 2, "win_rate_ci95": [0.3057, 0.8632],
        "reasons": {"zone": 2, "time": 6}, "mean_return": 3.25, "mean_length": 70.0, "mean_kills": 1.5,
        "mean_deaths": 0.5}}
    assert eval_record(result) == {
        N.EVAL_WIN_RATE: 0.625, N.EVAL_DRAW_RATE: 0.125, N.EVAL_LOSS_RATE: 0.25, N.EVAL_CI_LOW: 0.3057,
        N.EVAL_CI_HIGH: 0.8632, N.EVAL_RETURN_MEAN: 3.25, N.EVAL_LENGTH_MEAN: 70.0, N.EVAL_KILLS: 1.5,
        N.EVAL_DEATHS: 0.5, N.EVAL_MATCHES: 8, N.EVAL_UPDATE: 50, N.EVAL_POLICY_VERSION: 50, N.EVAL_WALL_S: 2.5,
        N.EVAL_END_ZONE_RATE: 0.25, N.EVAL_END_ELIMINATION_RATE: 0.0, N.EVAL_END_TIME_RATE: 0.75}
    assert {k.split("/")[1] for k in eval_record(result) if "end_" in k} == {
        k.split("/")[1] for k in END_REASON_KEYS.values()}


def test_greedy_evaluation_gif_is_match_zero():
    cfg, learner = _run("eval.matches=2", "eval.seed=9", "eval.greedy=true")
    _, weights = learner.get_weights()
    out = run_eval(cfg, weights, update=10, version=10, gif=True)
    with Image.open(io.BytesIO(out["gif"])) as img:
        assert img.format == "GIF" and img.n_frames == out["gif_outcome"]["length"] + 1
    policy = policy_from_weights(cfg, weights)
    (match0,) = play_evaluation(policy, None, [0], 9, True, {"fire_prob": 1.0})
    assert (out["gif_outcome"]["length"], out["gif_outcome"]["reason"]) == (match0["length"], match0["reason"])


def test_gif_rhythm_counts_evaluations_from_the_run_start(tmp_path):
    cfg = load_config(None, ["eval.every=5", "eval.gif_every=2"])
    ev = PeriodicEvaluator(cfg, tmp_path)
    assert [u for u in range(1, 31) if u % 5 == 0 and ev.gif_due(u)] == [10, 20, 30]
    assert not PeriodicEvaluator(load_config(None, ["eval.every=5"]), tmp_path).gif_due(10)  # gif_every 0
    assert not PeriodicEvaluator(load_config(None, []), tmp_path).maybe_start(10, 10, None)  # every 0: off


def test_video_goes_to_jsonl_and_wandb_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    frames = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rel = write_media_bytes(tmp_path, N.EVAL_MATCH_GIF, 7, ".gif", buf.getvalue())
    assert rel == "media/eval_match_00000007.gif" and (tmp_path / rel).read_bytes() == buf.getvalue()
    cfg = load_config(None, ["metrics.wandb_mode=offline", "metrics.console=false"])
    hub = MetricsHub.from_config(cfg, tmp_path)
    full = hub.log_update({N.TRAIN_UPDATE: 7, N.TRAIN_ENV_STEPS: 64, N.EVAL_MATCH_GIF: Video(rel, "match 0")})
    hub.close()
    assert full[N.EVAL_MATCH_GIF] == {"_type": "video", "path": rel, "caption": "match 0"}
    assert hub.sink_stats() == {N.SYSTEM_SINK_ERRORS: 0}
    copied = list((tmp_path / "wandb").glob("offline-run-*/files/media/videos/**/*.gif"))
    assert len(copied) == 1 and copied[0].read_bytes() == buf.getvalue()


@pytest.mark.parametrize("override, fragment", [
    ("eval.every=-1", "eval.every must be >= 0"),
    ("eval.matches=0", "eval.matches must be >= 1"),
    ("eval.fire_prob=2", "eval.fire_prob must be in [0, 1]"),
    ("eval.gif_every=-2", "eval.gif_every must be >= 0"),
])
def test_bad_eval_config_names_the_problem(override, fragment):
    from echelon.config import ConfigError

    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, [override])
