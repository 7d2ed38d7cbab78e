"""Synthetic industrial defect images for demos and tests.

``python manage.py seed_demo`` needs plausible defect images with pixel masks
without downloading a data set.  This module paints them procedurally with
numpy and Pillow only: a surface texture (brushed metal, woven fabric, wood,
glazed tile or a bare PCB) and zero or more defects (scratch, crack, hole,
stain, contamination) on top of it.  Each defect comes with a boolean mask
that covers exactly the pixels its painter changed.

Conventions used throughout:

* ``size`` arguments are Pillow-style ``(width, height)``.
* Masks and grey fields are numpy-style ``(H, W)`` arrays.
* While painting, colour is a float32 ``(3, H, W)`` array in 0..255, one plane
  per channel.  Channel-first keeps every "(H, W) field times colour"
  operation a plain broadcast, which is several times faster in numpy than
  broadcasting against a trailing axis of length 3.
* All randomness comes from the ``numpy.random.Generator`` passed in, so the
  same seed always gives byte-identical images.  Random scalars are turned
  into Python floats before they meet float32 arrays, because a numpy
  float64 scalar would silently promote whole images to float64.

The module deliberately does not import Django.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "DEFECT_KINDS",
    "SURFACES",
    "DemoDefect",
    "DemoImage",
    "demo_catalog",
    "draw_demo_image",
]

SURFACES: tuple[str, ...] = ("brushed_metal", "fabric", "wood", "tile", "pcb")
DEFECT_KINDS: tuple[str, ...] = ("scratch", "crack", "hole", "stain", "contamination")

MIN_SIDE = 64  # below this the textures and defects no longer fit


@dataclass(frozen=True)
class DemoDefect:
    """One painted defect.

    ``mask`` has shape (H, W), dtype bool, True where this defect was drawn.
    """

    label: str
    mask: np.ndarray


@dataclass(frozen=True)
class DemoImage:
    """A painted sample: an RGB image of size (width, height) plus its defects."""

    image: Image.Image
    defects: list[DemoDefect]
    domain: str
    product: str
    material: str
    description: str


# --------------------------------------------------------------------------
# Surface variants: metadata plus the colours the painters use.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Variant:
    domain: str
    product: str
    material: str
    noun: str  # how the description sentence starts, e.g. "Brushed steel plate"
    colours: dict


_VARIANTS: dict[str, tuple[_Variant, ...]] = {
    "brushed_metal": (
        _Variant(
            "metal machining",
            "machined steel plate",
            "steel",
            "Brushed steel plate",
            {"base": 150.0, "tint": (0.96, 0.99, 1.04)},
        ),
        _Variant(
            "metal machining",
            "brushed aluminium panel",
            "aluminium",
            "Brushed aluminium panel",
            {"base": 170.0, "tint": (1.0, 1.0, 1.01)},
        ),
    ),
    "fabric": (
        _Variant(
            "textile",
            "woven fabric",
            "cotton",
            "Indigo denim fabric",
            {"warp": (42, 64, 120), "weft": (120, 128, 150), "twill": True},
        ),
        _Variant(
            "textile",
            "woven fabric",
            "cotton",
            "Beige cotton canvas",
            {"warp": (205, 185, 150), "weft": (190, 170, 135), "twill": False},
        ),
        _Variant(
            "textile",
            "woven fabric",
            "wool",
            "Grey wool suiting fabric",
            {"warp": (125, 125, 130), "weft": (95, 95, 100), "twill": True},
        ),
    ),
    "wood": (
        _Variant("wood", "oak board", "oak", "Oak board", {"light": (205, 165, 115), "dark": (135, 90, 50)}),
        _Variant("wood", "pine board", "pine", "Pine board", {"light": (230, 195, 140), "dark": (180, 120, 60)}),
        _Variant("wood", "walnut board", "walnut", "Walnut board", {"light": (128, 92, 66), "dark": (66, 44, 32)}),
    ),
    "tile": (
        _Variant(
            "ceramic tile",
            "floor tile",
            "ceramic",
            "Glazed white floor tile",
            {"glaze": (232, 230, 224), "grout": (150, 145, 135)},
        ),
        _Variant(
            "ceramic tile",
            "floor tile",
            "ceramic",
            "Glazed terracotta floor tile",
            {"glaze": (180, 95, 62), "grout": (175, 170, 160)},
        ),
        _Variant(
            "ceramic tile",
            "wall tile",
            "ceramic",
            "Glazed blue-grey wall tile",
            {"glaze": (140, 160, 178), "grout": (215, 212, 205)},
        ),
    ),
    "pcb": (
        _Variant(
            "PCB",
            "bare PCB",
            "FR-4",
            "Bare green PCB",
            {"mask": (22, 95, 50), "copper": (60, 145, 70), "pad": (200, 200, 190)},
        ),
        _Variant(
            "PCB",
            "bare PCB",
            "FR-4",
            "Bare green PCB with gold pads",
            {"mask": (20, 85, 45), "copper": (55, 135, 62), "pad": (215, 175, 95)},
        ),
    ),
}


# --------------------------------------------------------------------------
# Small numpy / Pillow helpers
# --------------------------------------------------------------------------


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """One uniform random number as a Python float (see module docstring)."""
    return float(rng.uniform(low, high))


def _colour(rgb) -> np.ndarray:
    """An RGB triple as a float32 (3, 1, 1) array, ready to broadcast over (3, H, W)."""
    return np.asarray(rgb, dtype=np.float32).reshape(3, 1, 1)


def _resize_field(field: np.ndarray, h: int, w: int, resample: int) -> np.ndarray:
    """Resize a float (h0, w0) array to (h, w) using Pillow's 32-bit float mode."""
    img = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32))
    return np.asarray(img.resize((w, h), resample=resample), dtype=np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float, stretch: float = 1.0) -> np.ndarray:
    """Smooth random field of shape (h, w), roughly zero mean and unit spread.

    ``cell`` is the feature size in pixels (along x it is ``cell * stretch``):
    a coarse grid of random values is upsampled bicubically, which is far
    cheaper than blurring white noise.
    """
    gh = max(2, int(math.ceil(h / cell)) + 1)
    gw = max(2, int(math.ceil(w / (cell * stretch))) + 1)
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    return _resize_field(coarse, h, w, Image.Resampling.BICUBIC)


def _streaks(rng: np.random.Generator, h: int, w: int, length: float, rows: int = 1) -> np.ndarray:
    """Anisotropic noise of shape (h, w): smooth along x, rough across y.

    Each band of ``rows`` rows gets its own 1-D random profile stretched to
    ``length`` pixels along x, giving the fine parallel streaks of brushed
    metal or wood fibre.
    """
    gw = max(2, int(round(w / max(length, 1.0))) + 1)
    gh = max(2, int(math.ceil(h / rows)))
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    return _resize_field(coarse, h, w, Image.Resampling.BILINEAR)


def _grid(h: int, w: int, y0: int = 0, x0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates as broadcastable float32 arrays: y (h, 1) and x (1, w)."""
    y = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
    x = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
    return y, x


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of a (3, ...) array; the result has shape (...)."""
    return rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114


def _blend(rgb: np.ndarray, alpha: np.ndarray, target) -> None:
    """In place: rgb += alpha * (target - rgb), touching only pixels with alpha > 0.

    rgb: (3, H, W); alpha: (H, W) in 0..1; target: an RGB triple or a (3, H, W)
    array.  Working on the selected pixels only keeps small defects cheap.
    """
    where = alpha > 0
    a = alpha[where]
    target = np.asarray(target, dtype=np.float32)
    target = target[:, where] if target.ndim == 3 else target.reshape(3, 1)
    selected = rgb[:, where]
    rgb[:, where] = selected + a * (target - selected)


def _window(cx: float, cy: float, half: float, h: int, w: int) -> tuple[int, int, int, int]:
    """Bounds (y0, y1, x0, x1) of a square of half-size ``half`` around (cx, cy), clipped to the image."""
    y0 = max(0, int(math.floor(cy - half)))
    y1 = min(h, int(math.ceil(cy + half)) + 1)
    x0 = max(0, int(math.floor(cx - half)))
    x1 = min(w, int(math.ceil(cx + half)) + 1)
    return y0, y1, x0, x1


def _soft_lighting(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """Multiplicative illumination field (h, w) around 1.0: a linear ramp plus a soft spot.

    Real photos are never evenly lit; this keeps flat surfaces from looking synthetic.
    """
    y, x = _grid(h, w)
    yn = y / (h - 1) * 2 - 1
    xn = x / (w - 1) * 2 - 1
    angle = _uniform(rng, 0, 2 * math.pi)
    cx = _uniform(rng, -0.6, 0.6)
    cy = _uniform(rng, -0.6, 0.6)
    # Both terms are separable: compute them on the (h, 1) and (1, w) axes and
    # let broadcasting build the field, instead of exponentiating h * w values.
    ramp_y = 0.5 * math.sin(angle) * yn
    ramp_x = 0.5 * math.cos(angle) * xn
    spot = np.exp(-((yn - cy) ** 2) / 0.8) * np.exp(-((xn - cx) ** 2) / 0.8)
    return 1.0 + strength * (ramp_y + ramp_x + spot - 0.5)


def _soften(field: np.ndarray) -> np.ndarray:
    """Blur (..., H, W) with a 3x3 [1 2 1] x [1 2 1] / 16 kernel; edges are repeated.

    Cheaper than Pillow's Gaussian blur for the one-pixel softening needed here.
    """
    pad = [(0, 0)] * (field.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(field, pad, mode="edge")
    p = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]
    return (p[..., :-2] + 2 * p[..., 1:-1] + p[..., 2:]) / 16


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font; cached because loading it costs a few ms."""
    return ImageFont.load_default(size=size)


# --------------------------------------------------------------------------
# Surface painters.  Each returns a float32 (3, h, w) array in about 0..255.
# --------------------------------------------------------------------------


def _paint_brushed_metal(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    # Paint in a frame where the brushing runs along x, then transpose for
    # vertically brushed plates.
    horizontal = rng.random() < 0.6
    sh, sw = (h, w) if horizontal else (w, h)

    long_streaks = _streaks(rng, sh, sw, length=sw / _uniform(rng, 2.0, 5.0), rows=2)
    fine_streaks = _streaks(rng, sh, sw, length=_uniform(rng, 15.0, 40.0))
    tone = 9.0 * long_streaks + 5.0 * fine_streaks
    # Brushed metal shows a broad highlight band across the brushing direction.
    _, x = _grid(sh, sw)
    band_centre = _uniform(rng, 0.2, 0.8) * sw
    band_width = _uniform(rng, 0.15, 0.35) * sw
    tone += 45.0 * np.exp(-(((x - band_centre) / band_width) ** 2))
    if not horizontal:
        tone = tone.T

    lum = colours["base"] * _soft_lighting(rng, h, w, 0.12) + tone
    return _colour(colours["tint"]) * lum


def _paint_fabric(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    y, x = _grid(h, w)
    period = _uniform(rng, 7.0, 11.0)  # thread spacing in pixels
    # Warp threads run vertically, weft threads horizontally.  Everything
    # below that depends on one axis only stays a (1, w) or (h, 1) array, so
    # the expensive functions run on h + w values instead of h * w.
    u = (x + _uniform(rng, 0, period)) / period  # counts warp threads, (1, w)
    v = (y + _uniform(rng, 0, period)) / period  # counts weft threads, (h, 1)
    col = np.floor(u)
    row = np.floor(v)
    fu = u - col
    fv = v - row
    col = col.astype(np.int32)
    row = row.astype(np.int32)

    # Which thread lies on top at each crossing: plain weave alternates like a
    # chessboard; twill (denim) shifts an over-two-under-one pattern each row.
    if colours["twill"]:
        warp_on_top = (col - row) % 3 != 0
    else:
        warp_on_top = (col + row) % 2 == 0

    # Round thread cross-section across the thread, and a dip where the thread
    # dives under its neighbour at both ends of the crossing.
    sin_u = np.sin(np.pi * fu)
    sin_v = np.sin(np.pi * fv)
    warp_shape = np.sqrt(sin_u) * (0.7 + 0.3 * sin_v)
    weft_shape = np.sqrt(sin_v) * (0.7 + 0.3 * sin_u)

    # Every yarn is a little thicker or darker than its neighbours.
    warp_var = rng.normal(1.0, 0.06, size=int(col.max()) + 1).astype(np.float32)
    weft_var = rng.normal(1.0, 0.06, size=int(row.max()) + 1).astype(np.float32)
    warp_shade = warp_shape * warp_var[col]
    weft_shade = weft_shape * weft_var[row]
    shade = np.where(warp_on_top, warp_shade, weft_shade)

    fuzz = 0.04 * _smooth_noise(rng, h, w, 3.0)
    brightness = (0.45 + 0.6 * shade + fuzz) * _soft_lighting(rng, h, w, 0.10)
    thread_rgb = np.where(warp_on_top, _colour(colours["warp"]), _colour(colours["weft"]))
    return thread_rgb * brightness


def _paint_wood(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    along_x = rng.random() < 0.7
    sh, sw = (h, w) if along_x else (w, h)
    y, x = _grid(sh, sw)
    scale = min(h, w) / 640.0

    # "phase" counts growth rings; grain lines are its iso-lines.  Low-frequency
    # noise makes them wander, a small slope makes them run at an angle.
    phase = (
        y
        + _uniform(rng, -0.05, 0.05) * x
        + 20.0 * scale * _smooth_noise(rng, sh, sw, sw / 2.0)
        # Grain lines wander slowly along their length, faster across it.
        + 4.0 * scale * _smooth_noise(rng, sh, sw, 30.0 * scale + 6.0, stretch=5.0)
    )

    # Knots push the grain lines apart.  Where the push is stronger than the
    # grain gradient the iso-lines close into the rings of the knot itself.
    knot_darkness = np.zeros((sh, sw), dtype=np.float32)
    n_knots = int(rng.choice([0, 1, 1, 2, 2, 3]))
    for _ in range(n_knots):
        ky = _uniform(rng, 0.1, 0.9) * sh
        kx = _uniform(rng, 0.1, 0.9) * sw
        radius = max(3.0, _uniform(rng, 8.0, 20.0) * scale)
        along = np.exp(-(((x - kx) / (5.0 * radius)) ** 2))
        phase = phase - 2.4 * radius * along * np.tanh((y - ky) / (1.5 * radius))
        core = ((x - kx) / (1.3 * radius)) ** 2 + ((y - ky) / (0.9 * radius)) ** 2
        knot_darkness += 0.55 * np.exp(-core)

    period = max(4.0, _uniform(rng, 10.0, 20.0) * scale)
    # Growth rings differ in width from year to year: jitter the ring count
    # slowly across the grain.
    year_jitter = 0.35 * _smooth_noise(rng, sh, sw, 2.5 * period, stretch=4.0)
    rings = 0.5 + 0.5 * np.cos(2.0 * np.pi * (phase / period + year_jitter))
    latewood = rings**3  # sharp dark bands, wide light earlywood
    fibre = _streaks(rng, sh, sw, length=_uniform(rng, 20.0, 60.0))
    blotch = _smooth_noise(rng, sh, sw, 90.0 * scale + 10.0)

    t = np.clip(0.55 * latewood + 0.09 * fibre + 0.07 * blotch + knot_darkness + 0.1, 0.0, 1.0)
    if not along_x:
        t = t.T
    t = t * _soft_lighting(rng, h, w, 0.08)

    light = _colour(colours["light"])
    dark = _colour(colours["dark"])
    return light + (dark - light) * t


def _paint_tile(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    y, x = _grid(h, w)
    side = min(h, w)
    tile = _uniform(rng, 0.3, 0.55) * side  # tile pitch in pixels: 2-4 tiles across
    grout_half = max(1.5, _uniform(rng, 0.006, 0.012) * side)
    bevel = max(2.0, 0.012 * side)
    ox = _uniform(rng, 0, tile)
    oy = _uniform(rng, 0, tile)

    # Distance of every pixel to the nearest grout line centre, per axis.
    fx = np.mod(x + ox, tile)
    fy = np.mod(y + oy, tile)
    dist_x = np.minimum(fx, tile - fx)
    dist_y = np.minimum(fy, tile - fy)
    edge = np.minimum(dist_x, dist_y) - grout_half  # < 0 inside the grout
    grout = edge < 0

    # Each tile comes from a slightly different firing: vary its colour a bit.
    ix = np.floor((x + ox) / tile).astype(np.int32)
    iy = np.floor((y + oy) / tile).astype(np.int32)
    tile_var = rng.normal(1.0, 0.025, size=(int(iy.max()) + 1, int(ix.max()) + 1)).astype(np.float32)
    per_tile = tile_var[iy, ix]

    glaze = _colour(colours["glaze"])
    mottle = 1.0 + 0.02 * _smooth_noise(rng, h, w, 0.08 * side + 4.0)
    # Rounded tile edges catch less light than the flat glaze.
    edge_shade = 1.0 - 0.25 * np.clip(1.0 - edge / bevel, 0.0, 1.0)
    rgb = glaze * (per_tile * mottle * edge_shade)

    # Speckles: sparse dark grains fired into the glaze, a few of them 2x2.
    draw = rng.random((h, w), dtype=np.float32)
    speckle = draw < 0.0025
    big = draw > 1.0 - 0.0006
    big[1:, :] |= big[:-1, :].copy()
    big[:, 1:] |= big[:, :-1].copy()
    speckle_alpha = np.where(big, 0.45, np.where(speckle, 0.3, 0.0)).astype(np.float32)
    _blend(rgb, speckle_alpha, glaze.ravel() * 0.45)

    # Gloss: a soft specular highlight on the glaze.
    cy = _uniform(rng, 0.2, 0.8) * h
    cx = _uniform(rng, 0.2, 0.8) * w
    spread = 2 * (0.3 * side) ** 2
    rgb += 30.0 * np.exp(-((y - cy) ** 2) / spread) * np.exp(-((x - cx) ** 2) / spread)

    # Grout: sandy, so noisier than the glaze.
    sand = 16.0 * (rng.random((h, w), dtype=np.float32) - 0.5) + 6.0 * _smooth_noise(rng, h, w, 6.0)
    grout_fill = _colour(colours["grout"]) + sand
    rgb = np.where(grout, grout_fill, rgb)
    return rgb * _soft_lighting(rng, h, w, 0.08)


def _paint_pcb(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    side = min(h, w)
    pitch = max(4, int(round(side / 40)))  # routing grid, 16 px at 640
    trace_w = max(2, int(round(pitch * 0.4)))

    # Four layers drawn with Pillow, combined with numpy afterwards.
    copper = Image.new("L", (w, h), 0)  # traces under the solder mask
    pads = Image.new("L", (w, h), 0)  # exposed, plated copper
    holes = Image.new("L", (w, h), 0)  # drilled holes
    silk = Image.new("L", (w, h), 0)  # white silkscreen
    d_cu, d_pad, d_hole, d_silk = (ImageDraw.Draw(im) for im in (copper, pads, holes, silk))
    font = _font(max(8, int(pitch * 0.9)))

    def disc(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)

    def via(cx: float, cy: float) -> None:
        disc(d_pad, cx, cy, trace_w * 1.1)
        disc(d_hole, cx, cy, trace_w * 0.5)

    def route(start: tuple[float, float], direction: int, segments: int) -> list[tuple[float, float]]:
        """A trace polyline in 45-degree steps, starting along ``direction`` (0..7)."""
        points = [start]
        cx, cy = start
        for i in range(segments):
            if i > 0:
                direction = (direction + int(rng.choice([-1, 1]))) % 8
            angle = direction * math.pi / 4
            length = pitch * int(rng.integers(2, 9))
            cx += length * math.cos(angle)
            cy += length * math.sin(angle)
            points.append((cx, cy))
        return points

    # SOIC-style chips: two rows of rectangular pads with fanned-out traces.
    n_chips = 1 if side < 320 else int(rng.integers(1, 3))
    for chip in range(n_chips):
        pins = int(rng.integers(4, 9))
        body_h = pins * pitch * 1.3
        body_w = pitch * _uniform(rng, 3.0, 5.0)
        # With two chips, keep them in different halves so they do not overlap.
        lo, hi = (0.25, 0.75) if n_chips == 1 else ((0.15, 0.4), (0.6, 0.85))[chip]
        cx = _uniform(rng, lo, hi) * w
        cy = _uniform(rng, 0.25, 0.75) * h
        pad_len = pitch * 1.3
        pad_half_w = pitch * 0.35
        for side_sign in (-1, 1):
            for k in range(pins):
                py = cy - body_h / 2 + (k + 0.5) * body_h / pins
                inner = cx + side_sign * body_w / 2
                outer = inner + side_sign * pad_len
                left, right = min(inner, outer), max(inner, outer)
                d_pad.rectangle((left, py - pad_half_w, right, py + pad_half_w), fill=255)
                # Fan out: straight out, then 45 degrees away from the chip's middle.
                out1 = (outer + side_sign * pitch * int(rng.integers(1, 3)), py)
                spread = (k - (pins - 1) / 2) * pitch * 0.8
                out2 = (out1[0] + side_sign * abs(spread), py + spread)
                out3 = (out2[0] + side_sign * pitch * int(rng.integers(2, 8)), out2[1])
                d_cu.line([(outer, py), out1, out2, out3], fill=255, width=trace_w, joint="curve")
                if rng.random() < 0.5:
                    via(*out3)
        outline = (cx - body_w / 2 + 3, cy - body_h / 2 - 4, cx + body_w / 2 - 3, cy + body_h / 2 + 4)
        d_silk.rectangle(outline, outline=255, width=2)
        pin1_dot = (outline[0] + 4, outline[1] + 4, outline[0] + 9, outline[1] + 9)
        d_silk.ellipse(pin1_dot, fill=255)
        d_silk.text((outline[0], outline[1] - pitch * 1.3), f"U{chip + 1}", fill=255, font=font)

    # Free traces between vias and through-hole pads.
    for _ in range(max(4, side // 45)):
        start = (
            float(pitch * int(rng.integers(1, max(2, w // pitch)))),
            float(pitch * int(rng.integers(1, max(2, h // pitch)))),
        )
        points = route(start, 2 * int(rng.integers(0, 4)), int(rng.integers(1, 4)))
        d_cu.line(points, fill=255, width=trace_w, joint="curve")
        for end in (points[0], points[-1]):
            if rng.random() < 0.6:
                via(*end)
            else:
                disc(d_pad, end[0], end[1], pitch * 0.7)
                disc(d_hole, end[0], end[1], pitch * 0.32)

    # Two-pad passives (resistors, capacitors) with a silkscreen label.
    for i in range(int(rng.integers(2, 6))):
        px = _uniform(rng, 0.08, 0.85) * w
        py = _uniform(rng, 0.08, 0.85) * h
        pw = pitch * 0.8
        gap = pitch * 1.0
        if rng.random() < 0.5:  # horizontal part
            d_pad.rectangle((px, py, px + pw, py + pw * 1.2), fill=255)
            d_pad.rectangle((px + pw + gap, py, px + 2 * pw + gap, py + pw * 1.2), fill=255)
        else:
            d_pad.rectangle((px, py, px + pw * 1.2, py + pw), fill=255)
            d_pad.rectangle((px, py + pw + gap, px + pw * 1.2, py + 2 * pw + gap), fill=255)
        label = f"{'RC'[i % 2]}{int(rng.integers(1, 40))}"
        d_silk.text((px, py - pitch * 1.2), label, fill=255, font=font)

    # Layers as (4, h, w) coverage in 0..1, edges slightly softened because
    # Pillow draws without antialiasing.
    layers = np.stack([np.asarray(im) for im in (copper, pads, silk, holes)]).astype(np.float32)
    cover_copper, cover_pads, cover_silk, cover_holes = _soften(layers / 255.0)

    rgb = _colour(colours["mask"]) * (1.0 + 0.05 * _smooth_noise(rng, h, w, 12.0))
    _blend(rgb, cover_copper, colours["copper"])
    pad_rgb = _colour(colours["pad"]) * (1.0 + 0.06 * _smooth_noise(rng, h, w, 4.0))
    _blend(rgb, cover_pads, pad_rgb)
    _blend(rgb, cover_silk * 0.9, (235, 235, 225))
    _blend(rgb, cover_holes, (30, 28, 25))
    return rgb * _soft_lighting(rng, h, w, 0.12)


_SURFACE_PAINTERS = {
    "brushed_metal": _paint_brushed_metal,
    "fabric": _paint_fabric,
    "wood": _paint_wood,
    "tile": _paint_tile,
    "pcb": _paint_pcb,
}


# --------------------------------------------------------------------------
# Defect painters.  Each gets the (3, H, W) image, an (x, y) centre inside it
# and the image's shorter side; it paints in place and returns the (H, W)
# bool mask of the pixels it changed plus an English noun phrase.  Painters
# only blend towards in-range colours or darken, so values stay in 0..255.
# --------------------------------------------------------------------------


def _paint_scratch(rng, rgb, centre, side):
    _, h, w = rgb.shape
    length = _uniform(rng, 0.25, 0.6) * side
    angle = _uniform(rng, 0, math.pi)
    bend = _uniform(rng, -0.08, 0.08) * length  # sideways bow of the scratch
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
    luma = float(_luminance(rgb[:, mask]).mean())
    bright = luma < 120 or (luma < 160 and rng.random() < 0.6)
    _blend(rgb, alpha, (245, 245, 240) if bright else (35, 35, 35))

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
    length = _uniform(rng, 0.2, 0.45) * side
    step = max(2.0, 0.008 * side)
    steps = max(6, int(length / step))
    heading = _uniform(rng, 0, 2 * math.pi)
    centre = np.asarray(centre, dtype=float)
    # Grow two halves from the centre in opposite directions so the centre
    # (which is inside the image) always lies on the crack.
    half_a = _random_walk(rng, centre, heading, steps // 2, step, 0.45)
    half_b = _random_walk(rng, centre, heading + math.pi, steps - steps // 2, step, 0.45)
    main = np.vstack([half_b[::-1], half_a[1:]])

    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    main_width = max(2, int(round(_uniform(rng, 0.003, 0.006) * side)))
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
        turn = float(rng.choice([-1, 1])) * _uniform(rng, 0.5, 1.1)
        branch_heading = heading + turn + float(rng.choice([0, math.pi]))
        branch_steps = max(3, int(steps * _uniform(rng, 0.15, 0.35)))
        branch = _random_walk(rng, origin, branch_heading, branch_steps, step, 0.5)
        draw.line([tuple(p) for p in branch], fill=255, width=1, joint="curve")

    mask = np.asarray(layer) > 0
    # A crack is a dark gap: darken the surface strongly, keeping a hint of its hue.
    rgb[:, mask] *= _uniform(rng, 0.12, 0.25)
    return mask, "a branching crack" if n_branches > 1 else "a jagged crack"


def _paint_hole(rng, rgb, centre, side):
    _, h, w = rgb.shape
    radius = max(4.0, _uniform(rng, 0.012, 0.035) * side)
    rim_width = max(2.0, radius * 0.25)
    cx, cy = centre
    # Work in a small window around the hole; the outline wobbles by < 10 %.
    y0, y1, x0, x1 = _window(cx, cy, 1.1 * radius + rim_width + 1, h, w)
    y, x = _grid(y1 - y0, x1 - x0, y0, x0)
    dx = x - cx
    dy = y - cy
    dist = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    # Slightly irregular outline: drilled or punched holes are never perfect.
    wobble = 0.06 * np.sin(3 * theta + _uniform(rng, 0, 6.3)) + 0.04 * np.sin(5 * theta + _uniform(rng, 0, 6.3))
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
    _blend(local, highlight, (250, 250, 245))
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
    radius = _uniform(rng, 0.06, 0.14) * side
    squash = _uniform(rng, 0.6, 1.0)  # stains are often elongated
    cx, cy = centre
    # Outline: radial falloff plus clipped smooth noise, so the stain is lobed
    # but never reaches beyond 1.7 radii; a 1.8-radius window holds it.
    y0, y1, x0, x1 = _window(cx, cy, 1.8 * radius, h, w)
    y, x = _grid(y1 - y0, x1 - x0, y0, x0)
    rho = np.sqrt(((x - cx) / radius) ** 2 + ((y - cy) / (radius * squash)) ** 2)
    noise = np.clip(_smooth_noise(rng, y1 - y0, x1 - x0, radius * 0.6), -2.0, 2.0)
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
    strength = _uniform(rng, 0.45, 0.65)
    texture = 1.0 + 0.2 * _smooth_noise(rng, y1 - y0, x1 - x0, radius * 0.3)
    body = np.clip(value / 0.15, 0.0, 1.0) * strength * texture
    ring = 0.25 * np.exp(-(((value - 0.05) / 0.06) ** 2))
    alpha = np.where(inside, np.clip(body + ring, 0.12, 0.9), 0.0).astype(np.float32)
    _blend(local, alpha, colour)

    mask = np.zeros((h, w), dtype=bool)
    mask[y0:y1, x0:x1] = inside
    return mask, f"a {name} stain"


def _paint_contamination(rng, rgb, centre, side):
    _, h, w = rgb.shape
    spread = _uniform(rng, 0.02, 0.05) * side
    count = int(rng.integers(10, 35))
    cx, cy = centre
    xs = np.clip(rng.normal(cx, spread, count), 0, w - 1)
    ys = np.clip(rng.normal(cy, spread, count), 0, h - 1)
    xs[0], ys[0] = cx, cy  # one grain at the centre keeps the mask non-empty
    radii = rng.uniform(0.8, 2.8, count) * max(1.0, side / 640.0)

    # Dark grains, or light dust on a dark surface.  Dark grains are a
    # fraction of the local brightness so they also show on dark wood.
    y0, y1, x0, x1 = _window(cx, cy, spread, h, w)
    background = float(_luminance(rgb[:, y0:y1, x0:x1]).mean())
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
            angle = _uniform(rng, 0, math.pi)
            dx, dy = 3 * r * math.cos(angle), 3 * r * math.sin(angle)
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=level, width=1)
        else:
            ry = r * _uniform(rng, 0.6, 1.0)
            draw.ellipse((x - r, y - ry, x + r, y + ry), fill=level)
    levels = np.asarray(layer, dtype=np.float32)
    mask = levels > 0
    grime = np.stack([levels, levels, levels * 0.9])  # slightly warm, not neutral grey
    _blend(rgb, np.where(mask, 0.88, 0.0).astype(np.float32), grime)
    shade = "light dust" if light_dust else "dark particle"
    return mask, f"a patch of {shade} contamination"


_DEFECT_PAINTERS = {
    "scratch": _paint_scratch,
    "crack": _paint_crack,
    "hole": _paint_hole,
    "stain": _paint_stain,
    "contamination": _paint_contamination,
}


# --------------------------------------------------------------------------
# Descriptions
# --------------------------------------------------------------------------


def _location(mask: np.ndarray) -> str:
    """Where the mask's centroid lies on a 3x3 grid, as an English phrase."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    row = min(2, int(3 * ys.mean() / h))
    col = min(2, int(3 * xs.mean() / w))
    phrases = (
        ("near the upper-left corner", "near the top edge", "near the upper-right corner"),
        ("on the left side", "in the centre", "on the right side"),
        ("near the lower-left corner", "near the bottom edge", "near the lower-right corner"),
    )
    return phrases[row][col]


def _describe(noun: str, parts: list[tuple[str, np.ndarray]]) -> str:
    """One sentence: the product noun, then each defect phrase with its location."""
    if not parts:
        return f"{noun} with no visible defects."
    clauses = [f"{phrase} {_location(mask)}" for phrase, mask in parts]
    if len(clauses) == 1:
        joined = clauses[0]
    else:
        joined = ", ".join(clauses[:-1]) + " and " + clauses[-1]
    return f"{noun} with {joined}."


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def _check_size(size) -> tuple[int, int]:
    """Validate a (width, height) pair and return it as ints."""
    try:
        width, height = size
    except (TypeError, ValueError):
        raise ValueError(f"size must be a (width, height) pair, got {size!r}") from None
    for value in (width, height):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"size must contain integers, got {size!r}")
        if value < MIN_SIDE:
            raise ValueError(f"size must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got {size!r}")
    return int(width), int(height)


def _check_kinds(defect_kinds) -> list[str]:
    """Validate the defect kinds and return them as a list."""
    if isinstance(defect_kinds, str):
        # A bare string would otherwise be read as a list of letters.
        raise ValueError(
            f"defect_kinds must be a sequence of names, not the string {defect_kinds!r}; use [{defect_kinds!r}]"
        )
    kinds = list(defect_kinds)
    for kind in kinds:
        if kind not in DEFECT_KINDS:
            raise ValueError(f"unknown defect kind {kind!r}; expected one of {', '.join(DEFECT_KINDS)}")
    return kinds


def _defect_centres(rng: np.random.Generator, count: int, h: int, w: int) -> list[tuple[float, float]]:
    """(x, y) centres for ``count`` defects, spread out so they rarely overlap."""
    side = min(h, w)
    margin = 0.12 * side
    min_gap = 0.35 * side
    centres: list[tuple[float, float]] = []
    for _ in range(count):
        best, best_gap = None, -1.0
        # A fixed number of tries keeps this deterministic and cheap; if none
        # is far enough from the others, the farthest one is used.
        for _attempt in range(20):
            candidate = (_uniform(rng, margin, w - margin), _uniform(rng, margin, h - margin))
            gap = min((math.dist(candidate, c) for c in centres), default=math.inf)
            if gap > best_gap:
                best, best_gap = candidate, gap
            if gap >= min_gap:
                break
        centres.append(best)
    return centres


def draw_demo_image(
    rng: np.random.Generator,
    *,
    surface: str,
    defect_kinds: Sequence[str],
    size: tuple[int, int] = (640, 640),
) -> DemoImage:
    """Paint one synthetic sample.

    ``surface`` is one of SURFACES; ``defect_kinds`` is a (possibly empty)
    sequence of DEFECT_KINDS, painted in that order at different places;
    ``size`` is (width, height), each at least 64.  Returns an RGB image of
    that size whose defects' masks have shape (height, width).  Raises
    ValueError, naming the bad value, for bad arguments.
    """
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; expected one of {', '.join(SURFACES)}")
    kinds = _check_kinds(defect_kinds)
    width, height = _check_size(size)

    variants = _VARIANTS[surface]
    variant = variants[int(rng.integers(len(variants)))]
    rgb = _SURFACE_PAINTERS[surface](rng, height, width, variant.colours)
    rgb = np.clip(rgb, 0.0, 255.0).astype(np.float32)

    side = min(height, width)
    defects: list[DemoDefect] = []
    parts: list[tuple[str, np.ndarray]] = []
    centres = _defect_centres(rng, len(kinds), height, width)
    for kind, centre in zip(kinds, centres, strict=True):
        mask, phrase = _DEFECT_PAINTERS[kind](rng, rgb, centre, side)
        defects.append(DemoDefect(label=kind, mask=mask))
        parts.append((phrase, mask))

    # Mild sensor noise over the whole frame, the same in all three channels
    # (uniform, +-2.5 levels: much cheaper to draw than Gaussian noise).
    rgb += 5.0 * (rng.random((height, width), dtype=np.float32) - 0.5)
    # +0.5 then truncation = rounding to the nearest level.
    pixels = (np.clip(rgb, 0.0, 255.0) + 0.5).astype(np.uint8)
    return DemoImage(
        image=Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0))),
        defects=defects,
        domain=variant.domain,
        product=variant.product,
        material=variant.material,
        description=_describe(variant.noun, parts),
    )


def demo_catalog(count: int, *, seed: int = 0, size=(640, 640)) -> Iterator[DemoImage]:
    """A deterministic, varied sequence: cycles through surfaces, mostly one
    defect, some with two different kinds, about 1 in 8 defect-free.

    Image ``i`` uses surface ``SURFACES[i % 5]``; its first defect kind steps
    through DEFECT_KINDS so that the first 25 images cover every surface and
    kind pair.  Every 8th image is defect-free and two in every 8 carry a
    second, different kind.  Each image draws from its own generator seeded
    with ``(seed, i)``, so a longer catalog starts with the shorter one.
    ``seed`` must be a non-negative integer.  Arguments are checked at once,
    not on first iteration.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    size = _check_size(size)
    return _catalog(int(count), int(seed), size)


def _catalog(count: int, seed: int, size: tuple[int, int]) -> Iterator[DemoImage]:
    n_kinds = len(DEFECT_KINDS)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        surface = SURFACES[i % len(SURFACES)]
        slot = i % 8
        if slot == 7:
            kinds: list[str] = []
        else:
            first = (i + i // len(SURFACES)) % n_kinds
            kinds = [DEFECT_KINDS[first]]
            if slot in (2, 5):
                second = (first + 1 + int(rng.integers(n_kinds - 1))) % n_kinds
                kinds.append(DEFECT_KINDS[second])
        yield draw_demo_image(rng, surface=surface, defect_kinds=kinds, size=size)
