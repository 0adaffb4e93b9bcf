"""Top-down RGB frames of one match (terrain, zone, smoke, shots, mechs), drawn with pillow.

The frame is ``[H, W, 3]`` uint8 with ``W = size_x * scale`` and ``H = size_y * scale``; x grows
to the right and y grows upwards (row 0 is the top edge, y = size_y).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from echelon.env.specs import CLS_SIZE

# Material colours, indexed by material code (ground, building, reinforced, glass, foliage,
# water, lava). Water is teal so it never reads as a blue mech.
MATERIAL_RGB = np.array(
    [
        (196, 184, 156),
        (128, 128, 132),
        (70, 74, 86),
        (176, 222, 232),
        (64, 138, 60),
        (70, 150, 160),
        (236, 110, 20),
    ],
    dtype=np.float32,
)

# Team fill colours (blue, red): saturated so tests and eyes can find them.
TEAM_RGB = ((40, 90, 255), (230, 30, 30))
DEAD_RGB = (60, 60, 60)
ZONE_RGB = (255, 215, 0)
SMOKE_RGB = (225, 225, 225)
SHOT_RGB = ((150, 190, 255), (255, 160, 140))
HEADING_RGB = (255, 255, 255)
OUTLINE_RGB = (0, 0, 0)

# Polygon sides and rotation (deg) by class index (``specs``: scout, light, medium, heavy):
# scout triangle, light diamond, medium square, heavy octagon; footprint from ``specs.CLS_SIZE``.
CLASS_SIDES = (3, 4, 4, 8)
CLASS_ROTATION = (0.0, 0.0, 45.0, 22.5)

# Column height at which blocking terrain is drawn darkest (m).
_HEIGHT_SHADE_M = 12.0


def terrain_rgb(material: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Colour per cell ``[size_x, size_y, 3]`` float32 in [0, 255]: material colour, darker when taller."""
    rgb = MATERIAL_RGB[material]
    shade = 1.0 - 0.45 * np.clip(height / _HEIGHT_SHADE_M, 0.0, 1.0)
    return rgb * shade[..., None]


def render_frame(
    material: np.ndarray,
    height: np.ndarray,
    zone_center: np.ndarray,
    zone_radius: float,
    mech_pos: np.ndarray,
    mech_yaw: np.ndarray,
    mech_class: np.ndarray,
    mech_team: np.ndarray,
    mech_alive: np.ndarray,
    shots: Optional[np.ndarray] = None,
    shot_team: Optional[np.ndarray] = None,
    smoke: Optional[np.ndarray] = None,
    scale: int = 6,
) -> np.ndarray:
    """Draw one match top-down.

    Args:
        material: ``[size_x, size_y]`` uint8 material codes.
        height: ``[size_x, size_y]`` float32 column heights (m).
        zone_center: ``[2]`` zone centre (m); ``zone_radius`` in m.
        mech_pos: ``[M, 2+]`` mech positions (m); only x, y are used.
        mech_yaw: ``[M]`` headings (rad, 0 = +x, counter-clockwise).
        mech_class: ``[M]`` class index (0 scout, 1 light, 2 medium, 3 heavy).
        mech_team: ``[M]`` team index (0 blue, 1 red).
        mech_alive: ``[M]`` bool; dead mechs are drawn as small grey crosses.
        shots: ``[S, 4]`` shot segments this step ``(x0, y0, x1, y1)`` in m, or None.
        shot_team: ``[S]`` shooter team per segment (colours the tracer), or None.
        smoke: ``[K, 3]`` smoke clouds ``(x, y, radius)`` in m, or None.
        scale: pixels per metre.

    Returns:
        ``[size_y * scale, size_x * scale, 3]`` uint8 RGB image.
    """
    size_x, size_y = material.shape
    # Cells to pixels: transpose to (y, x), flip so y grows upwards, upsample by ``scale``.
    cells = terrain_rgb(material, height).transpose(1, 0, 2)[::-1]
    base = np.repeat(np.repeat(cells, scale, axis=0), scale, axis=1).astype(np.uint8)
    img = Image.fromarray(base, mode="RGB")
    draw = ImageDraw.Draw(img, "RGBA")

    def px(x: float, y: float) -> tuple[float, float]:
        return float(x) * scale, float(size_y - y) * scale

    cx, cy = px(zone_center[0], zone_center[1])
    r = float(zone_radius) * scale
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ZONE_RGB + (50,), outline=ZONE_RGB, width=max(1, scale // 3))

    if smoke is not None:
        for x, y, sr in np.asarray(smoke, dtype=np.float64).reshape(-1, 3):
            sx, sy = px(x, y)
            rr = sr * scale
            draw.ellipse((sx - rr, sy - rr, sx + rr, sy + rr), fill=SMOKE_RGB + (150,))

    if shots is not None:
        segs = np.asarray(shots, dtype=np.float64).reshape(-1, 4)
        teams = np.zeros(len(segs), dtype=np.int64) if shot_team is None else np.asarray(shot_team).reshape(-1)
        for (x0, y0, x1, y1), t in zip(segs, teams, strict=False):
            draw.line(px(x0, y0) + px(x1, y1), fill=SHOT_RGB[int(t) % 2], width=max(1, scale // 3))

    pos = np.asarray(mech_pos, dtype=np.float64)
    for k in range(len(pos)):
        mx, my = px(pos[k, 0], pos[k, 1])
        cls = int(mech_class[k])
        half = 0.5 * float(CLS_SIZE[cls]) * scale + 1.0
        if not mech_alive[k]:
            d = 0.6 * half
            draw.line((mx - d, my - d, mx + d, my + d), fill=DEAD_RGB, width=2)
            draw.line((mx - d, my + d, mx + d, my - d), fill=DEAD_RGB, width=2)
            continue
        yaw = float(mech_yaw[k])
        # Image y points down, so a counter-clockwise world heading is clockwise on screen.
        rot = CLASS_ROTATION[cls] - np.degrees(yaw)
        draw.regular_polygon(
            (mx, my, half), CLASS_SIDES[cls], rotation=rot, fill=TEAM_RGB[int(mech_team[k])], outline=OUTLINE_RGB
        )
        tip = (mx + 1.6 * half * np.cos(yaw), my - 1.6 * half * np.sin(yaw))
        draw.line((mx, my) + tip, fill=HEADING_RGB, width=max(1, scale // 4))
    return np.asarray(img, dtype=np.uint8)
