"""Scene builders for env unit tests: an open map, mechs parked apart, direct state edits.

Mech indices with ``packs_per_team=1``: blue 0 heavy, 1 medium, 2 medium, 3 light, 4 scout;
red 5 heavy, 6 medium, 7 medium, 8 light, 9 scout.
"""

from __future__ import annotations

import numpy as np

from echelon.config import EnvConfig
from echelon.env.observations import observe
from echelon.env.sim import EchelonSim

BH, BM1, BM2, BL, BS = range(5)
RH, RM1, RM2, RL, RS = range(5, 10)


def open_sim(num_envs: int = 1, size: int = 60, **cfg_kw) -> EchelonSim:
    """A 5v5 sim on a flat open map; mechs parked 6 m apart along y = 2 (blue) / y = size-2 (red),
    facing +y / -y; zone (radius 2) in the middle of the right edge, away from everyone."""
    cfg_kw.setdefault("packs_per_team", 1)
    cfg = EnvConfig(size_x=size, size_y=size, **cfg_kw)
    sim = EchelonSim(cfg, num_envs)
    sim.seed(0)
    sim.reset_envs(np.arange(num_envs))
    for e in range(num_envs):
        sim.height[e] = 0.0
        sim.material[e] = 0
        sim.building_hp[e] = 0.0
        sim.terrain_changed(e)
        sim.zone_center[e] = (size - 3.0, size / 2.0)
        sim.zone_radius[e] = 2.0
    T = cfg.mechs_per_team
    for m in range(sim.M):
        blue = m < T
        sim.pos[:, m] = (3.0 + 6.0 * (m % T), 2.0 if blue else size - 2.0, 0.0)
        sim.yaw[:, m] = np.pi / 2 if blue else -np.pi / 2
    observe(sim)
    return sim


def place(sim: EchelonSim, m: int, x: float, y: float, yaw: float = 0.0, e=slice(None)) -> None:
    sim.pos[e, m] = (x, y, 0.0)
    sim.yaw[e, m] = yaw


def step(sim: EchelonSim, n: int = 1) -> None:
    """n decision steps, observing first (scene edits) and after each (as the vector env does)."""
    observe(sim)
    for _ in range(n):
        sim.step()
        observe(sim)


def pull(sim: EchelonSim, m: int, trigger: int, e=slice(None)) -> None:
    sim.act_trigger[e, m, trigger] = True
