"""What the env reports (ENV_SPEC 'What the env reports'): event kinds, outcome stats, focus
fire; plus the friendly-fire switch of splash damage."""

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv
from echelon.env.mapgen import LAVA
from echelon.env.sim import EVENT_KINDS, ST
from helpers import BH, BL, BM1, BM2, BS, RH, RM1, RM2, RS, open_sim, place, pull, step

PRIMARY, VENT, SECONDARY, TERTIARY, SPECIAL = range(5)


def test_every_event_kind_is_emitted():
    sim = open_sim(num_envs=8)
    place(sim, BM1, 20.0, 30.0)  # laser + painter at RM1, 5 m
    place(sim, RM1, 25.0, 30.0, yaw=np.pi)
    place(sim, BH, 20.0, 20.0)  # missile + gauss at RM2, 10.8 m; red heavy's AMS next to it
    place(sim, RM2, 30.0, 24.0, yaw=np.pi)
    place(sim, RH, 31.0, 27.0, yaw=np.pi)
    place(sim, BM2, 20.0, 40.0)  # laser kills the 1 HP scout
    place(sim, RS, 24.0, 40.0, yaw=np.pi)
    sim.hp[:, RS] = 1.0
    place(sim, BL, 20.0, 50.0)  # smoke; knocked down (no stability)
    sim.stability[:, BL] = 0.0
    sim.heat[:, BS] = 100.0  # scout heat cap 75: shuts down
    for m, trig in ((BM1, PRIMARY), (BM1, TERTIARY), (BH, SECONDARY), (BH, TERTIARY), (BM2, PRIMARY), (BL, SPECIAL)):
        pull(sim, m, trig)
    seen = set()
    for _ in range(4):
        step(sim)
        seen |= {EVENT_KINDS[k] for k in sim.events["kind"][: sim.num_events]}
    assert seen == set(EVENT_KINDS)
    ev = sim.events[: sim.num_events]
    assert sim.events_dropped == 0 and len(ev) > 0


def test_outcome_reports_every_spec_stat():
    env = EchelonVecEnv(EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=1.0), num_envs=1)
    env.reset(seed=2)
    zero = {k: np.zeros((5, *v.shape), v.dtype) for k, v in env.single_action_space.spaces.items()}
    for _ in range(4):
        _, _, _, _, info = env.step(zero)
    out = info["episodes"][0]["outcome"]
    assert {"reason", "winner", "hp_blue", "hp_red", "zone_score_blue", "zone_score_red", "length", "stats",
            "agents", "death_positions", "damage_heatmap"} <= set(out)
    assert out["reason"] == "time" and out["length"] == 4
    team_keys = ("damage", "kills", "assists", "deaths", "paints", "missile_launches", "ams_intercepts",
                 "knockdowns", "shutdowns", "bad_actions", "zone_ticks", "pack_dispersion_sum",
                 "pack_dispersion_count", "centroid_zone_dist_sum", "focus_fire_concentration",
                 "visible_contacts_sum", "visible_contacts_count", "hostile_filter_on_count", "ecm_on_ticks",
                 "eccm_on_ticks", "scout_ticks")
    want = {f"{k}_{t}" for k in team_keys for t in ("blue", "red")} | {"contested_ticks", "first_zone_entry_step"}
    assert want <= set(out["stats"])
    st = out["stats"]
    # One pack per team alive for 4 steps; full observation sees the 9 others.
    assert st["pack_dispersion_count_blue"] == 4 and st["scout_ticks_red"] == 4
    assert st["visible_contacts_sum_blue"] == 4 * 5 * 9 and st["visible_contacts_count_blue"] == 20
    assert len(out["agents"]) == 10
    assert {"id", "class", "alive", "damage_dealt", "damage_taken", "kills", "reward"} <= set(out["agents"][0])
    assert out["agents"][0]["class"] == "heavy" and out["agents"][4]["class"] == "scout"


def test_focus_fire_concentration_counts_only_damage_the_team_dealt():
    sim = open_sim()
    place(sim, BM1, 20.0, 30.0)
    place(sim, RM1, 25.0, 30.0, yaw=np.pi)
    place(sim, BH, 20.5, 40.5)
    place(sim, RM2, 25.5, 40.5, yaw=np.pi)
    sim.material[0, 25, 40] = LAVA  # RM2 also burns: 5 HP/s x 0.25 s, not blue's damage
    sim.terrain_changed(0)
    pull(sim, BM1, PRIMARY)
    pull(sim, BH, PRIMARY)
    step(sim)
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 14.0)
    assert sim.hp[0, RM2] == pytest.approx(150.0 - 14.0 - 1.25)
    out = sim.outcome(0)
    assert out["stats"]["focus_fire_concentration_blue"] == pytest.approx(0.5)
    assert out["stats"]["focus_fire_concentration_red"] == 0.0
    assert out["agents"][RM2]["damage_taken"] == pytest.approx(15.25)


@pytest.mark.parametrize("friendly_fire", [False, True])
def test_splash_spares_own_team_unless_friendly_fire(friendly_fire):
    sim = open_sim(friendly_fire=friendly_fire)
    place(sim, BH, 20.0, 30.0)
    place(sim, RM1, 30.0, 30.0, yaw=np.pi)
    place(sim, BM1, 30.0, 27.0, yaw=0.0)  # shooter's friend, 3 m from the impact (body edge 1.75 m)
    pull(sim, BH, SECONDARY)
    step(sim)
    sim.act_trigger[...] = False
    step(sim, 4)
    assert sim.hp[0, RM1] == pytest.approx(150.0 - 40.0)
    assert sim.hp[0, BM1] == pytest.approx(150.0 - 20.0 if friendly_fire else 150.0)
    assert sim.hp[0, BH] == 200.0  # the shooter itself is never splashed
    # Friendly splash is not credited as damage dealt.
    assert sim.stats[0, ST["damage_blue"]] == pytest.approx(40.0)

