"""The registry of click-segmentation backends: each turns clicks on an image into a mask
(the interface is in clicks.py). The classical backend is registered below; the SAM backend by
segmentation/apps.py when SEGMENT_SAM_PATH is set, and the learned one by the modeling app when
SEGMENT_LEARNED_CHECKPOINT is set (a higher layer registers itself here; this module imports none).
"""

from .clicks import Box, Click, SegmentationBackend
from .grabcut import GrabCutBackend

__all__ = [
    "BACKENDS",
    "Box",
    "Click",
    "SegmentationBackend",
    "UnknownBackend",
    "get_backend",
    "known_backends",
    "register",
    "unregister",
]


class UnknownBackend(LookupError):
    def __init__(self, name: str):
        super().__init__(f"unknown backend '{name}'; known: {', '.join(sorted(known_backends()))}")


BACKENDS: dict[str, SegmentationBackend] = {}


def register(backend: SegmentationBackend) -> SegmentationBackend:
    if backend.name in BACKENDS:
        raise ValueError(f"a segmentation backend named '{backend.name}' is already registered")
    BACKENDS[backend.name] = backend
    return backend


def unregister(name: str) -> SegmentationBackend | None:
    """Remove a backend (tests, or a reload with another checkpoint); returns it, or None if absent."""
    return BACKENDS.pop(name, None)


def get_backend(name: str) -> SegmentationBackend:
    try:
        return known_backends()[name]
    except KeyError:
        raise UnknownBackend(name) from None


def known_backends() -> dict[str, SegmentationBackend]:
    return dict(BACKENDS)


register(GrabCutBackend())
