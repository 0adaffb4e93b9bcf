"""Per-decision-step match statistics and the end-of-match outcome report."""

from __future__ import annotations

import numpy as np

from echelon.env import specs as S
from echelon.env.records import AS, END_REASONS, ST, STAT_NAMES, WINNERS


def step_stats(sim) -> None:
    """Add this step's contacts, filter, EWAR and scout counts and the pack dispersion and
    centroid-to-zone distance (m) of every living pack to ``sim.stats``."""
    alive = sim.alive
    st = sim.stats
    scouts = alive & sim.has_ewar
    # Integer counts per team (mechs 0..T-1 blue, T..2T-1 red) into the adjacent _blue, _red columns.
    for name, count in (("visible_contacts_sum", sim.n_contacts * alive), ("visible_contacts_count", alive),
                        ("hostile_filter_on_count", (sim.hostile_only > 0) & alive),
                        ("ecm_on_ticks", (sim.ewar == 1) & scouts), ("eccm_on_ticks", (sim.ewar == 2) & scouts),
                        ("scout_ticks", scouts)):
        col = ST[name + "_blue"]
        st[:, col:col + 2] += count.reshape(sim.E, 2, sim.T).sum(2)
    # Pack dispersion: mean distance of living pack members to their centroid, per pack.
    px, py = sim.pos[:, None, :, 0], sim.pos[:, None, :, 1]  # [E, 1, M]
    weight = alive[:, None, :] * sim.pack_onehot[None]  # [E, pack, M]
    n = weight.sum(2)
    cx = (weight * px).sum(2) / np.maximum(n, 1)
    cy = (weight * py).sum(2) / np.maximum(n, 1)
    spread = (weight * np.hypot(px - cx[..., None], py - cy[..., None])).sum(2) / np.maximum(n, 1)
    zone_dist = np.hypot(cx - sim.zone_center[:, None, 0], cy - sim.zone_center[:, None, 1])
    has = n > 0
    ppt = sim.cfg.packs_per_team
    for team, sfx in ((0, "_blue"), (1, "_red")):
        packs = slice(team * ppt, (team + 1) * ppt)
        st[:, ST["pack_dispersion_sum" + sfx]] += (spread * has)[:, packs].sum(1)
        st[:, ST["pack_dispersion_count" + sfx]] += has[:, packs].sum(1)
        st[:, ST["centroid_zone_dist_sum" + sfx]] += (zone_dist * has)[:, packs].sum(1)


def outcome(sim, e: int) -> dict:
    """The ENV_SPEC 'outcome' dict of match slot ``e`` (call before it is reset). Absent mechs
    (packs above the match's count) are left out of ``agents``; ``map_size`` is the match's own."""
    st = {n: float(sim.stats[e, i]) for i, n in enumerate(STAT_NAMES)}
    st["first_zone_entry_step"] = int(st["first_zone_entry_step"])
    ag = sim.agent_stats[e]
    for team, sfx in ((0, "blue"), (1, "red")):
        # Damage this team dealt, per enemy mech (lava and friendly splash excluded).
        taken = ag[sim.team != team, AS["enemy_damage_taken"]]
        tot = float(taken.sum())
        st[f"focus_fire_concentration_{sfx}"] = float(taken.max() / tot) if tot > 0 else 0.0
    hp = sim.hp[e] * sim.alive[e]
    agents = [
        {"id": int(m), "team": WINNERS[sim.team[m]], "class": S.CLASS_NAMES[sim.cls[m]],
         "alive": bool(sim.alive[e, m]), "damage_dealt": float(ag[m, AS["damage_dealt"]]),
         "damage_taken": float(ag[m, AS["damage_taken"]]), "kills": int(ag[m, AS["kills"]]),
         "assists": int(ag[m, AS["assists"]]), "reward": float(ag[m, AS["reward"]])}
        for m in np.nonzero(sim.present[e])[0].tolist()
    ]
    dead = ~np.isnan(sim.death_pos[e, :, 0])
    return {
        "reason": END_REASONS[sim.end_reason[e]],
        "winner": WINNERS[sim.winner[e]] if sim.winner[e] >= 0 else "none",
        "hp_blue": float(hp[sim.team == 0].sum()),
        "hp_red": float(hp[sim.team == 1].sum()),
        "zone_score_blue": float(sim.score[e, 0]),
        "zone_score_red": float(sim.score[e, 1]),
        "length": int(sim.step_count[e]),
        "stats": st,
        "agents": agents,
        "death_positions": [(float(sim.death_pos[e, m, 0]), float(sim.death_pos[e, m, 1]), WINNERS[sim.team[m]])
                            for m in np.nonzero(dead)[0]],
        "damage_heatmap": sim.damage_heatmap[e].copy(),
        "map_size": (int(sim.match_x[e]), int(sim.match_y[e])),
    }
