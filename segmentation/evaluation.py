"""The standard interactive-segmentation protocol (NoC@IoU), for benchmarks and tests.

Clicks are simulated the way the literature does (Xu et al. 2016, then RITM / SimpleClick):
the first click is the interior point of the ground truth farthest from its boundary; each next
click goes to the point farthest from the boundary of the largest error region, positive when
that region is missed foreground, negative when it is wrongly added background.
Pure numpy + OpenCV: no Django. The learned segmenter is trained with this same protocol
(``ProtocolClicks``, passed to modeling.core.click_training), so "the next click" has one definition.
"""

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .clicks import Click

# Segment(clicks, previous_mask) -> (H, W) bool
Segmenter = Callable[[list[Click], np.ndarray | None], np.ndarray]


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(prediction, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(prediction, truth).sum() / union)


def farthest_from_boundary(region: np.ndarray) -> tuple[int, int]:
    """(x, y) of the pixel of `region` farthest from its edge (the image border counts as edge)."""
    padded = np.pad(region.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def next_click(prediction: np.ndarray, truth: np.ndarray) -> Click:
    """The click a careful annotator makes next: the centre of the largest error region."""
    false_negative = np.logical_and(truth, ~prediction)
    false_positive = np.logical_and(prediction, ~truth)
    best: tuple[int, bool, np.ndarray] | None = None
    for errors, positive in ((false_negative, True), (false_positive, False)):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(errors.astype(np.uint8), connectivity=8)
        if count <= 1:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[largest, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, positive, labels == largest)
    if best is None:
        raise ValueError("the prediction equals the ground truth: there is nothing left to click")
    _, positive, region = best
    x, y = farthest_from_boundary(region)
    return Click(x=x, y=y, positive=positive)


class ProtocolClicks:
    """The protocol as the click-model trainer takes it: plain (x, y[, positive]) tuples, deterministic."""

    def first_click(self, truth: np.ndarray) -> tuple[int, int]:
        return farthest_from_boundary(truth)

    def next_click(self, prediction: np.ndarray, truth: np.ndarray) -> tuple[int, int, bool]:
        click = next_click(prediction, truth)
        return click.x, click.y, click.positive


@dataclass(frozen=True)
class ClickRun:
    ious: list[float]  # IoU after each click, in order

    def clicks_to_reach(self, threshold: float, max_clicks: int = 20) -> int:
        """NoC@threshold: the first click count whose IoU reaches it, or max_clicks on failure."""
        for index, value in enumerate(self.ious[:max_clicks]):
            if value >= threshold:
                return index + 1
        return max_clicks


def simulate_clicks(segment: Segmenter, truth: np.ndarray, *, max_clicks: int = 20, stop_at: float = 1.0) -> ClickRun:
    """Click until the IoU reaches `stop_at` or max_clicks; each call refines the previous mask."""
    if not truth.any():
        raise ValueError("the ground-truth mask is empty")
    clicks = [Click(*farthest_from_boundary(truth), positive=True)]
    previous = None
    ious: list[float] = []
    while True:
        prediction = segment(list(clicks), previous)
        ious.append(iou(prediction, truth))
        if ious[-1] >= stop_at or len(clicks) >= max_clicks:
            return ClickRun(ious=ious)
        clicks.append(next_click(prediction, truth))
        previous = prediction
