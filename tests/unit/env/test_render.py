"""Top-down frames: shape, dtype, orientation, team colours, class sizes."""

from __future__ import annotations

import numpy as np

from echelon.env.mapgen import GROUND, LAVA, NUM_MATERIALS, WATER
from echelon.env.render import DEAD_RGB, MATERIAL_RGB, TEAM_RGB, ZONE_RGB, render_frame


def _open_map(size_x: int = 30, size_y: int = 20) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((size_x, size_y), np.uint8), np.zeros((size_x, size_y), np.float32)


def _count(frame: np.ndarray, rgb: tuple[int, int, int]) -> int:
    return int((frame == np.array(rgb, np.uint8)).all(axis=-1).sum())


def test_material_palette_is_complete_and_distinct():
    assert MATERIAL_RGB.shape == (NUM_MATERIALS, 3)
    assert len({tuple(c) for c in MATERIAL_RGB.tolist()}) == NUM_MATERIALS
    for team in TEAM_RGB:
        assert tuple(float(v) for v in team) not in {tuple(c) for c in MATERIAL_RGB.tolist()}


def test_frame_shape_dtype_and_team_colours():
    material, height = _open_map(30, 20)
    frame = render_frame(
        material, height, zone_center=np.array([15.0, 10.0]), zone_radius=4.0,
        mech_pos=np.array([[5.0, 5.0], [25.0, 15.0]]), mech_yaw=np.array([0.0, np.pi]),
        mech_class=np.array([3, 3]), mech_team=np.array([0, 1]), mech_alive=np.array([True, True]),
        scale=4,
    )
    assert frame.shape == (20 * 4, 30 * 4, 3) and frame.dtype == np.uint8
    assert _count(frame, TEAM_RGB[0]) > 20 and _count(frame, TEAM_RGB[1]) > 20
    assert _count(frame, ZONE_RGB) > 0
    # y grows upwards: blue at y = 5 m is drawn in the lower half, red at y = 15 m in the upper.
    blue_rows = np.nonzero((frame == np.array(TEAM_RGB[0], np.uint8)).all(-1))[0]
    red_rows = np.nonzero((frame == np.array(TEAM_RGB[1], np.uint8)).all(-1))[0]
    assert blue_rows.mean() > 40 > red_rows.mean()


def test_terrain_colours_follow_material_and_height():
    material, height = _open_map(10, 10)
    material[0, 0] = LAVA
    material[9, 9] = WATER
    frame = render_frame(
        material, height, zone_center=np.array([5.0, 5.0]), zone_radius=1.0,
        mech_pos=np.zeros((0, 2)), mech_yaw=np.zeros(0), mech_class=np.zeros(0, int),
        mech_team=np.zeros(0, int), mech_alive=np.zeros(0, bool), scale=2,
    )
    # Cell (0, 0) is the bottom-left 2 x 2 pixels; cell (9, 9) the top-right.
    assert (frame[-1, 0] == MATERIAL_RGB[LAVA].astype(np.uint8)).all()
    assert (frame[0, -1] == MATERIAL_RGB[WATER].astype(np.uint8)).all()
    assert (frame[-1, -1] == MATERIAL_RGB[GROUND].astype(np.uint8)).all()


def test_class_sizes_and_dead_mechs():
    material, height = _open_map(40, 40)
    kw = dict(zone_center=np.array([35.0, 35.0]), zone_radius=1.0, mech_yaw=np.zeros(1), mech_team=np.zeros(1, int))
    area = []
    for cls in range(4):
        frame = render_frame(
            material, height, mech_pos=np.array([[10.0, 10.0]]), mech_class=np.array([cls]),
            mech_alive=np.array([True]), scale=8, **kw,
        )
        area.append(_count(frame, TEAM_RGB[0]))
    # scout < light < medium < heavy footprints.
    assert area == sorted(area) and len(set(area)) == 4
    dead = render_frame(
        material, height, mech_pos=np.array([[10.0, 10.0]]), mech_class=np.array([3]),
        mech_alive=np.array([False]), scale=8, **kw,
    )
    assert _count(dead, TEAM_RGB[0]) == 0 and _count(dead, DEAD_RGB) > 0


def test_shots_and_smoke_drawn():
    material, height = _open_map(20, 20)
    common = dict(
        zone_center=np.array([18.0, 18.0]), zone_radius=1.0, mech_pos=np.zeros((0, 2)), mech_yaw=np.zeros(0),
        mech_class=np.zeros(0, int), mech_team=np.zeros(0, int), mech_alive=np.zeros(0, bool), scale=4,
    )
    plain = render_frame(material, height, **common)
    busy = render_frame(
        material, height, shots=np.array([[2.0, 2.0, 12.0, 2.0]]), shot_team=np.array([1]),
        smoke=np.array([[5.0, 12.0, 3.0]]), **common,
    )
    changed = (plain != busy).any(-1)
    # The tracer row at y = 2 m and the smoke disc around (5, 12) m both changed pixels.
    assert changed[(20 - 2) * 4, 4 * 4 : 12 * 4].all()
    assert changed[(20 - 12) * 4, 5 * 4]
