"""The balance table: every class, weapon and mechanic number of the game in one place.

Balance changes are one-line edits of the rows below (ENV_SPEC 'Classes', 'Weapons', 'Heat').
Everything else in the environment reads the derived NumPy lookup arrays, indexed by class id
(``SCOUT=0 .. HEAVY=3``, the order of the observation's class one-hot) or weapon id
(``LASER=0 .. SMOKE=6``, ``NO_WEAPON=7`` is the empty slot whose row is all zeros).
Units: metres, seconds, metres/second, radians/second, tonnes.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ("scout", "light", "medium", "heavy")
SCOUT, LIGHT, MEDIUM, HEAVY = range(4)

# name: size (m, body diameter), speed m/s, yaw rad/s, jump jets, HP, leg HP, heat cap,
#       cooling /s, tonnes, stability (max, regenerates STABILITY_REGEN /s)
CLASS_TABLE = {
    "scout": dict(size=1.2, speed=7.0, yaw=1.8, jump=True, hp=60.0, leg_hp=30.0, heat_cap=75.0, cooling=13.0, tons=20.0, stability=60.0),
    "light": dict(size=1.5, speed=6.8, yaw=1.5, jump=True, hp=80.0, leg_hp=40.0, heat_cap=80.0, cooling=12.0, tons=35.0, stability=70.0),
    "medium": dict(size=2.5, speed=5.5, yaw=1.0, jump=False, hp=150.0, leg_hp=75.0, heat_cap=100.0, cooling=11.0, tons=55.0, stability=100.0),
    "heavy": dict(size=3.5, speed=2.5, yaw=0.6, jump=False, hp=200.0, leg_hp=100.0, heat_cap=130.0, cooling=10.0, tons=85.0, stability=140.0),
}

WEAPON_NAMES = ("laser", "flamer", "missile", "gauss", "autocannon", "painter", "smoke")
LASER, FLAMER, MISSILE, GAUSS, AUTOCANNON, PAINTER, SMOKE = range(7)
NO_WEAPON = 7

# name: range m, damage, stability damage, self heat, cooldown s, projectile speed m/s
#       (0 = hitscan), heat added to the target, half arc (deg) the target must be inside,
#       splash radius m, splash damage fraction, suppression s, leg-hit chance
WEAPON_TABLE = {
    "laser": dict(range=8.0, damage=14.0, stab=0.0, heat=22.0, cooldown=0.6, speed=0.0, target_heat=6.0, arc=60.0, splash=0.0, splash_frac=0.0, suppress=0.0, leg=0.15),
    "flamer": dict(range=4.5, damage=4.0, stab=0.0, heat=10.0, cooldown=0.15, speed=0.0, target_heat=15.0, arc=45.0, splash=0.0, splash_frac=0.0, suppress=0.0, leg=0.25),
    "missile": dict(range=12.0, damage=40.0, stab=15.0, heat=45.0, cooldown=3.0, speed=12.0, target_heat=0.0, arc=90.0, splash=2.5, splash_frac=0.5, suppress=0.0, leg=0.0),
    "gauss": dict(range=20.0, damage=50.0, stab=60.0, heat=15.0, cooldown=4.0, speed=40.0, target_heat=0.0, arc=30.0, splash=0.0, splash_frac=0.0, suppress=0.0, leg=0.2),
    "autocannon": dict(range=12.0, damage=8.0, stab=5.0, heat=6.0, cooldown=0.2, speed=25.0, target_heat=0.0, arc=45.0, splash=0.0, splash_frac=0.0, suppress=1.2, leg=0.25),
    "painter": dict(range=10.0, damage=0.0, stab=0.0, heat=5.0, cooldown=1.0, speed=0.0, target_heat=0.0, arc=60.0, splash=0.0, splash_frac=0.0, suppress=0.0, leg=0.0),
    "smoke": dict(range=20.0, damage=0.0, stab=0.0, heat=10.0, cooldown=5.0, speed=0.0, target_heat=0.0, arc=180.0, splash=0.0, splash_frac=0.0, suppress=0.0, leg=0.0),
}

SLOT_NAMES = ("primary", "secondary", "tertiary", "special")
# class: weapon per slot (primary, secondary, tertiary, special); None = empty slot.
LOADOUT = {
    "heavy": ("laser", "missile", "gauss", "smoke"),
    "medium": ("laser", "autocannon", "painter", "smoke"),
    "light": ("flamer", "laser", "painter", "smoke"),
    "scout": ("painter", None, None, "smoke"),
}
# Trigger bit (action ``trigger``: primary, vent, secondary, tertiary, special) of each slot.
SLOT_TRIGGER = (0, 2, 3, 4)
VENT_TRIGGER = 1

# A pack of five, in mech-index order inside the pack.
PACK_ROLES = ("heavy", "medium", "medium", "light", "scout")
PACK_SIZE = len(PACK_ROLES)

# Mechanics (ENV_SPEC 'Weapons', 'Heat, venting, EWAR, sensing').
REAR_MULT = 1.5  # damage multiplier of hits from the rear arc
REAR_COS = 0.5  # shooter is in the rear arc when cos(target heading, target->shooter) < -REAR_COS
LEGGED_SPEED = 0.4
KNOCKDOWN_S = 3.0
STABILITY_REGEN = 10.0  # per second
SUPPRESS_SPEED = 0.75  # speed multiplier while suppressed
PAINT_S = 5.0
PAINT_BONUS = 0.10  # +10% damage against a target painted by the shooter's pack
LOCK_RANGE = 50.0  # missile range with a pack paint lock
LOCK_QUALITY = 0.7  # sensor quality needed for paint locks
AMS_RANGE = 5.5
AMS_PROB = 0.6
AMS_COOLDOWN = 1.0
SMOKE_RADIUS = 4.0
SMOKE_S = 10.0
VENT_COOLING = 3.0  # cooling multiplier while venting
VENT_SPEED = 0.5
ECM_RANGE = 50.0
ECM_HEAT = 3.0  # per second
ECCM_HEAT = 2.0  # per second
JAM_WEIGHT = 0.85
ECCM_WEIGHT = 0.65
QUALITY_MIN, QUALITY_MAX = 0.25, 1.5
RADAR_RANGE = 14.0  # metres at sensor quality 1
HOT_FRAC = 0.8  # partial observation sees mechs above this fraction of their heat cap
LAVA_HEAT = 40.0  # per second
LAVA_DPS = 5.0
WATER_COOLING = 30.0  # per second
WATER_SPEED = 0.6
JUMP_SPEED = 5.0  # m/s climb at full vertical input
JUMP_HEAT = 8.0  # per second of jets
JUMP_MAX_Z = 5.0  # metres above ground level 0
GRAVITY = 9.8
STEP_HEIGHT = 0.5  # a mech walks onto columns at most this much above its feet
ASSIST_WINDOW = 5.0  # seconds
PROJECTILE_HIT_SLACK = 0.5  # metres beyond the target's radius a ballistic round still hits
UNDER_FIRE_S = 1.0  # "under fire" observation flag lasts this long after a hit

# ---- derived lookup arrays (do not edit; edit the tables above) ----
_C = [CLASS_TABLE[n] for n in CLASS_NAMES]
CLS_SIZE = np.array([c["size"] for c in _C])
CLS_RADIUS = CLS_SIZE / 2.0
CLS_SPEED = np.array([c["speed"] for c in _C])
CLS_YAW = np.array([c["yaw"] for c in _C])
CLS_JUMP = np.array([c["jump"] for c in _C])
CLS_HP = np.array([c["hp"] for c in _C])
CLS_LEG_HP = np.array([c["leg_hp"] for c in _C])
CLS_HEAT_CAP = np.array([c["heat_cap"] for c in _C])
CLS_COOLING = np.array([c["cooling"] for c in _C])
CLS_TONS = np.array([c["tons"] for c in _C])
CLS_STABILITY = np.array([c["stability"] for c in _C])
CLS_AMS = np.array([n == "heavy" for n in CLASS_NAMES])
CLS_EWAR = np.array([n == "scout" for n in CLASS_NAMES])


def _weapon_column(key: str) -> np.ndarray:
    # Index NO_WEAPON (the empty slot) is a zero row so lookups never need a mask.
    return np.array([WEAPON_TABLE[n][key] for n in WEAPON_NAMES] + [0.0])


W_RANGE = _weapon_column("range")
W_DAMAGE = _weapon_column("damage")
W_STAB = _weapon_column("stab")
W_HEAT = _weapon_column("heat")
W_COOLDOWN = _weapon_column("cooldown")
W_SPEED = _weapon_column("speed")
W_TARGET_HEAT = _weapon_column("target_heat")
W_COS_ARC = np.cos(np.deg2rad(_weapon_column("arc")))
W_COS_ARC[NO_WEAPON] = 2.0  # nothing is inside the empty slot's arc
W_SPLASH = _weapon_column("splash")
W_SPLASH_FRAC = _weapon_column("splash_frac")
W_SUPPRESS = _weapon_column("suppress")
W_LEG = _weapon_column("leg")
# [class, slot] weapon id.
CLS_LOADOUT = np.array(
    [[NO_WEAPON if w is None else WEAPON_NAMES.index(w) for w in LOADOUT[n]] for n in CLASS_NAMES], dtype=np.int64
)
MAX_RANGE = float(max(W_RANGE.max(), LOCK_RANGE))
