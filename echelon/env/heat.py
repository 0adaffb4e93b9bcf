"""Heat, shutdown, knockdown and countdown timers: the start and the end of every substep.

:func:`update_shutdown` runs first in a substep (a mech over its heat cap shuts down and stays
down until it has cooled back to the cap); :func:`cool_and_tick` runs last (cooling and heat
sources, knockdowns when stability is gone, cooldowns and timers, expired smoke).
"""

from __future__ import annotations

import numpy as np

from echelon.env import specs as S
from echelon.env.records import EV, add_team_stat, record_event
from echelon.env.weapons import clear_smoke


def update_shutdown(sim) -> None:
    """Shut down above the heat cap; restart once cooled back under it (start of a substep)."""
    was = sim.shutdown.copy()
    sim.shutdown[...] = sim.alive & np.where(was, sim.heat >= sim.heat_cap, sim.heat > sim.heat_cap)
    new = sim.shutdown & ~was
    if new.any():
        e, m = np.nonzero(new)
        add_team_stat(sim, "shutdowns", e, sim.team[m], 1.0)
        record_event(sim, EV["shutdown"], e, -1, -1, m, sim.pos[e, m, 0], sim.pos[e, m, 1])


def begin_step(sim) -> None:
    """Heat terms fixed for a decision step by its vent and EWAR choices (heat / s ``[E, M]``)."""
    np.multiply(sim.cooling, np.where(sim.vent, S.VENT_COOLING, 1.0), out=sim.vent_cooling)
    # At most one of the two terms is non-zero, so adding them first changes no rounding.
    np.add((sim.ewar == 1) * S.ECM_HEAT, (sim.ewar == 2) * S.ECCM_HEAT, out=sim.ewar_heat)


def cool_and_tick(sim) -> None:
    """End of a substep: heat flow (heat / s: class cooling, vent, water, lava, ECM / ECCM),
    knockdowns, stability regeneration, and every countdown (s) ticked down by ``dt``."""
    dt = sim.dt
    alive = sim.alive
    hazard = sim.hazard_under
    cool = sim.vent_cooling + (hazard < 0) * S.WATER_COOLING
    gain = (hazard > 0) * S.LAVA_HEAT + sim.ewar_heat
    sim.heat += (gain - cool) * dt * alive
    np.maximum(sim.heat, 0.0, out=sim.heat)
    # Knockdown when stability is gone; stability refills while down.
    knock = alive & (sim.stability <= 0) & ~(sim.fallen_t > 0)
    knocked = knock.any()
    if knocked:
        e, m = np.nonzero(knock)
        sim.fallen_t[e, m] = S.KNOCKDOWN_S
        add_team_stat(sim, "knockdowns", e, sim.team[m], 1.0)
        record_event(sim, EV["knockdown"], e, -1, -1, m, sim.pos[e, m, 0], sim.pos[e, m, 1])
    sim.stability += S.STABILITY_REGEN * dt
    np.minimum(sim.stability, sim.max_stab, out=sim.stability)
    if knocked:
        np.copyto(sim.stability, sim.max_stab, where=knock)
        # A knockdown that starts this substep lasts the full KNOCKDOWN_S from the next one.
        sim.fallen_t -= dt * ~knock
    else:
        sim.fallen_t -= dt
    np.maximum(sim.fallen_t, 0.0, out=sim.fallen_t)
    for timer in (sim.cd, sim.suppress_t, sim.under_fire_t, sim.ams_cd, sim.paint_t, sim.smoke_t):
        timer -= dt
        np.maximum(timer, 0.0, out=timer)
    gone = sim.smoke_on & (sim.smoke_t <= 0)
    if gone.any():
        e, slot = np.nonzero(gone)
        clear_smoke(sim, e, slot)
