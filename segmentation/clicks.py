"""What a click-segmentation backend is: the Click it receives and the interface it implements.

A backend is any object with a `name`, a one-line `description` and
`segment(image, clicks, previous_mask) -> (H, W) bool`; backends.py keeps the registry. A backend
that also takes a box prompt says so with `accepts_box = True` and takes `box=` (a Box, or None);
it may then be called with no click at all when a box is given.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Click:
    x: int  # column, 0 at the left
    y: int  # row, 0 at the top
    positive: bool  # True: "this is the defect"; False: "this is not"


@dataclass(frozen=True)
class Box:
    """A box prompt in image pixels, COCO style like the responses' bbox: top-left corner and size."""

    x: int
    y: int
    width: int
    height: int


class SegmentationBackend(Protocol):
    name: str
    description: str

    def segment(self, image: np.ndarray, clicks: Sequence[Click], previous_mask: np.ndarray | None) -> np.ndarray:
        """Args: image: (H, W, 3) uint8 RGB; clicks: in the order made, the first one positive,
        all inside the image; previous_mask: (H, W) bool to refine, or None.
        Returns: (H, W) bool, possibly empty."""
