"""What the simulator records besides state: reward parts, end reasons, events and statistics.

The names and column layouts live here (re-exported by :mod:`echelon.env.sim`, where other
modules import them) together with the two writers every phase uses, :func:`record_event` and
:func:`add_team_stat`.
"""

from __future__ import annotations

import numpy as np

REWARD_PARTS = ("zone", "approach", "damage", "kill", "assist", "death", "outcome")
RP = {n: i for i, n in enumerate(REWARD_PARTS)}
END_REASONS = ("none", "zone", "elimination", "time")
WINNERS = ("blue", "red", "draw")

EVENT_KINDS = (
    "laser_hit", "projectile_hit", "kill", "paint", "missile_launch", "ams_intercept", "smoke",
    "knockdown", "shutdown",
)
EV = {n: i for i, n in enumerate(EVENT_KINDS)}
# weapon: weapon id (-1 none/hazard); shooter/target: mech index (-1 none or hazard);
# x, y: metres; damage: after multipliers; rear/leg/painted: flags of hits.
EVENT_DTYPE = np.dtype([
    ("env", np.int32), ("kind", np.int8), ("weapon", np.int8), ("shooter", np.int16),
    ("target", np.int16), ("x", np.float32), ("y", np.float32), ("damage", np.float32),
    ("rear", np.bool_), ("leg", np.bool_), ("painted", np.bool_),
])

# Per-team stats (suffixed _blue / _red) and whole-match stats, one column each in sim.stats.
TEAM_STATS = (
    "damage", "kills", "assists", "deaths", "paints", "missile_launches", "ams_intercepts",
    "ams_attempts", "knockdowns", "shutdowns", "bad_actions", "zone_ticks", "pack_dispersion_sum",
    "pack_dispersion_count", "centroid_zone_dist_sum", "visible_contacts_sum",
    "visible_contacts_count", "hostile_filter_on_count", "ecm_on_ticks", "eccm_on_ticks",
    "scout_ticks", "shots", "projectiles_dropped",
)
MATCH_STATS = ("contested_ticks", "first_zone_entry_step")
STAT_NAMES = tuple(f"{n}_{t}" for n in TEAM_STATS for t in ("blue", "red")) + MATCH_STATS
ST = {n: i for i, n in enumerate(STAT_NAMES)}
# Per-agent stat columns in sim.agent_stats [E, M, len(AGENT_STATS)]: damage_taken counts every
# source (enemies, friendly splash, lava); enemy_damage_taken only hits by the other team.
AGENT_STATS = ("damage_dealt", "damage_taken", "kills", "assists", "reward", "enemy_damage_taken")
AS = {n: i for i, n in enumerate(AGENT_STATS)}
HEATMAP_BINS = 16  # damage heat map bins per axis, over the map normalised to [0, 1)


def record_event(sim, kind, env, weapon, shooter, target, x, y, damage=0.0, rear=False, leg=False,
                 painted=False) -> None:
    """Append ``len(env)`` events to ``sim.events`` (when ``cfg.record_events``).

    ``env``, ``x``, ``y`` are ``[N]`` arrays; every other field is a scalar or an ``[N]`` array.
    Events past the buffer's capacity are dropped and counted in ``sim.events_dropped``.
    """
    if not sim.cfg.record_events:
        return
    n = len(env)
    if n == 0:
        return
    start = sim.num_events
    room = len(sim.events) - start
    if n > room:
        sim.events_dropped += n - room
        n = room
    end = start + n
    cols = sim.event_columns
    cols["env"][start:end] = env[:n]
    cols["x"][start:end] = x[:n]
    cols["y"][start:end] = y[:n]
    for field, value in (("kind", kind), ("weapon", weapon), ("shooter", shooter), ("target", target),
                         ("damage", damage), ("rear", rear), ("leg", leg), ("painted", painted)):
        cols[field][start:end] = value if np.isscalar(value) else value[:n]
    sim.num_events = end


def add_team_stat(sim, name: str, env: np.ndarray, team: np.ndarray, value) -> None:
    """Add ``value`` (scalar or ``[N]``) to the team stat ``name`` of each (match, team) pair."""
    col = ST[f"{name}_blue"] + team  # _blue and _red are adjacent columns
    np.add.at(sim.stats, (env, col), value)
