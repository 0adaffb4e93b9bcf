"""Heat, shutdown, vent, AMS, ECM/ECCM, collisions, zone scoring, episode end, rewards."""

import numpy as np
import pytest

from echelon.env.observations import observe
from echelon.env.sim import RP, ST
from helpers import BH, BL, BM1, BM2, BS, RH, RM1, RM2, RS, open_sim, place, pull, step

PRIMARY, VENT, SECONDARY, TERTIARY, SPECIAL = range(5)


def test_shutdown_and_restart_below_cap():
    sim = open_sim()
    place(sim, BM1, 20.0, 30.0)
    sim.heat[0, BM1] = 110.0
    sim.act_move[0, BM1, 0] = 1.0
    sim.act_move[0, BM1, 3] = 1.0
    step(sim)
    assert sim.shutdown[0, BM1]
    assert sim.pos[0, BM1, 0] == 20.0 and sim.yaw[0, BM1] == 0.0  # no moving or turning
    assert sim.stats[0, ST["shutdowns_blue"]] == 1
    # Cools 11/s: under the cap after 10/11 s (4 steps), then it restarts and moves.
    step(sim, 2)
    assert sim.shutdown[0, BM1] and sim.pos[0, BM1, 0] == 20.0
    step(sim, 2)
    assert not sim.shutdown[0, BM1]
    assert sim.heat[0, BM1] < 100.0
    assert sim.pos[0, BM1, 0] > 20.0


def test_shutdown_blocks_firing():
    sim = open_sim()
    place(sim, BM1, 20.0, 30.0)
    place(sim, RM1, 25.0, 30.0, yaw=np.pi)
    sim.heat[0, BM1] = 130.0
    pull(sim, BM1, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == 150.0


def test_vent_triples_cooling_blocks_fire_halves_speed():
    sim = open_sim()
    place(sim, BM1, 20.0, 30.0)
    place(sim, BM2, 20.0, 40.0)
    place(sim, RM1, 25.0, 30.0, yaw=np.pi)
    sim.heat[0, [BM1, BM2]] = 50.0
    sim.act_move[0, [BM1, BM2], 0] = 1.0
    pull(sim, BM1, VENT)
    pull(sim, BM1, PRIMARY)
    step(sim)
    assert sim.heat[0, BM1] == pytest.approx(50.0 - 3 * 11.0 * 0.25)
    assert sim.heat[0, BM2] == pytest.approx(50.0 - 11.0 * 0.25)
    assert sim.hp[0, RM1] == 150.0  # venting: no shot
    assert sim.pos[0, BM1, 0] - 20.0 == pytest.approx(0.5 * 5.5 * 0.25)
    assert sim.pos[0, BM2, 0] - 20.0 == pytest.approx(5.5 * 0.25)


def test_ams_intercepts_about_sixty_percent_with_cooldown():
    n = 200
    sim = open_sim(num_envs=n)
    place(sim, BH, 20.0, 30.0)
    place(sim, RM1, 30.0, 30.0, yaw=np.pi)
    place(sim, RH, 30.0, 34.0, yaw=np.pi)  # AMS heavy 4 m from the target
    pull(sim, BH, SECONDARY)
    step(sim)
    sim.act_trigger[...] = False
    step(sim, 4)
    intercepted = sim.stats[:, ST["ams_intercepts_red"]]
    attempts = sim.stats[:, ST["ams_attempts_red"]]
    hit = sim.hp[:, RM1] < 150.0
    assert np.all(intercepted + hit == 1)  # each missile either intercepted or lands
    assert 0.5 <= intercepted.mean() <= 0.8
    # One missile, 1 s cooldown per attempt: at most one attempt while it is in range.
    assert attempts.max() == 1


def test_ecm_eccm_sensor_quality():
    sim = open_sim(size=100)
    place(sim, BM1, 20.0, 50.0)
    place(sim, RS, 45.0, 50.0)  # 25 m: jam = 1 - 25/50 = 0.5
    sim.ewar[0, RS] = 1
    observe(sim)
    assert sim.jam[0, BM1] == pytest.approx(0.5)
    assert sim.quality[0, BM1] == pytest.approx(1.0 - 0.85 * 0.5)
    place(sim, BS, 20.0, 52.0)  # friendly ECCM 2 m away: eccm = 0.96
    sim.ewar[0, BS] = 2
    observe(sim)
    assert sim.quality[0, BM1] == pytest.approx(np.clip(1.0 - 0.425 + 0.65 * 0.96, 0.25, 1.5))
    place(sim, RS, 22.0, 50.0)  # jam 0.96 without ECCM: clipped at the floor? 1 - 0.816 = 0.184 -> 0.25
    sim.ewar[0, BS] = 0
    observe(sim)
    assert sim.quality[0, BM1] == pytest.approx(0.25)


def test_ecm_heat_and_only_scouts():
    sim = open_sim()
    sim.heat[0, BS] = 20.0
    sim.act_ewar[0, :] = 1
    step(sim)
    assert sim.ewar[0, BS] == 1 and sim.ewar[0, BM1] == 0
    assert sim.heat[0, BS] == pytest.approx(20.0 + (3.0 - 13.0) * 0.25)


def test_collisions_keep_mechs_apart():
    sim = open_sim()
    place(sim, BM1, 20.0, 30.0, yaw=0.0)
    place(sim, RM1, 24.0, 30.0, yaw=np.pi)
    sim.act_move[0, [BM1, RM1], 0] = 1.0
    step(sim, 8)
    gap = abs(sim.pos[0, RM1, 0] - sim.pos[0, BM1, 0])
    assert gap >= 2.5 - 0.6  # bodies (2 x 1.25 m) overlap by at most ~one substep of travel
    sim.height[0, 30:32, :] = 5.0
    sim.material[0, 30:32, :] = 1
    sim.terrain_changed(0)
    place(sim, BL, 27.0, 10.0, yaw=0.0)
    sim.act_move[0, BL, 0] = 1.0
    step(sim, 8)
    assert sim.pos[0, BL, 0] < 30.0  # the building stops it


def test_zone_alone_and_contested():
    sim = open_sim()
    zc = sim.zone_center[0]
    sim.zone_radius[0] = 5.0
    place(sim, BH, zc[0], zc[1])
    step(sim)
    assert sim.zone_ticks[0].tolist() == [1.0, 0.0]
    assert sim.score[0, 0] == pytest.approx(0.25)
    assert sim.reward_parts[0, BH, RP["zone"]] == pytest.approx(3.0)
    assert sim.reward_parts[0, BM1, RP["zone"]] == 0.0
    place(sim, RS, zc[0], zc[1] + 3.0)
    step(sim)
    margin = (85.0 - 20.0) / 105.0
    assert sim.zone_ticks[0, 0] == pytest.approx(0.25 + 0.75 * margin)
    assert sim.zone_ticks[0, 1] == pytest.approx(0.25)
    assert sim.score[0, 0] == pytest.approx(0.25 + 0.25 * (0.25 + 0.75 * margin))
    assert sim.stats[0, ST["contested_ticks"]] == 1


def test_zone_win_terminates():
    sim = open_sim()
    zc = sim.zone_center[0]
    place(sim, BH, zc[0], zc[1])
    sim.score[0, 0] = 30.0 - 0.1
    step(sim)
    assert sim.env_done[0] and not sim.env_truncated[0]
    assert sim.end_reason[0] == 1 and sim.winner[0] == 0
    assert sim.reward_parts[0, BM1, RP["outcome"]] == 5.0
    assert sim.reward_parts[0, RM1, RP["outcome"]] == -5.0


def test_elimination_and_draw():
    sim = open_sim()
    sim.hp[0, 5:] = -1.0  # all red die on the next damage check
    sim.alive[0, 5:] = False
    step(sim)
    assert sim.env_done[0] and sim.end_reason[0] == 2 and sim.winner[0] == 0
    sim = open_sim()
    sim.alive[0, :] = False
    step(sim)
    assert sim.end_reason[0] == 2 and sim.winner[0] == 2
    assert np.all(sim.reward_parts[0, :, RP["outcome"]] == 0.0)


def test_time_limit_truncates_winner_by_score_then_hp():
    sim = open_sim()
    sim.step_count[0] = sim.cfg.max_steps - 1
    sim.score[0] = (3.0, 4.0)
    step(sim)
    assert sim.env_done[0] and sim.env_truncated[0] and sim.end_reason[0] == 3 and sim.winner[0] == 1
    sim = open_sim()
    sim.step_count[0] = sim.cfg.max_steps - 1
    sim.hp[0, RH] = 100.0
    step(sim)
    assert sim.winner[0] == 0


def test_kill_assist_death_rewards():
    sim = open_sim()
    place(sim, BM1, 20.0, 30.0)  # painter
    place(sim, BH, 20.0, 26.0)  # laser damage
    place(sim, BM2, 20.0, 34.0)  # killer
    place(sim, RS, 25.0, 30.0, yaw=np.pi)
    pull(sim, BM1, TERTIARY)
    pull(sim, BH, PRIMARY)
    step(sim)
    sim.act_trigger[...] = False
    sim.hp[0, RS] = 5.0
    pull(sim, BM2, PRIMARY)
    step(sim)
    assert not sim.alive[0, RS] and sim.died[0, RS]
    rp = sim.reward_parts[0]
    assert rp[BM2, RP["kill"]] == 10.0
    assert rp[BM1, RP["assist"]] == 5.0 and rp[BH, RP["assist"]] == 5.0
    assert rp[BM2, RP["assist"]] == 0.0
    assert rp[RS, RP["death"]] == -1.0
    assert sim.stats[0, ST["assists_blue"]] == 2 and sim.stats[0, ST["kills_blue"]] == 1
    # Painted by BM1's pack: 14 * 1.1 damage, 0.05 per point to the killer.
    assert rp[BM2, RP["damage"]] == pytest.approx(0.05 * 14.0 * 1.1)
    # After death: nothing but the outcome.
    step(sim)
    assert np.all(sim.reward_parts[0, RS] == 0.0) and sim.reward[0, RS] == 0.0


def test_lava_heats_and_burns_water_cools():
    sim = open_sim()
    place(sim, BM1, 20.5, 30.5)
    place(sim, BM2, 40.5, 30.5)
    sim.material[0, 20, 30] = 6
    sim.material[0, 40, 30] = 5
    sim.terrain_changed(0)
    sim.heat[0, BM2] = 50.0
    step(sim)
    assert sim.hp[0, BM1] == pytest.approx(150.0 - 5.0 * 0.25)
    assert sim.heat[0, BM1] == pytest.approx((40.0 - 11.0) * 0.25)
    assert sim.heat[0, BM2] == pytest.approx(50.0 - (30.0 + 11.0) * 0.25)


def test_jump_jets_clear_low_wall():
    sim = open_sim()
    sim.height[0, 24:25, :] = 1.2
    sim.material[0, 24:25, :] = 1
    sim.terrain_changed(0)
    place(sim, BL, 21.0, 10.0, yaw=0.0)
    place(sim, BM1, 21.0, 20.0, yaw=0.0)
    sim.act_move[0, [BL, BM1], 0] = 1.0
    sim.act_move[0, BL, 2] = 1.0
    step(sim, 4)
    assert sim.pos[0, BL, 0] > 26.0  # jumped the wall
    assert sim.pos[0, BM1, 0] < 24.0  # medium (no jets) is stopped


def test_zone_win_checked_before_elimination():
    sim = open_sim()
    zc = sim.zone_center[0]
    place(sim, BH, zc[0], zc[1])
    sim.score[0, 0] = 30.0 - 0.1
    sim.hp[0, 5:] = -1.0  # red is also eliminated this step
    step(sim)
    assert sim.end_reason[0] == 1 and sim.winner[0] == 0


def test_missile_blast_destroys_building_columns():
    sim = open_sim()
    place(sim, BH, 20.0, 30.0)
    place(sim, RM1, 30.0, 30.0, yaw=np.pi)
    sim.height[0, 31, 29:32] = 4.0
    sim.material[0, 31, 29:32] = 1
    sim.building_hp[0, 31, 29:32] = 30.0  # less than one missile (40)
    sim.terrain_changed(0)
    pull(sim, BH, SECONDARY)
    step(sim)
    sim.act_trigger[...] = False
    step(sim, 4)
    assert sim.hp[0, RM1] == pytest.approx(110.0)
    assert sim.material[0, 31, 30] == 0 and sim.height[0, 31, 30] == 0.0 and sim.solid_h[0, 31, 30] == 0.0


def test_time_limit_draw_when_score_and_hp_tie():
    sim = open_sim()
    sim.step_count[0] = sim.cfg.max_steps - 1
    sim.score[0] = (2.0, 2.0)
    step(sim)
    assert sim.end_reason[0] == 3 and sim.winner[0] == 2
    assert np.all(sim.reward_parts[0, :, RP["outcome"]] == 0.0)


def test_eccm_heat_and_radar_range_scales_with_quality():
    sim = open_sim(size=100, obs_mode="partial")
    sim.heat[0, BS] = 20.0
    sim.act_ewar[0, BS] = 2
    step(sim)
    assert sim.heat[0, BS] == pytest.approx(20.0 + (2.0 - 13.0) * 0.25)
    # Behind a wall (no sight), not hot, not painted: seen only inside radar range 14 m x quality.
    sim = open_sim(size=100, obs_mode="partial")
    place(sim, BM1, 20.0, 50.0)
    place(sim, RM1, 30.0, 50.0, yaw=np.pi)  # 10 m
    for m in (RH, RM2, RS):
        place(sim, m, 90.0, 5.0 + 5 * m)
    sim.height[0, 24:26, 40:60] = 8.0
    sim.material[0, 24:26, 40:60] = 1
    sim.terrain_changed(0)
    observe(sim)
    assert sim.visible[0, BM1, RM1]  # quality 1: 14 m
    place(sim, BS, 90.0, 90.0)  # blue scout out of the way
    place(sim, RS, 20.0, 25.0)  # red ECM scout 25 m from BM1: jam 0.5, quality 0.575, radar 8.05 m
    sim.ewar[0, RS] = 1
    observe(sim)
    assert sim.quality[0, BM1] == pytest.approx(0.575)
    assert not sim.visible[0, BM1, RM1]
    place(sim, RM1, 27.5, 50.0, yaw=np.pi)  # 7.5 m
    observe(sim)
    assert sim.visible[0, BM1, RM1]


def test_partial_sees_hot_mechs_above_eighty_percent_of_cap():
    sim = open_sim(size=100, obs_mode="partial")
    place(sim, BM1, 20.0, 50.0)
    place(sim, RM1, 45.0, 50.0, yaw=np.pi)
    sim.height[0, 30:32, 30:70] = 8.0
    sim.material[0, 30:32, 30:70] = 1
    sim.terrain_changed(0)
    sim.heat[0, RM1] = 79.0
    observe(sim)
    assert not sim.visible[0, BM1, RM1]
    sim.heat[0, RM1] = 81.0
    observe(sim)
    assert sim.visible[0, BM1, RM1]


def test_ams_ignores_missiles_aimed_at_the_other_team():
    n = 20
    sim = open_sim(num_envs=n)
    place(sim, BH, 20.0, 30.0)
    place(sim, RM1, 30.0, 30.0, yaw=np.pi)
    # The shooter is itself a heavy with AMS, within range of its own missile for the whole
    # flight's start: AMS engages only missiles aimed at its own team.
    pull(sim, BH, SECONDARY)
    step(sim, 5)
    assert np.all(sim.stats[:, ST["ams_attempts_blue"]] == 0)
    assert np.all(sim.hp[:, RM1] == pytest.approx(150.0 - 40.0))
