"""The one place that defines the flat observation's block layout.

Each agent observes one flat float32 vector of ``FLAT_OBS_DIM`` values made of these blocks,
in order::

    contacts      [MAX_CONTACTS * CONTACT_DIM]  other mechs I can see, ego frame
    contact_mask  [MAX_CONTACTS]                1 where the contact slot is filled
    squad         [MAX_SQUAD * SQUAD_DIM]       my pack mates
    squad_mask    [MAX_SQUAD]                   1 where the squad slot is filled
    ego           [EGO_DIM]                     my own state
    descriptor    [DESC_DIM]                    what my class can do
    panel         [PANEL_DIM]                   local terrain around me, ego-rotated

Feature names inside each block are listed in ``*_FIELDS`` so that code indexes them by name
(``CONTACT_IDX["hp"]``) instead of by magic number. Values are scaled to roughly [-1, 1];
positions are divided by fixed metre scales, never by the map size.
"""

from __future__ import annotations

from typing import Any, NamedTuple

MAX_CONTACTS = 10
MAX_SQUAD = 4
COMM_DIM = 8
NUM_CLASSES = 4
NUM_WEAPON_SLOTS = 4  # primary, secondary, tertiary, special
PANEL_GRID = 5  # PANEL_GRID x PANEL_GRID cells sampled around the mech
PANEL_CHANNELS = 2  # blocked (height-scaled), hazard (+1 lava, -1 water)

CONTACT_FIELDS = (
    "valid", "hostile", "rel_x", "rel_y", "rel_z", "dist", "rel_vx", "rel_vy", "closing",
    "cls_scout", "cls_light", "cls_medium", "cls_heavy",
    "hp", "heat", "stability", "fallen", "legged", "painted", "shutdown",
)
SQUAD_FIELDS = ("alive", "hp", "heat", "rel_x", "rel_y", "dist") + tuple(f"comm_{i}" for i in range(COMM_DIM))
EGO_FIELDS = (
    "alive", "hp", "leg_hp", "heat", "stability", "fallen", "legged", "shutdown", "painted",
    "cd_primary", "cd_secondary", "cd_tertiary", "cd_special",
    "vel_fwd", "vel_strafe", "vel_z",
    "sensor_quality", "jam", "suppressed", "under_fire", "incoming_missile",
    "zone_x", "zone_y", "zone_dist", "zone_radius", "in_zone",
    "score_own", "score_enemy", "time_frac",
    "sort_closest", "sort_biggest", "sort_damaged", "hostile_only",
)
DESC_FIELDS = (
    ("cls_scout", "cls_light", "cls_medium", "cls_heavy")
    + tuple(f"{slot}_{what}" for slot in ("primary", "secondary", "tertiary", "special")
            for what in ("has", "range", "ready"))
    + ("jump_jets", "ewar", "ams")
)

CONTACT_DIM = len(CONTACT_FIELDS)
SQUAD_DIM = len(SQUAD_FIELDS)
EGO_DIM = len(EGO_FIELDS)
DESC_DIM = len(DESC_FIELDS)
PANEL_DIM = PANEL_CHANNELS * PANEL_GRID * PANEL_GRID

CONTACT_IDX = {name: i for i, name in enumerate(CONTACT_FIELDS)}
SQUAD_IDX = {name: i for i, name in enumerate(SQUAD_FIELDS)}
EGO_IDX = {name: i for i, name in enumerate(EGO_FIELDS)}
DESC_IDX = {name: i for i, name in enumerate(DESC_FIELDS)}

# (name, width) in flat order.
BLOCKS = (
    ("contacts", MAX_CONTACTS * CONTACT_DIM),
    ("contact_mask", MAX_CONTACTS),
    ("squad", MAX_SQUAD * SQUAD_DIM),
    ("squad_mask", MAX_SQUAD),
    ("ego", EGO_DIM),
    ("descriptor", DESC_DIM),
    ("panel", PANEL_DIM),
)


def _offsets() -> dict[str, slice]:
    out, start = {}, 0
    for name, width in BLOCKS:
        out[name] = slice(start, start + width)
        start += width
    return out


BLOCK_SLICES = _offsets()
FLAT_OBS_DIM = sum(width for _, width in BLOCKS)


class SuiteObservation(NamedTuple):
    """A batch of observations split into blocks (NumPy arrays or torch tensors).

    Shapes for a batch of leading shape ``[*B]``:
    contacts ``[*B, MAX_CONTACTS, CONTACT_DIM]``, contact_mask ``[*B, MAX_CONTACTS]``,
    squad ``[*B, MAX_SQUAD, SQUAD_DIM]``, squad_mask ``[*B, MAX_SQUAD]``, ego ``[*B, EGO_DIM]``,
    descriptor ``[*B, DESC_DIM]``, panel ``[*B, PANEL_DIM]``.
    """

    contacts: Any
    contact_mask: Any
    squad: Any
    squad_mask: Any
    ego: Any
    descriptor: Any
    panel: Any


def flat_obs_to_suite_obs(flat: Any) -> SuiteObservation:
    """Split ``flat [*B, FLAT_OBS_DIM]`` (NumPy or torch) into a :class:`SuiteObservation` of views.

    Raises ``ValueError`` naming the expected and actual width when the last dim is wrong.
    """
    width = flat.shape[-1] if len(flat.shape) else None
    if width != FLAT_OBS_DIM:
        raise ValueError(
            f"flat Echelon observation must have last dim FLAT_OBS_DIM={FLAT_OBS_DIM}, "
            f"got shape {tuple(flat.shape)} (last dim {width})"
        )
    lead = tuple(flat.shape[:-1])
    s = BLOCK_SLICES
    return SuiteObservation(
        contacts=flat[..., s["contacts"]].reshape(*lead, MAX_CONTACTS, CONTACT_DIM),
        contact_mask=flat[..., s["contact_mask"]],
        squad=flat[..., s["squad"]].reshape(*lead, MAX_SQUAD, SQUAD_DIM),
        squad_mask=flat[..., s["squad_mask"]],
        ego=flat[..., s["ego"]],
        descriptor=flat[..., s["descriptor"]],
        panel=flat[..., s["panel"]],
    )


def suite_obs_to_flat(suite: SuiteObservation, xp: Any = None) -> Any:
    """Inverse of :func:`flat_obs_to_suite_obs`: concatenate blocks back to ``[*B, FLAT_OBS_DIM]``.

    ``xp`` is the array module (``numpy`` or ``torch``); inferred from the arrays when omitted.
    """
    if xp is None:
        import numpy as np

        xp = np
        try:
            import torch

            if isinstance(suite.ego, torch.Tensor):
                xp = torch
        except ImportError:  # torch is optional for env-only users
            pass
    lead = tuple(suite.ego.shape[:-1])
    parts = [
        suite.contacts.reshape(*lead, MAX_CONTACTS * CONTACT_DIM),
        suite.contact_mask,
        suite.squad.reshape(*lead, MAX_SQUAD * SQUAD_DIM),
        suite.squad_mask,
        suite.ego,
        suite.descriptor,
        suite.panel,
    ]
    if xp.__name__ == "torch":
        return xp.cat(parts, dim=-1)
    return xp.concatenate(parts, axis=-1)
