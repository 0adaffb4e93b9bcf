"""The match curriculum: stage transitions by schedule and by win rate (exact values), the older ramp
as stages, the state through a checkpoint payload and a resumed driver, and the worker's side."""

from pathlib import Path

import numpy as np
import pytest
import torch

from echelon.actors.orchestrator import Orchestrator
from echelon.actors.rollout_worker import RolloutWorker, match_results
from echelon.checkpoint import Counters, TrainingState, build_payload, find_latest_checkpoint, parse_payload
from echelon.checkpoint import save_checkpoint
from echelon.config import ConfigError, config_to_dict, load_config
from echelon.curriculum import DRAW, LOSS, WIN, Curriculum, params_differ, require_env_support, stages_of
from echelon.env.vec_env import EchelonVecEnv
from echelon.metrics import names as N

REPO = Path(__file__).resolve().parents[2]
W, D, L = WIN, DRAW, LOSS


def _cfg(stages: str, *more: str):
    return load_config(None, ["learner.total_env_steps=1000", f"curriculum.stages={stages}", *more])


def test_the_older_ramp_runs_as_two_stages_with_its_values():
    cfg = load_config(None, ["learner.total_env_steps=1000", "ray.curriculum_fire_prob_start=0.2",
                             "ray.curriculum_fraction=0.5"])
    cur = Curriculum.from_config(cfg)
    values = []
    for steps in (0, 250, 499, 500, 900):
        cur.on_update(steps)
        values.append((cur.stage, cur.fire_prob()))
    assert values == [(0, 0.2), (0, pytest.approx(0.6)), (0, pytest.approx(0.2 + 0.8 * 499 / 500)), (1, 1.0),
                      (1, 1.0)]
    assert Curriculum.from_config(load_config(None, [])) is None  # no curriculum configured
    assert Curriculum.from_config(load_config(None, ["rollout.env=gymnasium:CartPole-v1",
                                                     "ray.curriculum_fire_prob_start=0.2"])) is None


def test_the_ramp_and_its_stages_spelling_give_the_same_values():
    older = load_config(REPO / "ray_configs" / "heuristic_only.yaml")
    total = older.learner.total_env_steps
    stages = (f"[{{weapon_fire_prob: {older.ray.curriculum_fire_prob_start}, weapon_fire_prob_end: 1.0, "
              f"until_fraction: {older.ray.curriculum_fraction}}}, {{}}]")
    newer = load_config(REPO / "ray_configs" / "heuristic_only.yaml", ["ray.curriculum_fire_prob_start=null",
                                                              f"curriculum.stages={stages}"])
    a, b = Curriculum.from_config(older), Curriculum.from_config(newer)
    for steps in np.linspace(0, total, 97).astype(int):
        a.on_update(int(steps))
        b.on_update(int(steps))
        assert a.push() == b.push()
        # The older ramp's formula, start + (end - start) * min(1, progress / fraction):
        expected = min(1.0, steps / total / older.ray.curriculum_fraction)
        assert a.fire_prob() == pytest.approx(expected, abs=1e-12)


def test_schedule_stages_advance_at_their_points_and_skip_passed_ones():
    cur = Curriculum.from_config(_cfg("[{weapon_fire_prob: 0.1, until_env_steps: 100}, "
                                      "{weapon_fire_prob: 0.5, until_fraction: 0.5}, {weapon_fire_prob: 0.9}]"))
    seen = []
    for steps in (0, 99, 100, 499, 500, 1000):
        changed = cur.on_update(steps)
        seen.append((steps, cur.stage, cur.fire_prob(), changed))
    assert seen == [(0, 0, 0.1, False), (99, 0, 0.1, False), (100, 1, 0.5, True), (499, 1, 0.5, False),
                    (500, 2, 0.9, True), (1000, 2, 0.9, False)]
    jump = Curriculum.from_config(_cfg("[{until_env_steps: 100}, {until_env_steps: 200}, {}]"))
    assert jump.on_update(250) and jump.stage == 2 and jump.stage_start == 250
    late = Curriculum.from_config(_cfg("[{until_env_steps: 100}, {until_env_steps: 200}, {}]"), env_steps=150)
    assert late.stage == 1  # constructed mid-run (a resume without state): the schedule says where


def test_win_rate_stage_needs_a_full_window_held_for_hold_updates():
    cur = Curriculum.from_config(_cfg("[{weapon_fire_prob: 0.3, until_win_rate: 0.6}, {weapon_fire_prob: 1.0}]",
                                      "curriculum.window=5", "curriculum.hold=2"))
    cur.observe(0, [W, W, W, L])
    assert not cur.on_update(10) and cur.held == 0  # 4 of 5 matches: not judged yet
    assert cur.record() == {N.CURRICULUM_STAGE: 0, N.CURRICULUM_WEAPON_FIRE_PROB: 0.3, N.CURRICULUM_WINDOW_MATCHES: 4,
                            N.CURRICULUM_HELD: 0, N.CURRICULUM_WIN_RATE: 0.75}
    cur.observe(0, [W])  # 4/5 = 0.8 >= 0.6
    assert not cur.on_update(20) and cur.held == 1
    cur.observe(0, [L, L])  # the newest five: W L W L L -> 2/5 = 0.4
    assert list(cur.results) == [W, L, W, L, L] and cur.win_rate() == pytest.approx(0.4)
    assert not cur.on_update(30) and cur.held == 0  # dropped below: the hold starts over
    cur.observe(0, [W, W, W])  # the newest five: L L W W W -> 3/5 = 0.6
    assert list(cur.results) == [L, L, W, W, W] and cur.win_rate() == pytest.approx(0.6)
    assert not cur.on_update(40) and cur.held == 1
    cur.observe(1, [L, L, L, L, L])  # a fragment sampled at another stage does not count
    assert cur.on_update(50) and cur.stage == 1 and cur.stage_start == 50
    assert cur.params() == {"weapon_fire_prob": 1.0, "size_range": None, "packs_range": None}
    assert len(cur.results) == 0 and cur.held == 0 and cur.win_rate() is None  # the new stage is judged afresh


def test_a_win_rate_stage_with_a_deadline_leaves_at_whichever_comes_first():
    spec = "[{until_win_rate: 0.9, until_env_steps: 300}, {}]"
    by_time = Curriculum.from_config(_cfg(spec, "curriculum.window=2", "curriculum.hold=1"))
    by_time.observe(0, [L, L])
    assert not by_time.on_update(299) and by_time.on_update(300) and by_time.stage == 1
    by_rate = Curriculum.from_config(_cfg(spec, "curriculum.window=2", "curriculum.hold=1"))
    by_rate.observe(0, [W, W])
    assert by_rate.on_update(10) and by_rate.stage == 1


def test_ranges_fill_in_the_env_value_where_a_stage_leaves_them_unset():
    cfg = _cfg("[{weapon_fire_prob: 0.2, size_range: [32, 60], packs_range: [1, 1], until_env_steps: 10}, "
               "{size_range: [60, 80], until_env_steps: 20}, {}]", "env.packs_per_team=2")
    stages = stages_of(cfg)
    assert [(s.fire_prob, s.size_range, s.packs_range) for s in stages] == [
        (0.2, (32, 60), (1, 1)), (1.0, (60, 80), (2, 2)), (1.0, (100, 100), (2, 2))]
    cur = Curriculum(stages, window=10, hold=1)
    assert cur.record() == {N.CURRICULUM_STAGE: 0, N.CURRICULUM_WEAPON_FIRE_PROB: 0.2, N.CURRICULUM_WINDOW_MATCHES: 0,
                            N.CURRICULUM_HELD: 0, N.CURRICULUM_SIZE_MIN: 32, N.CURRICULUM_SIZE_MAX: 60,
                            N.CURRICULUM_PACKS_MIN: 1, N.CURRICULUM_PACKS_MAX: 1}
    assert cur.push() == (0, {"weapon_fire_prob": 0.2, "size_range": [32, 60], "packs_range": [1, 1]})
    # The env's own range, when its config has one, is what an unset stage goes back to.
    own = _cfg("[{size_range: [32, 60], until_env_steps: 10}, {}]", "env.size_range=[40, 100]")
    assert [s.size_range for s in stages_of(own)] == [(32, 60), (40, 100)]
    with pytest.raises(ConfigError, match=r"stages \[1\] set no size_range while others do, on a 100 x 80 map"):
        _cfg("[{size_range: [32, 60], until_env_steps: 10}, {}]", "env.size_y=80")


def test_ranges_need_an_env_that_applies_them():
    cfg = _cfg("[{size_range: [40, 60]}]")

    class WithoutSetter:
        pass

    class WithSetter:
        def set_curriculum(self, weapon_fire_prob=None, size_range=None, packs_range=None):
            pass

    with pytest.raises(ConfigError, match="size_range, but WithoutSetter has no set_curriculum"):
        require_env_support(stages_of(cfg), WithoutSetter)
    require_env_support(stages_of(cfg), WithSetter)
    require_env_support(stages_of(_cfg("[{weapon_fire_prob: 0.5}]")), WithoutSetter)  # fire prob alone: fine


@pytest.mark.parametrize("override, fragment", [
    ("curriculum.stages=[{weapon_fire_prob: 0.2}, {}]", "stage 0 of 2 has no until_* condition"),
    ("curriculum.stages=[{until_env_steps: 10}, {until_env_steps: 20}]", "last curriculum stage (1)"),
    ("curriculum.stages=[{until_env_steps: 500}, {until_fraction: 0.001}, {}]", "got env steps [500, 100]"),
    ("curriculum.stages=[{weapon_fire_prob: 1.5}]", "weapon_fire_prob must be in [0, 1]"),
    ("curriculum.stages=[{size_range: [60, 40]}]", "size_range=[60, 40]: lo must be <= hi"),
    ("curriculum.stages=[{size_range: [20, 40]}]", "stages[0].size_range=[20, 40]: lo must be >= 32 m"),
    ("curriculum.stages=[{packs_range: [1, 3]}]", "stages[0].packs_range=[1, 3]: hi must be <= 2 packs"),
    ("curriculum.stages=[{weapon_fire_prob_end: 1.0}]", "set until_env_steps or until_fraction too"),
    ("curriculum.window=0", "curriculum.window must be >= 1"),
    ("curriculum.stages.0.weapon_fire_prob=0.5", "a list is replaced whole"),
])
def test_bad_curriculum_config_names_the_problem(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert fragment in str(err.value)


def test_both_spellings_at_once_and_other_envs_are_refused():
    with pytest.raises(ConfigError, match="keep one curriculum"):
        load_config(None, ["ray.curriculum_fire_prob_start=0.1", "curriculum.stages=[{}]"])
    with pytest.raises(ConfigError, match="curriculum.stages drive the Echelon match; rollout.env is 'gymnasium"):
        load_config(None, ["rollout.env=gymnasium:CartPole-v1", "curriculum.stages=[{}]"])
    with pytest.raises(ConfigError, match="eval.every > 0 plays Echelon matches"):
        load_config(None, ["rollout.env=gymnasium:CartPole-v1", "eval.every=10"])


def test_params_differ_resends_on_ranges_and_on_a_fire_prob_step():
    a = {"weapon_fire_prob": 0.50, "size_range": None, "packs_range": None}
    assert not params_differ(a, {**a, "weapon_fire_prob": 0.505})  # a ramp's small step waits
    assert params_differ(a, {**a, "weapon_fire_prob": 0.51})
    assert params_differ(a, {**a, "size_range": [40, 60]})
    assert params_differ(None, a) and not params_differ(dict(a), a)


def _threshold_cfg():
    return _cfg("[{weapon_fire_prob: 0.3, until_win_rate: 0.5}, {weapon_fire_prob: 0.7, until_env_steps: 900}, "
                "{weapon_fire_prob: 1.0}]", "curriculum.window=3", "curriculum.hold=1")


def _advanced_by_win_rate():
    cur = Curriculum.from_config(_threshold_cfg())
    cur.observe(0, [W, W, L])
    assert cur.on_update(40) and cur.stage == 1
    cur.observe(1, [D, W])
    cur.on_update(60)
    return cur


def test_state_round_trips_through_a_checkpoint_payload(tmp_path):
    cur = _advanced_by_win_rate()
    state = cur.state_dict()
    assert state == {"format": 1, "stage": 1, "num_stages": 3, "stage_start": 40, "env_steps": 60,
                     "results": [D, W], "held": 0}
    learner = {"model": {}, "optimizer": {}, "counters": {}}
    payload = build_payload(TrainingState(learner=learner, counters=Counters(update=6, env_steps=60),
                                          config=config_to_dict(_threshold_cfg()), run_id="r", curriculum=state))
    save_checkpoint(tmp_path, 6, payload)
    saved = find_latest_checkpoint(tmp_path).state
    assert saved.curriculum == state
    again = Curriculum.from_config(_threshold_cfg(), saved.curriculum, env_steps=60)
    assert again.state_dict() == state and again.push() == cur.push() == (1, {"weapon_fire_prob": 0.7,
                                                                               "size_range": None, "packs_range": None})
    # By schedule alone, 60 env steps would be stage 0: only the saved state knows the win rate got it here.
    assert Curriculum.from_config(_threshold_cfg(), None, env_steps=60).stage == 0


def test_payloads_without_curriculum_state_still_load():
    learner = {"model": {}, "optimizer": {}, "counters": {}}
    payload = build_payload(TrainingState(learner=learner, counters=Counters(), config={"seed": 0}, run_id="r"))
    del payload["curriculum"]  # a payload written before the key existed
    assert parse_payload(payload).curriculum is None
    old_float = parse_payload({**payload, "curriculum": 0.55}).curriculum  # the older ramp saved its value
    cfg = _cfg("[{until_env_steps: 100}, {until_env_steps: 200}, {}]")
    assert Curriculum.from_config(cfg, old_float, env_steps=150).stage == 1  # from the schedule


def test_a_resumed_driver_continues_at_the_saved_stage(tmp_path):
    cfg = _threshold_cfg()
    cur = _advanced_by_win_rate()
    learner = {"model": {"w": torch.zeros(1)}, "optimizer": {}, "counters": {}}
    state = TrainingState(learner=learner, counters=Counters(update=6, env_steps=60), config=config_to_dict(cfg),
                          run_id="r", curriculum=cur.state_dict())
    save_checkpoint(tmp_path, 6, build_payload(state))
    orch = Orchestrator(cfg, tmp_path, resume_from=find_latest_checkpoint(tmp_path))  # no Ray until run()
    assert orch.curriculum.stage == 1 and orch.curriculum.push() == cur.push()
    assert list(orch.curriculum.results) == [D, W]
    # What its first checkpoint would save: the same state.
    assert orch.curriculum.state_dict() == cur.state_dict()


def test_worker_applies_params_and_stamps_its_fragments():
    cfg = load_config(REPO / "ray_configs" / "smoke.yaml", ["rollout.num_envs=2", "rollout.fragment_len=90",
                                                            "model.hidden_size=16", "model.lstm_size=16"])
    worker = RolloutWorker(cfg, worker_index=0)  # the plain class, in-process
    env_reports = hasattr(EchelonVecEnv, "get_curriculum")
    if not env_reports:
        assert worker.get_curriculum() == {}  # nothing set yet
    got = worker.set_curriculum({"weapon_fire_prob": 0.25, "size_range": None, "packs_range": None}, tag=3)
    assert got["weapon_fire_prob"] == 0.25 and worker.collector.env.heuristic.fire_prob == 0.25
    ranged = {"weapon_fire_prob": 0.5, "size_range": [32, 32], "packs_range": None}
    ranges = hasattr(EchelonVecEnv, "set_curriculum")
    if ranges:
        assert list(worker.set_curriculum(ranged, tag=4)["size_range"]) == [32, 32]
    else:
        with pytest.raises(TypeError, match="no set_curriculum to apply size_range"):
            worker.set_curriculum(ranged, tag=4)
        worker.set_curriculum({**ranged, "size_range": None}, tag=4)
    worker.set_weights(0, worker.collector.policy.state_dict())
    header, frag = worker.sample()
    # 90 steps of 20 s matches (80 steps): each match ended at least once, each with a result.
    assert header.curriculum_tag == 4 and header.episodes >= 2 and len(header.outcomes) == header.episodes
    assert header.outcomes == match_results(frag.episodes) and set(header.outcomes) <= {W, D, L}
    if ranges:  # every match that started after the push was drawn from the new range
        _, later = worker.sample()
        assert later.episodes and {ep["size"] for ep in later.episodes} == {32}
    assert match_results([{"return": 1.0, "length": 3}]) == ()  # no outcome (not Echelon): not counted
