"""The scripted heuristic beats random play and respects its fire-probability handicap."""

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions


def test_heuristic_beats_random_in_90_percent_of_50_matches():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40), num_envs=50)
    env.reset(seed=2024)
    rng = np.random.default_rng(0)
    results = {}
    for _ in range(env.cfg.max_steps):
        _, _, _, _, info = env.step(random_actions(rng, env.num_rows))
        for ep in info["episodes"]:
            results.setdefault(ep["env"], ep["outcome"])
        if len(results) == 50:
            break
    assert len(results) == 50
    red_wins = sum(o["winner"] == "red" for o in results.values())
    assert red_wins >= 45, (red_wins, [o["reason"] for o in results.values()])


def test_fire_prob_zero_never_shoots():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40, heuristic_weapon_fire_prob=0.0), num_envs=4)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(120):
        env.step(random_actions(rng, env.num_rows))
    from echelon.env.sim import ST

    assert env.sim.stats[:, ST["shots_red"]].sum() == 0
    assert env.sim.stats[:, ST["zone_ticks_red"]].sum() > 0


def _heuristic_hits(env, steps, seed=3):
    """Laser/projectile hits whose shooter is on the heuristic (red) team, summed over ``steps``."""
    from echelon.env.sim import EV

    env.reset(seed=seed)
    rng = np.random.default_rng(0)
    red = env.sim.team == 1
    hits = 0
    for _ in range(steps):
        env.step(random_actions(rng, env.num_rows))
        ev = env.last_events
        is_hit = (ev["kind"] == EV["laser_hit"]) | (ev["kind"] == EV["projectile_hit"])
        shooter = ev["shooter"][is_hit]
        hits += int(red[shooter[shooter >= 0]].sum())
    return hits


def test_fire_prob_setter_silences_the_heuristic():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40, heuristic_weapon_fire_prob=1.0), num_envs=4)
    control = _heuristic_hits(env, 120)
    assert control > 0  # at full fire probability the heuristic does hit within 120 steps
    env.set_heuristic_weapon_fire_prob(0.0)
    assert env.heuristic.fire_prob == 0.0
    assert _heuristic_hits(env, 120) == 0
    from echelon.env.sim import ST

    assert env.sim.stats[:, ST["shots_red"]].sum() == 0


@pytest.mark.parametrize("bad", [-0.01, 1.5, float("nan"), float("inf")])
def test_fire_prob_setter_rejects_values_outside_0_1(bad):
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40), num_envs=1)
    before = env.heuristic.fire_prob
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        env.set_heuristic_weapon_fire_prob(bad)
    assert env.heuristic.fire_prob == before


def test_teacher_actions_replay_the_heuristic_driving_the_policy_team():
    """Blue driven by ``teacher_actions`` plays as blue driven by the heuristic itself (up to the
    float32 rounding of the policy format's move values)."""
    cfg = EnvConfig(packs_per_team=1, size_x=40, size_y=40, heuristic_weapon_fire_prob=1.0)
    taught = EchelonVecEnv(cfg, num_envs=3)
    scripted = EchelonVecEnv(EnvConfig(**{**cfg.__dict__, "blue": "heuristic"}), num_envs=3)
    taught.reset(seed=11)
    scripted.reset(seed=11)
    blue = taught.controlled
    shots = 0
    for _ in range(40):
        act = {k: v.copy() for k, v in taught.teacher_actions().items()}
        assert act["move"].shape == (taught.num_rows, 4) and act["trigger"].dtype == np.float32
        taught.step(act)
        scripted.step(None)
        np.testing.assert_array_equal(taught.sim.act_trigger[:, blue], scripted.sim.act_trigger[:, blue])
        np.testing.assert_allclose(taught.sim.act_move[:, blue], scripted.sim.act_move[:, blue], atol=1e-3)
        np.testing.assert_array_equal(taught.sim.act_ewar[:, blue], scripted.sim.act_ewar[:, blue])
        np.testing.assert_allclose(taught.sim.pos, scripted.sim.pos, atol=1e-3)
        np.testing.assert_allclose(taught.sim.hp, scripted.sim.hp, atol=1e-3)
        shots += int(act["trigger"][:, [0, 2, 3]].sum())
    assert shots > 0
