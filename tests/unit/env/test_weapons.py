"""Every weapon's damage, range, arc, cooldown and heat, plus rear, leg, paint and splash rules."""

import numpy as np
import pytest

from echelon.env.sim import EV, ST
from helpers import BH, BL, BM1, RH, RM1, RM2, RS, open_sim, place, pull, step

PRIMARY, VENT, SECONDARY, TERTIARY, SPECIAL = range(5)


def duel(shooter, target, dist, target_yaw=np.pi, angle=0.0, **kw):
    sim = open_sim(**kw)
    place(sim, shooter, 20.0, 30.0, yaw=0.0)
    place(sim, target, 20.0 + dist * np.cos(angle), 30.0 + dist * np.sin(angle), yaw=target_yaw)
    return sim


def test_laser_damage_heat_cooldown():
    sim = duel(BM1, RM1, 5.0)
    pull(sim, BM1, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 14.0)
    # 22 heat per shot, minus 5 substeps of medium cooling (11/s).
    assert sim.heat[0, BM1] == pytest.approx(22.0 - 11.0 * 0.25)
    assert sim.cd[0, BM1, 0] == pytest.approx(0.6 - 0.25)
    # Target takes 6 heat, cooled by 11/s for the substeps after the hit.
    assert sim.heat[0, RM1] == pytest.approx(6.0 - 11.0 * 0.25)
    step(sim, 2)  # 15 substeps: shots at substeps 0 and 12
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 28.0)


def test_laser_range_and_arc():
    sim = duel(BM1, RM1, 8.5)
    pull(sim, BM1, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == 150.0 and sim.heat[0, BM1] == 0.0
    sim = duel(BM1, RM1, 5.0, angle=np.deg2rad(75))  # laser arc is +-60 deg
    pull(sim, BM1, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == 150.0


def test_rear_hit_is_one_and_a_half():
    sim = duel(BM1, RM1, 5.0, target_yaw=0.0)  # target faces away from the shooter
    pull(sim, BM1, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 14.0 * 1.5)
    ev = sim.events[: sim.num_events]
    hit = ev[ev["kind"] == EV["laser_hit"]]
    assert len(hit) == 1 and hit["rear"][0]


def test_flamer_damage_and_target_heat():
    sim = duel(BL, RM1, 4.0)
    pull(sim, BL, PRIMARY)
    step(sim)
    # cooldown 0.15 s: shots at substeps 0 and 3 of the step.
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 8.0)
    assert sim.heat[0, BL] == pytest.approx(20.0 - 12.0 * 0.25)
    sim = duel(BL, RM1, 5.0)
    pull(sim, BL, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == 150.0


def test_gauss_travels_and_knocks_down():
    sim = duel(BH, RH, 15.0)
    pull(sim, BH, TERTIARY)
    step(sim)
    assert sim.heat[0, BH] == pytest.approx(15.0 - 10.0 * 0.25)
    assert sim.p_active[0].sum() == 1  # 15 m at 40 m/s: still flying after 5 substeps
    sim.act_trigger[...] = False
    step(sim)
    assert sim.hp[0, RH] == pytest.approx(200.0 - 50.0)
    assert sim.cd[0, BH, 2] == pytest.approx(4.0 - 0.5)
    # Stability 140 - 60 plus regeneration: not knocked down; a second hit at low stability is.
    assert sim.fallen_t[0, RH] == 0.0
    sim.stability[0, RH] = 10.0
    sim.cd[0, BH, 2] = 0.0
    pull(sim, BH, TERTIARY)
    step(sim, 2)
    assert sim.fallen_t[0, RH] > 2.0
    x0 = sim.pos[0, RH, 0]
    sim.act_trigger[...] = False
    sim.act_move[0, RH, 0] = 1.0
    step(sim)
    assert sim.pos[0, RH, 0] == x0  # down: cannot move
    step(sim, 12)  # 3 s later it is up again
    assert sim.fallen_t[0, RH] == 0.0 and sim.pos[0, RH, 0] != x0


def test_gauss_range():
    sim = duel(BH, RH, 21.0)
    pull(sim, BH, TERTIARY)
    step(sim)
    assert sim.p_active[0].sum() == 0 and sim.heat[0, BH] == 0.0


def test_autocannon_hits_and_suppresses():
    sim = duel(BM1, RH, 10.0)
    pull(sim, BM1, SECONDARY)
    step(sim, 3)
    # 0.75 s: shots every 0.2 s, 0.4 s flight -> the first two rounds have landed.
    assert sim.hp[0, RH] == pytest.approx(200.0 - 2 * 8.0)
    assert sim.stability[0, RH] < 140.0
    assert sim.suppress_t[0, RH] > 0.0
    assert sim.heat[0, BM1] == pytest.approx(4 * 6.0 - 11.0 * 0.75)


def test_missile_splash_spares_friends():
    sim = duel(BH, RM1, 10.0)
    place(sim, RM2, 30.0, 33.0, yaw=np.pi)  # enemy body within 2.5 m of the impact: splash
    place(sim, BM1, 30.0, 27.0, yaw=0.0)  # friend of the shooter within splash: spared
    place(sim, RS, 30.0, 36.0, yaw=0.0)  # enemy outside splash: untouched
    pull(sim, BH, SECONDARY)
    step(sim)
    sim.act_trigger[...] = False
    step(sim, 4)
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 40.0)
    assert sim.hp[0, RM2] == pytest.approx(150.0 - 20.0)
    assert sim.hp[0, BM1] == 150.0
    assert sim.hp[0, RS] == 60.0
    assert sim.stats[0, ST["missile_launches_blue"]] == 1


def test_missile_range_and_paint_lock():
    sim = duel(BH, RM1, 13.0)
    pull(sim, BH, SECONDARY)
    step(sim)
    assert sim.stats[0, ST["missile_launches_blue"]] == 0
    # Painted by the shooter's pack: lock out to 50 m, no line of sight needed.
    sim = duel(BH, RM1, 30.0)
    sim.paint_t[0, RM1, sim.pack[BH]] = 5.0
    pull(sim, BH, SECONDARY)
    step(sim)
    assert sim.stats[0, ST["missile_launches_blue"]] == 1
    # Jammed below quality 0.7: no lock.
    sim = duel(BH, RM1, 30.0)
    sim.paint_t[0, RM1, sim.pack[BH]] = 5.0
    place(sim, RS, 20.0, 35.0)
    sim.ewar[0, RS] = 1
    sim.act_ewar[0, RS] = 1
    pull(sim, BH, SECONDARY)
    step(sim)  # quality is sensed at the end of this step (ECM on)
    sim.cd[0, BH] = 0.0
    step(sim)
    assert sim.quality[0, BH] < 0.7
    assert sim.stats[0, ST["missile_launches_blue"]] == 0
    sim = duel(BH, RM1, 51.0, size=100)
    sim.paint_t[0, RM1, sim.pack[BH]] = 5.0
    pull(sim, BH, SECONDARY)
    step(sim)
    assert sim.stats[0, ST["missile_launches_blue"]] == 0


def test_paint_marks_and_boosts_pack_damage():
    sim = duel(BM1, RM1, 5.0)
    pull(sim, BM1, TERTIARY)  # painter
    step(sim)
    assert sim.paint_t[0, RM1, sim.pack[BM1]] == pytest.approx(5.0 - 0.25)
    assert sim.hp[0, RM1] == 150.0
    sim.act_trigger[...] = False
    pull(sim, BM1, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 14.0 * 1.1)


def test_leg_hits_and_legged_speed():
    sim = duel(BL, RM1, 4.0, num_envs=40)
    pull(sim, BL, PRIMARY)
    step(sim)  # two flamer shots per match
    ev = sim.events[: sim.num_events]
    legs = ev["leg"]
    assert len(ev) == 80
    # 25% of flamer hits strike the legs, each taking its 4 damage off leg HP as well.
    assert 8 <= legs.sum() <= 35
    n_leg = np.bincount(ev["env"][legs], minlength=40)
    np.testing.assert_allclose(sim.leg_hp[:, RM1], 75.0 - 4.0 * n_leg)
    sim = open_sim()
    place(sim, RM1, 20.0, 30.0, yaw=0.0)
    place(sim, RM2, 20.0, 40.0, yaw=0.0)
    sim.leg_hp[0, RM1] = 0.0
    sim.act_move[0, [RM1, RM2], 0] = 1.0
    step(sim)
    assert sim.pos[0, RM2, 0] - 20.0 == pytest.approx(5.5 * 0.25)
    assert sim.pos[0, RM1, 0] - 20.0 == pytest.approx(5.5 * 0.25 * 0.4)


def test_smoke_blocks_sight_then_expires():
    from echelon.env.observations import observe

    sim = duel(BM1, RM1, 12.0, obs_mode="partial")
    observe(sim)
    assert sim.los[0, BM1, RM1]
    pull(sim, BM1, SPECIAL)
    step(sim)
    assert not sim.los[0, BM1, RM1]
    assert sim.cd[0, BM1, 3] == pytest.approx(5.0 - 0.25)
    sim.act_trigger[...] = False
    step(sim, 40)  # 10 s
    assert sim.los[0, BM1, RM1] and sim.smoke_cnt.sum() == 0


def test_paint_bonus_and_lock_belong_to_the_painting_pack_only():
    # Two packs per team: blue pack 0 medium (1) paints red medium (11); blue pack 1 medium (6)
    # lasers it without the bonus, pack 0's other medium (2) with it.
    sim = open_sim(packs_per_team=2)
    for m in range(sim.M):
        place(sim, m, 2.0 + 2.5 * m, 58.0 if m >= 10 else 2.0)
    place(sim, 1, 20.0, 30.0)
    place(sim, 11, 25.0, 30.0, yaw=np.pi)
    pull(sim, 1, TERTIARY)
    step(sim)
    assert sim.paint_t[0, 11, sim.pack[1]] > 0 and sim.paint_t[0, 11, sim.pack[6]] == 0
    sim.act_trigger[...] = False
    place(sim, 6, 20.0, 27.0)
    pull(sim, 6, PRIMARY)
    step(sim)
    assert sim.hp[0, 11] == pytest.approx(150.0 - 14.0)
    sim.act_trigger[...] = False
    place(sim, 6, 2.0, 2.0)
    place(sim, 2, 20.0, 27.0)
    pull(sim, 2, PRIMARY)
    step(sim)
    assert sim.hp[0, 11] == pytest.approx(150.0 - 14.0 - 14.0 * 1.1)
