"""Zoom-in for the click segmenter (RITM's ZoomIn, FocalClick's focus crop): after the first click the
model looks again at a box around the current prediction and the clicks, resized to its working
resolution, so small defects get many more pixels than in the whole image.

The box is a pure function of (mask, clicks, image shape, margin, minimum fraction), snapped to a grid
of ``ZOOM_GRID`` pixels so that small changes of the prediction keep the same box, and with it the
cached image encoding. Boxes are ``(x0, y0, x1, y1)``: columns x0..x1-1, rows y0..y1-1. No Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

ZOOM_GRID = 16  # box corners and sides are multiples of this many pixels (clipped to the image)

Box = tuple[int, int, int, int]


def zoom_box(
    mask: np.ndarray | None,
    clicks: Sequence[tuple[int, int, bool]],
    shape: tuple[int, int],
    *,
    margin: float,
    min_fraction: float,
    grid: int = ZOOM_GRID,
) -> Box:
    """The square box around the mask's pixels and the clicks, widened by ``margin`` times its side on
    each side, at least ``min_fraction`` of the image's longer side, inside the image (H, W) = shape.
    Only the positive clicks and the mask set its extent (a negative click far away does not widen it).
    The whole image when there is nothing to frame."""
    height, width = shape
    ys: list[np.ndarray] = []
    xs: list[np.ndarray] = []
    if mask is not None:
        if mask.shape != (height, width):
            raise ValueError(f"mask is {mask.shape}, the image is {(height, width)}")
        rows, cols = np.nonzero(mask)
        ys.append(rows)
        xs.append(cols)
    positive = [(x, y) for x, y, is_positive in clicks if is_positive]
    if positive:
        xs.append(np.array([x for x, _ in positive]))
        ys.append(np.array([y for _, y in positive]))
    all_x = np.concatenate(xs) if xs else np.zeros(0)
    all_y = np.concatenate(ys) if ys else np.zeros(0)
    if all_x.size == 0:
        return (0, 0, width, height)
    left, right = int(all_x.min()), int(all_x.max()) + 1
    top, bottom = int(all_y.min()), int(all_y.max()) + 1
    side = max(right - left, bottom - top) * (1 + 2 * margin)
    side = max(side, min_fraction * max(height, width))
    side = int(math.ceil(side / grid) * grid)
    side_x, side_y = min(side, width), min(side, height)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    x0 = int(np.clip(round((centre_x - side_x / 2) / grid) * grid, 0, width - side_x))
    y0 = int(np.clip(round((centre_y - side_y / 2) / grid) * grid, 0, height - side_y))
    return (x0, y0, x0 + side_x, y0 + side_y)


def crop_clicks(clicks: Sequence[tuple[int, int, bool]], box: Box) -> list[tuple[int, int, bool]]:
    """Clicks in the box's pixels; a click outside the box is dropped (it cannot be drawn there)."""
    x0, y0, x1, y1 = box
    return [(x - x0, y - y0, positive) for x, y, positive in clicks if x0 <= x < x1 and y0 <= y < y1]


def paste_back(probability: np.ndarray, box: Box, outside: np.ndarray) -> np.ndarray:
    """A crop's (h', w') probability resized to the box and written into a copy of ``outside``
    (H, W float32: what the pixels beyond the box keep, usually the previous mask)."""
    x0, y0, x1, y1 = box
    full = outside.astype(np.float32, copy=True)
    if probability.shape != (y1 - y0, x1 - x0):
        probability = cv2.resize(probability, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    full[y0:y1, x0:x1] = probability
    return full
