"""The classical click backend: a colour "magic wand" proposes a region, GrabCut refines it.

Why this shape. Industrial defects (thin scratches, pits, cracks, stains) differ from the surface
around them mostly in brightness or colour, at sizes from ten pixels to half the image, on
textured surfaces. So each click first finds the connected pixels like the clicked one (Otsu's
threshold on the Lab colour distance to it) in square windows of 17 to 257 pixels, and keeps the
window where the two classes stand furthest apart without the region filling more than half of it.
GrabCut then refits foreground and background colour models in a window around that region, with
the clicks as hard seeds and the window's edge as background, which cleans the edges and lets
background-like pixels go. Without GrabCut (the wand alone) the benchmark needs more clicks.

Every click is a local edit of the previous mask, as an annotator expects: a positive click only
adds the region it lands in, a negative click only removes the region it lands in, and neither
touches pixels nearer to a click of the other kind. The mask after N clicks is the first click's
region edited by clicks 2..N in order, so a request that sends the previous mask gets the same
answer as one that sends only the clicks, in one step instead of N.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .clicks import Click


@dataclass(frozen=True)
class GrabCutSettings:
    blur_sigma: float = 1.0  # smooths sensor noise and JPEG blocks before colours are compared
    wand_radii: tuple[int, ...] = (8, 16, 32, 64, 128)  # half-sizes of the windows the wand tries
    max_fill: float = 0.5  # a region filling more of its window than this has leaked
    grabcut_iterations: int = 3
    grabcut_max_side: int = 160  # larger windows are shrunk to this for GrabCut (speed), the mask scaled back
    margin_fraction: float = 0.5  # GrabCut's window: the region's box grown by this share of its size...
    min_margin: int = 12  # ...and at least this many pixels
    seed_radius: int = 2  # clicks are hard seeds of this radius


class GrabCutBackend:
    name = "grabcut"
    description = "Classical: a colour-threshold region around each click (magic wand) refined by OpenCV GrabCut."

    def __init__(self, settings: GrabCutSettings | None = None):
        self.settings = settings or GrabCutSettings()

    def segment(self, image: np.ndarray, clicks: Sequence[Click], previous_mask: np.ndarray | None) -> np.ndarray:
        features = smoothed_lab(image, self.settings.blur_sigma)
        if previous_mask is not None:
            return self.edit(image, features, previous_mask, clicks)
        mask = np.zeros(image.shape[:2], dtype=bool)
        for count in range(1, len(clicks) + 1):
            mask = self.edit(image, features, mask, clicks[:count])
        return mask

    def edit(self, image: np.ndarray, features: np.ndarray, mask: np.ndarray, clicks: Sequence[Click]) -> np.ndarray:
        """Apply the last click to `mask`; the earlier clicks stay hard seeds."""
        click = clicks[-1]
        seed = disk(click, self.settings.seed_radius, mask.shape)
        # A click only changes pixels nearer to it than to any click of the other kind.
        reach = nearer_than_opposite(click, clicks, mask.shape)
        region = np.logical_and(wand(features, click, self.settings), reach)
        if click.positive:
            # GrabCut sees the mask too, so a click on an object's edge extends it with the object's colours.
            refined = self.grabcut(image, np.logical_or(mask, region), clicks, around=region | seed)
            added = component_at(np.logical_and(np.logical_or(refined, seed), reach), click)
            return np.logical_or(mask, added)
        if not mask.any():
            return mask
        # What a negative click removes: the part of the mask like the clicked pixel, as far as
        # GrabCut, refitting both colour models without it, agrees.
        inside = np.logical_and(mask, region)
        refined = self.grabcut(image, np.logical_and(mask, ~region), clicks, around=inside | seed)
        removed = component_at(np.logical_and(np.logical_or(np.logical_and(mask, ~refined), seed), reach), click)
        return np.logical_and(mask, ~removed)

    def grabcut(
        self, image: np.ndarray, foreground: np.ndarray, clicks: Sequence[Click], *, around: np.ndarray
    ) -> np.ndarray:
        """GrabCut in a window around `around`, started from `foreground`, clicks as hard seeds.
        Outside the window the answer is False."""
        s = self.settings
        height, width = foreground.shape
        x0, y0, x1, y1 = grown_box(around, s.margin_fraction, s.min_margin, width, height)
        labels = np.where(foreground[y0:y1, x0:x1], cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        # The window's edge is background: that is what keeps a region from spreading without end.
        for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
            edge[:] = cv2.GC_BGD
        for click in clicks:
            if x0 <= click.x < x1 and y0 <= click.y < y1:
                value = cv2.GC_FGD if click.positive else cv2.GC_BGD
                cv2.circle(labels, (click.x - x0, click.y - y0), s.seed_radius, value, -1)
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        scale = min(1.0, s.grabcut_max_side / max(crop.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            small = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
        else:
            small = labels
        has_foreground = np.isin(small, (cv2.GC_FGD, cv2.GC_PR_FGD)).any()
        has_background = np.isin(small, (cv2.GC_BGD, cv2.GC_PR_BGD)).any()
        if has_foreground and has_background:
            background_model = np.zeros((1, 65), np.float64)
            foreground_model = np.zeros((1, 65), np.float64)
            cv2.grabCut(
                crop, small, None, background_model, foreground_model, s.grabcut_iterations, cv2.GC_INIT_WITH_MASK
            )
        chosen = np.isin(small, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
        if scale < 1.0:
            chosen = cv2.resize(chosen, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        result = np.zeros((height, width), dtype=bool)
        result[y0:y1, x0:x1] = chosen >= 0.5
        return result


def smoothed_lab(image: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W, 3) float32 CIE Lab of the blurred image: distances in it follow perceived colour."""
    blurred = cv2.GaussianBlur(image, (0, 0), sigma) if sigma > 0 else image
    return cv2.cvtColor(blurred, cv2.COLOR_RGB2LAB).astype(np.float32)


def wand(features: np.ndarray, click: Click, settings: GrabCutSettings) -> np.ndarray:
    """(H, W) bool: the connected pixels like the clicked one, at the window size where they stand out most."""
    height, width = features.shape[:2]
    seed = features[max(0, click.y - 1) : click.y + 2, max(0, click.x - 1) : click.x + 2].reshape(-1, 3).mean(axis=0)
    distance = np.linalg.norm(features - seed, axis=2)
    best = np.zeros((height, width), dtype=bool)
    best[click.y, click.x] = True
    best_separation = -1.0
    for radius in settings.wand_radii:
        x0, y0 = max(0, click.x - radius), max(0, click.y - radius)
        x1, y1 = min(width, click.x + radius + 1), min(height, click.y + radius + 1)
        like, separation = otsu_split(distance[y0:y1, x0:x1])
        region = component_at(like, Click(click.x - x0, click.y - y0, True))
        if separation > best_separation and region.any() and region.mean() <= settings.max_fill:
            best_separation = separation
            best = np.zeros((height, width), dtype=bool)
            best[y0:y1, x0:x1] = region
    return best


def otsu_split(distance: np.ndarray) -> tuple[np.ndarray, float]:
    """Pixels on the seed's side of Otsu's threshold, and how far apart the two classes are."""
    scaled = np.clip(distance * 4.0, 0, 255).astype(np.uint8)
    threshold, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    like = scaled <= threshold
    if like.all() or not like.any():
        return like, 0.0
    near, far = distance[like], distance[~like]
    pooled = np.sqrt((near.var() * near.size + far.var() * far.size) / distance.size) + 1e-6
    return like, float((far.mean() - near.mean()) / pooled)


def nearer_than_opposite(click: Click, clicks: Sequence[Click], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: pixels nearer to `click` than to every click of the opposite sign."""
    others = [c for c in clicks if c.positive != click.positive]
    if not others:
        return np.ones(shape, dtype=bool)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    own = (cols - click.x) ** 2 + (rows - click.y) ** 2
    nearest_other = np.min([(cols - c.x) ** 2 + (rows - c.y) ** 2 for c in others], axis=0)
    return own < nearest_other


def disk(click: Click, radius: int, shape: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, dtype=np.uint8)
    cv2.circle(canvas, (click.x, click.y), radius, 1, -1)
    return canvas.astype(bool)


def component_at(mask: np.ndarray, click: Click) -> np.ndarray:
    """The 8-connected component of `mask` holding the click, empty if the click is outside it."""
    if not mask[click.y, click.x]:
        return np.zeros_like(mask, dtype=bool)
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return labels == labels[click.y, click.x]


def grown_box(mask: np.ndarray, fraction: float, minimum: int, width: int, height: int) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    margin = max(minimum, int(fraction * max(x1 - x0, y1 - y0)))
    return max(0, x0 - margin), max(0, y0 - margin), min(width, x1 + margin), min(height, y1 + margin)
