"""The registry of click-segmentation backends: each turns clicks on an image into a mask
(the interface is in clicks.py). The built-in backends are registered below; a trained model
can be registered the same way later.
"""

from .clicks import Click, SegmentationBackend
from .grabcut import GrabCutBackend

__all__ = ["BACKENDS", "Click", "SegmentationBackend", "UnknownBackend", "get_backend", "known_backends", "register"]


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
    return dict(BACKENDS)


register(GrabCutBackend())
