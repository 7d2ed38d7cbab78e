"""Mask files as datasets write them: class indices, palettes, 0/255, anti-aliased grey, colour.

A mask file is read into an (H, W) array of values, 0 being background:
- one channel (modes 1, L, I;16, I): the stored value;
- palette (P): the palette index, never the colour it shows: index masks are often saved as
  palette PNG or BMP so that each class looks coloured in a viewer;
- RGB/RGBA whose pixels are all grey: the grey level (a grey mask saved with three channels);
- colour RGB/RGBA: no index can be read, so every non-black pixel is 255 and `indexed` is False.
Transparent pixels (alpha 0) are background.

The header is read before any pixel is decoded: a mask whose size differs from its image is
refused without being decoded, so a small file cannot expand into a huge array.
Pure Pillow + numpy, no Django.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SINGLE_CHANNEL_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L")
MAX_LISTED_VALUES = 10


class MaskRejected(ValueError):
    """The mask cannot be used for its image; the message says why, for the import report."""


@dataclass(frozen=True)
class MaskValues:
    values: np.ndarray  # (H, W) unsigned integers, 0 = background
    indexed: bool  # False for a colour mask: its values are 0/255, not class indices


def read_mask_values(path: Path, *, width: int, height: int, shown: str = "") -> MaskValues:
    """Args: width, height: the image's size, which the mask must have; shown: how messages name
    the mask (its file name by default). Raises MaskRejected."""
    name = shown or path.name
    try:
        with warnings.catch_warnings():
            # The size check below is the bound: a mask must be exactly as large as an accepted image.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.size != (width, height):
                    raise MaskRejected(f"{name} is {image.size[0]}x{image.size[1]} but the image is {width}x{height}")
                image.load()
                return _values(image, name)
    except MaskRejected:
        raise
    except Image.DecompressionBombError:
        raise MaskRejected(f"{name} is far larger than any image this platform accepts") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise MaskRejected(f"mask {name} is not a readable image ({error})") from None


def _values(image: Image.Image, name: str) -> MaskValues:
    if image.mode in SINGLE_CHANNEL_MODES:
        values = np.asarray(image)
        return MaskValues(values.astype(np.uint8) if values.dtype == bool else _unsigned(values, name), True)
    if image.mode in ("LA", "PA"):
        values = np.asarray(image.getchannel(0)).copy()
        values[np.asarray(image.getchannel("A")) == 0] = 0
        return MaskValues(values, True)
    if image.mode == "F":
        return MaskValues(_unsigned(np.asarray(image), name), True)
    pixels = np.asarray(image.convert("RGBA"))
    colour, transparent = pixels[..., :3], pixels[..., 3] == 0
    red = colour[..., 0]
    if np.array_equal(red, colour[..., 1]) and np.array_equal(red, colour[..., 2]):
        values, indexed = red.copy(), True
    else:
        values, indexed = np.where(colour.any(axis=2), 255, 0).astype(np.uint8), False
    values[transparent] = 0
    return MaskValues(values, indexed)


def _unsigned(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
            raise MaskRejected(f"{name} holds fractional values; a mask holds whole class indices")
    if values.size and values.min() < 0:
        raise MaskRejected(f"{name} holds negative values")
    if values.dtype.kind == "u":
        return values
    return values.astype(np.uint16 if values.size == 0 or values.max() <= 65535 else np.uint32)


def value_counts(values: np.ndarray) -> dict[int, int]:
    """Non-zero value -> its pixel count."""
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2:
        counts = np.bincount(values.ravel())  # no sort, no copy: a 16-bit mask has at most 65,536 bins
        present = np.flatnonzero(counts)
        return {int(v): int(counts[v]) for v in present if v != 0}
    found, counts = np.unique(values, return_counts=True)
    return {int(v): int(c) for v, c in zip(found, counts, strict=True) if v != 0}


def unlisted_values_warning(name: str, counts: dict[int, int], listed: set[int]) -> str | None:
    """The row's warning for mask values that no class names, or None when every value is listed."""
    unlisted = sorted(value for value in counts if value not in listed)
    if not unlisted:
        return None
    shown = ", ".join(f"{value} ({counts[value]:,} pixels)" for value in unlisted[:MAX_LISTED_VALUES])
    if len(unlisted) > MAX_LISTED_VALUES:
        shown += f" and {len(unlisted) - MAX_LISTED_VALUES} more values"
    listed_text = ", ".join(str(v) for v in sorted(listed)) or "none"
    return f"{name} holds value(s) {shown} that mask_classes does not list (it lists {listed_text}); not imported"
