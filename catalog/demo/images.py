"""Whole demo images: a surface, its defects with their masks, and a description; the catalog of
variants `seed_demo` draws."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .defects import DEFECT_PAINTERS
from .painting import uniform
from .surfaces import SURFACE_PAINTERS, VARIANTS

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
            candidate = (uniform(rng, margin, w - margin), uniform(rng, margin, h - margin))
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

    variants = VARIANTS[surface]
    variant = variants[int(rng.integers(len(variants)))]
    rgb = SURFACE_PAINTERS[surface](rng, height, width, variant.colours)
    rgb = np.clip(rgb, 0.0, 255.0).astype(np.float32)

    side = min(height, width)
    defects: list[DemoDefect] = []
    parts: list[tuple[str, np.ndarray]] = []
    centres = _defect_centres(rng, len(kinds), height, width)
    for kind, centre in zip(kinds, centres, strict=True):
        mask, phrase = DEFECT_PAINTERS[kind](rng, rgb, centre, side)
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
