"""The registry of click-segmentation backends: each turns clicks on an image into a mask.

A backend is any object with a `name`, a one-line `description` and
`segment(image, clicks, previous_mask) -> (H, W) bool`. The classical backends register
themselves on import; a trained model can register itself the same way later.
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


class SegmentationBackend(Protocol):
    name: str
    description: str

    def segment(self, image: np.ndarray, clicks: Sequence[Click], previous_mask: np.ndarray | None) -> np.ndarray:
        """Args: image: (H, W, 3) uint8 RGB; clicks: in the order made, the first one positive,
        all inside the image; previous_mask: (H, W) bool to refine, or None.
        Returns: (H, W) bool, possibly empty."""


class UnknownBackend(LookupError):
    def __init__(self, name: str):
        super().__init__(f"unknown backend '{name}'; known: {', '.join(sorted(known_backends()))}")


BACKENDS: dict[str, SegmentationBackend] = {}


def register(backend: SegmentationBackend) -> SegmentationBackend:
    if backend.name in BACKENDS:
        raise ValueError(f"a segmentation backend named '{backend.name}' is already registered")
    BACKENDS[backend.name] = backend
    return backend


def get_backend(name: str) -> SegmentationBackend:
    try:
        return known_backends()[name]
    except KeyError:
        raise UnknownBackend(name) from None


def known_backends() -> dict[str, SegmentationBackend]:
    # The built-in backends register themselves when imported; they import this module, hence the
    # import here rather than at the top.
    from . import grabcut  # noqa: F401

    return dict(BACKENDS)
