"""The demo surfaces: what each variant is (domain, product, material, colours) and how its texture
is painted. Each painter returns a float32 (3, h, w) array in about 0..255."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .painting import blend, colour, font, grid, smooth_noise, soft_lighting, soften, streaks, uniform

# --------------------------------------------------------------------------
# Surface variants: metadata plus the colours the painters use.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    domain: str
    product: str
    material: str
    noun: str  # how the description sentence starts, e.g. "Brushed steel plate"
    colours: dict


VARIANTS: dict[str, tuple[Variant, ...]] = {
    "brushed_metal": (
        Variant(
            "metal machining",
            "machined steel plate",
            "steel",
            "Brushed steel plate",
            {"base": 150.0, "tint": (0.96, 0.99, 1.04)},
        ),
        Variant(
            "metal machining",
            "brushed aluminium panel",
            "aluminium",
            "Brushed aluminium panel",
            {"base": 170.0, "tint": (1.0, 1.0, 1.01)},
        ),
    ),
    "fabric": (
        Variant(
            "textile",
            "woven fabric",
            "cotton",
            "Indigo denim fabric",
            {"warp": (42, 64, 120), "weft": (120, 128, 150), "twill": True},
        ),
        Variant(
            "textile",
            "woven fabric",
            "cotton",
            "Beige cotton canvas",
            {"warp": (205, 185, 150), "weft": (190, 170, 135), "twill": False},
        ),
        Variant(
            "textile",
            "woven fabric",
            "wool",
            "Grey wool suiting fabric",
            {"warp": (125, 125, 130), "weft": (95, 95, 100), "twill": True},
        ),
    ),
    "wood": (
        Variant("wood", "oak board", "oak", "Oak board", {"light": (205, 165, 115), "dark": (135, 90, 50)}),
        Variant("wood", "pine board", "pine", "Pine board", {"light": (230, 195, 140), "dark": (180, 120, 60)}),
        Variant("wood", "walnut board", "walnut", "Walnut board", {"light": (128, 92, 66), "dark": (66, 44, 32)}),
    ),
    "tile": (
        Variant(
            "ceramic tile",
            "floor tile",
            "ceramic",
            "Glazed white floor tile",
            {"glaze": (232, 230, 224), "grout": (150, 145, 135)},
        ),
        Variant(
            "ceramic tile",
            "floor tile",
            "ceramic",
            "Glazed terracotta floor tile",
            {"glaze": (180, 95, 62), "grout": (175, 170, 160)},
        ),
        Variant(
            "ceramic tile",
            "wall tile",
            "ceramic",
            "Glazed blue-grey wall tile",
            {"glaze": (140, 160, 178), "grout": (215, 212, 205)},
        ),
    ),
    "pcb": (
        Variant(
            "PCB",
            "bare PCB",
            "FR-4",
            "Bare green PCB",
            {"mask": (22, 95, 50), "copper": (60, 145, 70), "pad": (200, 200, 190)},
        ),
        Variant(
            "PCB",
            "bare PCB",
            "FR-4",
            "Bare green PCB with gold pads",
            {"mask": (20, 85, 45), "copper": (55, 135, 62), "pad": (215, 175, 95)},
        ),
    ),
}


# --------------------------------------------------------------------------
# Surface painters.  Each returns a float32 (3, h, w) array in about 0..255.
# --------------------------------------------------------------------------


def _paint_brushed_metal(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    # Paint in a frame where the brushing runs along x, then transpose for
    # vertically brushed plates.
    horizontal = rng.random() < 0.6
    sh, sw = (h, w) if horizontal else (w, h)

    long_streaks = streaks(rng, sh, sw, length=sw / uniform(rng, 2.0, 5.0), rows=2)
    fine_streaks = streaks(rng, sh, sw, length=uniform(rng, 15.0, 40.0))
    tone = 9.0 * long_streaks + 5.0 * fine_streaks
    # Brushed metal shows a broad highlight band across the brushing direction.
    _, x = grid(sh, sw)
    band_centre = uniform(rng, 0.2, 0.8) * sw
    band_width = uniform(rng, 0.15, 0.35) * sw
    tone += 45.0 * np.exp(-(((x - band_centre) / band_width) ** 2))
    if not horizontal:
        tone = tone.T

    lum = colours["base"] * soft_lighting(rng, h, w, 0.12) + tone
    return colour(colours["tint"]) * lum


def _paint_fabric(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    y, x = grid(h, w)
    period = uniform(rng, 7.0, 11.0)  # thread spacing in pixels
    # Warp threads run vertically, weft threads horizontally.  Everything
    # below that depends on one axis only stays a (1, w) or (h, 1) array, so
    # the expensive functions run on h + w values instead of h * w.
    u = (x + uniform(rng, 0, period)) / period  # counts warp threads, (1, w)
    v = (y + uniform(rng, 0, period)) / period  # counts weft threads, (h, 1)
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

    fuzz = 0.04 * smooth_noise(rng, h, w, 3.0)
    brightness = (0.45 + 0.6 * shade + fuzz) * soft_lighting(rng, h, w, 0.10)
    thread_rgb = np.where(warp_on_top, colour(colours["warp"]), colour(colours["weft"]))
    return thread_rgb * brightness


def _paint_wood(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    along_x = rng.random() < 0.7
    sh, sw = (h, w) if along_x else (w, h)
    y, x = grid(sh, sw)
    scale = min(h, w) / 640.0

    # "phase" counts growth rings; grain lines are its iso-lines.  Low-frequency
    # noise makes them wander, a small slope makes them run at an angle.
    phase = (
        y
        + uniform(rng, -0.05, 0.05) * x
        + 20.0 * scale * smooth_noise(rng, sh, sw, sw / 2.0)
        # Grain lines wander slowly along their length, faster across it.
        + 4.0 * scale * smooth_noise(rng, sh, sw, 30.0 * scale + 6.0, stretch=5.0)
    )

    # Knots push the grain lines apart.  Where the push is stronger than the
    # grain gradient the iso-lines close into the rings of the knot itself.
    knot_darkness = np.zeros((sh, sw), dtype=np.float32)
    n_knots = int(rng.choice([0, 1, 1, 2, 2, 3]))
    for _ in range(n_knots):
        ky = uniform(rng, 0.1, 0.9) * sh
        kx = uniform(rng, 0.1, 0.9) * sw
        radius = max(3.0, uniform(rng, 8.0, 20.0) * scale)
        along = np.exp(-(((x - kx) / (5.0 * radius)) ** 2))
        phase = phase - 2.4 * radius * along * np.tanh((y - ky) / (1.5 * radius))
        core = ((x - kx) / (1.3 * radius)) ** 2 + ((y - ky) / (0.9 * radius)) ** 2
        knot_darkness += 0.55 * np.exp(-core)

    period = max(4.0, uniform(rng, 10.0, 20.0) * scale)
    # Growth rings differ in width from year to year: jitter the ring count
    # slowly across the grain.
    year_jitter = 0.35 * smooth_noise(rng, sh, sw, 2.5 * period, stretch=4.0)
    rings = 0.5 + 0.5 * np.cos(2.0 * np.pi * (phase / period + year_jitter))
    latewood = rings**3  # sharp dark bands, wide light earlywood
    fibre = streaks(rng, sh, sw, length=uniform(rng, 20.0, 60.0))
    blotch = smooth_noise(rng, sh, sw, 90.0 * scale + 10.0)

    t = np.clip(0.55 * latewood + 0.09 * fibre + 0.07 * blotch + knot_darkness + 0.1, 0.0, 1.0)
    if not along_x:
        t = t.T
    t = t * soft_lighting(rng, h, w, 0.08)

    light = colour(colours["light"])
    dark = colour(colours["dark"])
    return light + (dark - light) * t


def _paint_tile(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    y, x = grid(h, w)
    side = min(h, w)
    tile = uniform(rng, 0.3, 0.55) * side  # tile pitch in pixels: 2-4 tiles across
    grout_half = max(1.5, uniform(rng, 0.006, 0.012) * side)
    bevel = max(2.0, 0.012 * side)
    ox = uniform(rng, 0, tile)
    oy = uniform(rng, 0, tile)

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

    glaze = colour(colours["glaze"])
    mottle = 1.0 + 0.02 * smooth_noise(rng, h, w, 0.08 * side + 4.0)
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
    blend(rgb, speckle_alpha, glaze.ravel() * 0.45)

    # Gloss: a soft specular highlight on the glaze.
    cy = uniform(rng, 0.2, 0.8) * h
    cx = uniform(rng, 0.2, 0.8) * w
    spread = 2 * (0.3 * side) ** 2
    rgb += 30.0 * np.exp(-((y - cy) ** 2) / spread) * np.exp(-((x - cx) ** 2) / spread)

    # Grout: sandy, so noisier than the glaze.
    sand = 16.0 * (rng.random((h, w), dtype=np.float32) - 0.5) + 6.0 * smooth_noise(rng, h, w, 6.0)
    grout_fill = colour(colours["grout"]) + sand
    rgb = np.where(grout, grout_fill, rgb)
    return rgb * soft_lighting(rng, h, w, 0.08)


class _PcbArtwork:
    """The four layers of a PCB drawn with Pillow (combined with numpy by ``_paint_pcb``): traces under
    the solder mask, exposed plated pads, drilled holes and white silkscreen. Draws in a fixed order
    from one generator, so a seed always paints the same board."""

    def __init__(self, rng: np.random.Generator, h: int, w: int):
        self.rng, self.h, self.w = rng, h, w
        self.side = min(h, w)
        self.pitch = max(4, int(round(self.side / 40)))  # routing grid, 16 px at 640
        self.trace_w = max(2, int(round(self.pitch * 0.4)))
        self.copper, self.pads, self.holes, self.silk = (Image.new("L", (w, h), 0) for _ in range(4))
        self.d_cu, self.d_pad, self.d_hole, self.d_silk = (
            ImageDraw.Draw(im) for im in (self.copper, self.pads, self.holes, self.silk)
        )
        self.label_font = font(max(8, int(self.pitch * 0.9)))

    @staticmethod
    def disc(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)

    def via(self, cx: float, cy: float) -> None:
        self.disc(self.d_pad, cx, cy, self.trace_w * 1.1)
        self.disc(self.d_hole, cx, cy, self.trace_w * 0.5)

    def route(self, start: tuple[float, float], direction: int, segments: int) -> list[tuple[float, float]]:
        """A trace polyline in 45-degree steps, starting along ``direction`` (0..7)."""
        points = [start]
        cx, cy = start
        for i in range(segments):
            if i > 0:
                direction = (direction + int(self.rng.choice([-1, 1]))) % 8
            angle = direction * math.pi / 4
            length = self.pitch * int(self.rng.integers(2, 9))
            cx += length * math.cos(angle)
            cy += length * math.sin(angle)
            points.append((cx, cy))
        return points

    def chips(self) -> None:
        """SOIC-style chips: two rows of rectangular pads with fanned-out traces."""
        n_chips = 1 if self.side < 320 else int(self.rng.integers(1, 3))
        for chip in range(n_chips):
            # With two chips, keep them in different halves so they do not overlap.
            lo, hi = (0.25, 0.75) if n_chips == 1 else ((0.15, 0.4), (0.6, 0.85))[chip]
            self.chip(chip, lo, hi)

    def chip(self, chip: int, lo: float, hi: float) -> None:
        rng, pitch = self.rng, self.pitch
        pins = int(rng.integers(4, 9))
        body_h = pins * pitch * 1.3
        body_w = pitch * uniform(rng, 3.0, 5.0)
        cx = uniform(rng, lo, hi) * self.w
        cy = uniform(rng, 0.25, 0.75) * self.h
        pad_len = pitch * 1.3
        pad_half_w = pitch * 0.35
        for side_sign in (-1, 1):
            for k in range(pins):
                py = cy - body_h / 2 + (k + 0.5) * body_h / pins
                inner = cx + side_sign * body_w / 2
                outer = inner + side_sign * pad_len
                left, right = min(inner, outer), max(inner, outer)
                self.d_pad.rectangle((left, py - pad_half_w, right, py + pad_half_w), fill=255)
                # Fan out: straight out, then 45 degrees away from the chip's middle.
                out1 = (outer + side_sign * pitch * int(rng.integers(1, 3)), py)
                spread = (k - (pins - 1) / 2) * pitch * 0.8
                out2 = (out1[0] + side_sign * abs(spread), py + spread)
                out3 = (out2[0] + side_sign * pitch * int(rng.integers(2, 8)), out2[1])
                self.d_cu.line([(outer, py), out1, out2, out3], fill=255, width=self.trace_w, joint="curve")
                if rng.random() < 0.5:
                    self.via(*out3)
        outline = (cx - body_w / 2 + 3, cy - body_h / 2 - 4, cx + body_w / 2 - 3, cy + body_h / 2 + 4)
        self.d_silk.rectangle(outline, outline=255, width=2)
        pin1_dot = (outline[0] + 4, outline[1] + 4, outline[0] + 9, outline[1] + 9)
        self.d_silk.ellipse(pin1_dot, fill=255)
        self.d_silk.text((outline[0], outline[1] - pitch * 1.3), f"U{chip + 1}", fill=255, font=self.label_font)

    def free_traces(self) -> None:
        """Free traces between vias and through-hole pads."""
        rng, pitch = self.rng, self.pitch
        for _ in range(max(4, self.side // 45)):
            start = (
                float(pitch * int(rng.integers(1, max(2, self.w // pitch)))),
                float(pitch * int(rng.integers(1, max(2, self.h // pitch)))),
            )
            points = self.route(start, 2 * int(rng.integers(0, 4)), int(rng.integers(1, 4)))
            self.d_cu.line(points, fill=255, width=self.trace_w, joint="curve")
            for end in (points[0], points[-1]):
                if rng.random() < 0.6:
                    self.via(*end)
                else:
                    self.disc(self.d_pad, end[0], end[1], pitch * 0.7)
                    self.disc(self.d_hole, end[0], end[1], pitch * 0.32)

    def passives(self) -> None:
        """Two-pad passives (resistors, capacitors) with a silkscreen label."""
        rng, pitch = self.rng, self.pitch
        for i in range(int(rng.integers(2, 6))):
            px = uniform(rng, 0.08, 0.85) * self.w
            py = uniform(rng, 0.08, 0.85) * self.h
            pw = pitch * 0.8
            gap = pitch * 1.0
            if rng.random() < 0.5:  # horizontal part
                self.d_pad.rectangle((px, py, px + pw, py + pw * 1.2), fill=255)
                self.d_pad.rectangle((px + pw + gap, py, px + 2 * pw + gap, py + pw * 1.2), fill=255)
            else:
                self.d_pad.rectangle((px, py, px + pw * 1.2, py + pw), fill=255)
                self.d_pad.rectangle((px, py + pw + gap, px + pw * 1.2, py + 2 * pw + gap), fill=255)
            label = f"{'RC'[i % 2]}{int(rng.integers(1, 40))}"
            self.d_silk.text((px, py - pitch * 1.2), label, fill=255, font=self.label_font)


def _paint_pcb(rng: np.random.Generator, h: int, w: int, colours: dict) -> np.ndarray:
    art = _PcbArtwork(rng, h, w)
    art.chips()
    art.free_traces()
    art.passives()

    # Layers as (4, h, w) coverage in 0..1, edges slightly softened because
    # Pillow draws without antialiasing.
    layers = np.stack([np.asarray(im) for im in (art.copper, art.pads, art.silk, art.holes)]).astype(np.float32)
    cover_copper, cover_pads, cover_silk, cover_holes = soften(layers / 255.0)

    rgb = colour(colours["mask"]) * (1.0 + 0.05 * smooth_noise(rng, h, w, 12.0))
    blend(rgb, cover_copper, colours["copper"])
    pad_rgb = colour(colours["pad"]) * (1.0 + 0.06 * smooth_noise(rng, h, w, 4.0))
    blend(rgb, cover_pads, pad_rgb)
    blend(rgb, cover_silk * 0.9, (235, 235, 225))
    blend(rgb, cover_holes, (30, 28, 25))
    return rgb * soft_lighting(rng, h, w, 0.12)


SURFACE_PAINTERS = {
    "brushed_metal": _paint_brushed_metal,
    "fabric": _paint_fabric,
    "wood": _paint_wood,
    "tile": _paint_tile,
    "pcb": _paint_pcb,
}
