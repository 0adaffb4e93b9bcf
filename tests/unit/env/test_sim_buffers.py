"""The simulator's phase buffers (and observe's panel buffers) are written in place every step,
with the values a fresh computation gives; the hot path's shortcuts equal the plain formulas."""

import numpy as np

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions
from echelon.env.sim import EchelonSim


def _buffers(sim):
    geo = sim.geo
    return {"dx": geo.dx, "dy": geo.dy, "dxy": geo.dxy, "close": geo.close, "touch": geo.touch,
            "cos_yaw": geo.cos_yaw, "want_fire": sim.want_fire, "may_fire": sim.may_fire,
            "damage_in": sim.damage_in, "hazard_under": sim.hazard_under, "panel_cells": sim.panel_scratch.cx}


def test_geometry_and_firing_buffers_are_reused_and_current():
    env = EchelonVecEnv(EnvConfig(packs_per_team=2, size_x=60, size_y=60, episode_seconds=5.0), 3)
    env.reset(5)
    sim = env.sim
    before = {k: (id(a), a.ctypes.data) for k, a in _buffers(sim).items()}
    rng = np.random.default_rng(0)
    ended = shots = 0
    for _ in range(30):
        _, _, _, _, info = env.step(random_actions(rng, env.num_rows))
        ended += len(info["episodes"])
        shots += len(info["events"])
    assert ended >= 3 and shots > 0  # auto-resets and combat happened in between
    sim.step()  # no auto-reset after this one: positions are those of the last move
    assert {k: (id(a), a.ctypes.data) for k, a in _buffers(sim).items()} == before
    # The geometry is that of the final positions, computed the plain way.
    x = sim.pos[..., 0].astype(np.float32)
    y = sim.pos[..., 1].astype(np.float32)
    dx = x[:, None, :] - x[:, :, None]
    dy = y[:, None, :] - y[:, :, None]
    dxy = np.sqrt(dx * dx + dy * dy) + np.where(np.eye(sim.M, dtype=bool), np.float32(np.inf), np.float32(0.0))
    np.testing.assert_array_equal(sim.geo.dx, dx)
    np.testing.assert_array_equal(sim.geo.dy, dy)
    np.testing.assert_array_equal(sim.geo.dxy, dxy)
    np.testing.assert_array_equal(sim.geo.cos_yaw, np.cos(sim.yaw))


def test_cells_equal_clipping_the_floats_first():
    sim = EchelonSim(EnvConfig(packs_per_team=1, size_x=40, size_y=34), 4)
    rng = np.random.default_rng(1)
    x = rng.uniform(-5.0, 45.0, (4, 10, 7))
    y = rng.uniform(-5.0, 39.0, (4, 10, 7))
    x[0, 0, :4] = (-0.5, 39.0, 39.999, 40.0)  # edges: truncation toward zero, last cell, off the far edge
    e = np.arange(4)[:, None, None]
    cx = np.clip(x, 0.0, sim.X - 1).astype(np.int64)
    cy = np.clip(y, 0.0, sim.Y - 1).astype(np.int64)
    np.testing.assert_array_equal(sim._cells(x, y, e), (e * sim.X + cx) * sim.Y + cy)


def test_touching_distance_follows_deaths():
    sim = EchelonSim(EnvConfig(packs_per_team=1, size_x=40, size_y=40), 2)
    sim.seed(0)
    sim.reset_envs(np.arange(2))
    sim.step()
    assert (sim.geo.touch[0, 0, 1:5] == sim.radius_sum[0, 1:5]).all()
    sim.alive[0, 1] = False  # as a death would
    sim.step()
    assert (sim.geo.touch[0, 0, 1] == 0.0) and (sim.geo.touch[0, 1] == 0.0).all()
    assert (sim.geo.touch[1, 0, 1:5] == sim.radius_sum[0, 1:5]).all()
