"""The demo defects: each painter paints one defect in place and returns the mask of the pixels it
changed and an English noun phrase."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .painting import blend, grid, luminance, smooth_noise, uniform, window

# --------------------------------------------------------------------------
# Defect painters.  Each gets the (3, H, W) image, an (x, y) centre inside it
# and the image's shorter side; it paints in place and returns the (H, W)
# bool mask of the pixels it changed plus an English noun phrase.  Painters
# only blend towards in-range colours or darken, so values stay in 0..255.
# --------------------------------------------------------------------------


def _paint_scratch(rng, rgb, centre, side):
    _, h, w = rgb.shape
    length = uniform(rng, 0.25, 0.6) * side
    angle = uniform(rng, 0, math.pi)
    bend = uniform(rng, -0.08, 0.08) * length  # sideways bow of the scratch
    direction = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    # Parabola through the centre: p(t) = c + t*d*L/2 - t^2 * bend * n, t in [-1, 1].
    t = np.linspace(-1.0, 1.0, max(8, int(length / 4)))
    points = np.asarray(centre) + t[:, None] * direction * length / 2 - (t**2)[:, None] * bend * normal
    # Depth varies along the scratch so it does not look like a ruler line.
    depth = np.interp(t, np.linspace(-1.0, 1.0, 6), rng.uniform(0.55, 0.95, 6))
    width = int(rng.integers(1, 4))

    # Draw segment by segment, storing each segment's depth as the pixel value.
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    for a, b, d in zip(points[:-1], points[1:], depth[:-1], strict=True):
        draw.line([tuple(a), tuple(b)], fill=int(round(255 * d)), width=width)
    alpha = np.asarray(layer, dtype=np.float32) / 255.0
    mask = alpha > 0

    # A scratch catches the light (bright) on dark surfaces and shows as a
    # dark groove on bright ones.
    luma = float(luminance(rgb[:, mask]).mean())
    bright = luma < 120 or (luma < 160 and rng.random() < 0.6)
    blend(rgb, alpha, (245, 245, 240) if bright else (35, 35, 35))

    if abs(math.cos(angle)) > math.cos(math.radians(20)):
        orientation = "horizontal "
    elif abs(math.sin(angle)) > math.cos(math.radians(20)):
        orientation = "vertical "
    else:
        orientation = "diagonal "
    size_word = "long " if length > 0.42 * side else ("short " if length < 0.32 * side else "")
    shade_word = "" if bright else "dark "
    return mask, f"a {size_word}{shade_word}{orientation}scratch"


def _random_walk(rng, start, heading, steps, step_len, jag):
    """Jagged random-walk polyline of shape (steps + 1, 2) in (x, y).

    The heading wanders slowly (cumulative sum) and jitters per step (``jag``),
    which gives the zig-zag look of a crack without curling up on itself.
    """
    wander = np.cumsum(rng.normal(0.0, 0.08, steps))
    headings = heading + np.clip(wander, -0.6, 0.6) + rng.normal(0.0, jag, steps)
    lengths = step_len * rng.uniform(0.6, 1.4, steps)
    steps_xy = np.stack([np.cos(headings) * lengths, np.sin(headings) * lengths], axis=1)
    return np.vstack([start, start + np.cumsum(steps_xy, axis=0)])


def _paint_crack(rng, rgb, centre, side):
    _, h, w = rgb.shape
    length = uniform(rng, 0.2, 0.45) * side
    step = max(2.0, 0.008 * side)
    steps = max(6, int(length / step))
    heading = uniform(rng, 0, 2 * math.pi)
    centre = np.asarray(centre, dtype=float)
    # Grow two halves from the centre in opposite directions so the centre
    # (which is inside the image) always lies on the crack.
    half_a = _random_walk(rng, centre, heading, steps // 2, step, 0.45)
    half_b = _random_walk(rng, centre, heading + math.pi, steps - steps // 2, step, 0.45)
    main = np.vstack([half_b[::-1], half_a[1:]])

    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    main_width = max(2, int(round(uniform(rng, 0.003, 0.006) * side)))
    # Taper: the outer thirds are thinner than the middle.
    n = len(main)
    for a, b, width in (
        (0, n // 3 + 1, main_width - 1),
        (n // 3, 2 * n // 3 + 1, main_width),
        (2 * n // 3, n, main_width - 1),
    ):
        draw.line([tuple(p) for p in main[a:b]], fill=255, width=max(1, width), joint="curve")

    n_branches = int(rng.integers(1, 4))
    for _ in range(n_branches):
        origin = main[int(rng.integers(n // 6, max(n // 6 + 1, 5 * n // 6)))]
        # Branches leave at 30-60 degrees from the main direction, on either
        # side and towards either end of the crack.
        turn = float(rng.choice([-1, 1])) * uniform(rng, 0.5, 1.1)
        branch_heading = heading + turn + float(rng.choice([0, math.pi]))
        branch_steps = max(3, int(steps * uniform(rng, 0.15, 0.35)))
        branch = _random_walk(rng, origin, branch_heading, branch_steps, step, 0.5)
        draw.line([tuple(p) for p in branch], fill=255, width=1, joint="curve")

    mask = np.asarray(layer) > 0
    # A crack is a dark gap: darken the surface strongly, keeping a hint of its hue.
    rgb[:, mask] *= uniform(rng, 0.12, 0.25)
    return mask, "a branching crack" if n_branches > 1 else "a jagged crack"


def _paint_hole(rng, rgb, centre, side):
    _, h, w = rgb.shape
    radius = max(4.0, uniform(rng, 0.012, 0.035) * side)
    rim_width = max(2.0, radius * 0.25)
    cx, cy = centre
    # Work in a small window around the hole; the outline wobbles by < 10 %.
    y0, y1, x0, x1 = window(cx, cy, 1.1 * radius + rim_width + 1, h, w)
    y, x = grid(y1 - y0, x1 - x0, y0, x0)
    dx = x - cx
    dy = y - cy
    dist = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    # Slightly irregular outline: drilled or punched holes are never perfect.
    wobble = 0.06 * np.sin(3 * theta + uniform(rng, 0, 6.3)) + 0.04 * np.sin(5 * theta + uniform(rng, 0, 6.3))
    edge = radius * (1.0 + wobble)
    pit = dist <= edge
    rim = (dist > edge) & (dist <= edge + rim_width)

    # Light comes from the upper left.  The inner wall facing the light is in
    # shadow and the far wall is lit; the rim facing the light shines.
    to_light = (-dx - dy) / (math.sqrt(2.0) * np.maximum(dist, 1e-3))  # cosine of angle to the light
    pit_shade = 0.08 + 0.3 * np.clip(dist / edge, 0, 1) ** 2 * np.clip(-to_light, 0, 1)
    local = rgb[:, y0:y1, x0:x1]  # a view: painting it paints the image
    local *= np.where(pit, pit_shade, 1.0)
    highlight = np.where(rim & (to_light > 0), 0.3 + 0.5 * to_light, 0.0).astype(np.float32)
    blend(local, highlight, (250, 250, 245))
    local[:, rim & (to_light <= 0)] *= 0.6

    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y1, x0:x1] = pit | rim
    size_word = "small" if radius < 0.022 * side else "large"
    return mask, f"a {size_word} round hole"


_STAIN_COLOURS = (
    ("brownish", (115, 70, 35)),
    ("dark oil", (40, 36, 32)),
    ("yellowish", (185, 160, 80)),
    ("whitish", (225, 222, 210)),
)


def _paint_stain(rng, rgb, centre, side):
    _, h, w = rgb.shape
    radius = uniform(rng, 0.06, 0.14) * side
    squash = uniform(rng, 0.6, 1.0)  # stains are often elongated
    cx, cy = centre
    # Outline: radial falloff plus clipped smooth noise, so the stain is lobed
    # but never reaches beyond 1.7 radii; a 1.8-radius window holds it.
    y0, y1, x0, x1 = window(cx, cy, 1.8 * radius, h, w)
    y, x = grid(y1 - y0, x1 - x0, y0, x0)
    rho = np.sqrt(((x - cx) / radius) ** 2 + ((y - cy) / (radius * squash)) ** 2)
    noise = np.clip(smooth_noise(rng, y1 - y0, x1 - x0, radius * 0.6), -2.0, 2.0)
    value = 1.0 - rho + 0.35 * noise  # > 0 inside; positive at the centre since 0.35 * 2 < 1
    inside = value > 0

    # Pick a stain colour that stands out from this surface.
    local = rgb[:, y0:y1, x0:x1]  # a view: painting it paints the image
    background = local[:, inside].mean(axis=1)
    candidates = [
        (name, c) for name, c in _STAIN_COLOURS if np.linalg.norm(np.asarray(c, dtype=np.float32) - background) > 90
    ]
    if not candidates:
        candidates = list(_STAIN_COLOURS)
    name, colour = candidates[int(rng.integers(len(candidates)))]

    # Soft inside, with the darker "coffee ring" edge that dried stains have.
    strength = uniform(rng, 0.45, 0.65)
    texture = 1.0 + 0.2 * smooth_noise(rng, y1 - y0, x1 - x0, radius * 0.3)
    body = np.clip(value / 0.15, 0.0, 1.0) * strength * texture
    ring = 0.25 * np.exp(-(((value - 0.05) / 0.06) ** 2))
    alpha = np.where(inside, np.clip(body + ring, 0.12, 0.9), 0.0).astype(np.float32)
    blend(local, alpha, colour)

    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y1, x0:x1] = inside
    return mask, f"a {name} stain"


def _paint_contamination(rng, rgb, centre, side):
    _, h, w = rgb.shape
    spread = uniform(rng, 0.02, 0.05) * side
    count = int(rng.integers(10, 35))
    cx, cy = centre
    xs = np.clip(rng.normal(cx, spread, count), 0, w - 1)
    ys = np.clip(rng.normal(cy, spread, count), 0, h - 1)
    xs[0], ys[0] = cx, cy  # one grain at the centre keeps the mask non-empty
    radii = rng.uniform(0.8, 2.8, count) * max(1.0, side / 640.0)

    # Dark grains, or light dust on a dark surface.  Dark grains are a
    # fraction of the local brightness so they also show on dark wood.
    y0, y1, x0, x1 = window(cx, cy, spread, h, w)
    background = float(luminance(rgb[:, y0:y1, x0:x1]).mean())
    light_dust = background < 75
    if light_dust:
        lo, hi = 175, 235
    else:
        lo, hi = max(1, int(0.15 * background)), max(2, int(0.45 * background))

    # Each grain gets its own grey level, stored as the layer's pixel value.
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    for x, y, r in zip(xs, ys, radii, strict=True):
        level = int(rng.integers(lo, hi))
        if rng.random() < 0.15:  # an occasional short fibre instead of a grain
            angle = uniform(rng, 0, math.pi)
            dx, dy = 3 * r * math.cos(angle), 3 * r * math.sin(angle)
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=level, width=1)
        else:
            ry = r * uniform(rng, 0.6, 1.0)
            draw.ellipse((x - r, y - ry, x + r, y + ry), fill=level)
    levels = np.asarray(layer, dtype=np.float32)
    mask = levels > 0
    grime = np.stack([levels, levels, levels * 0.9])  # slightly warm, not neutral grey
    blend(rgb, np.where(mask, 0.88, 0.0).astype(np.float32), grime)
    shade = "light dust" if light_dust else "dark particle"
    return mask, f"a patch of {shade} contamination"


DEFECT_PAINTERS = {
    "scratch": _paint_scratch,
    "crack": _paint_crack,
    "hole": _paint_hole,
    "stain": _paint_stain,
    "contamination": _paint_contamination,
}
