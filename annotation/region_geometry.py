"""Region geometry as the API receives it: a COCO RLE, a PNG, or a box, checked against the image.

Each parser returns (mask_rle or None, bbox, area) or raises ValueError with a short message
that the caller pins to the field.
"""

import base64
import binascii
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from catalog.rle import decode_compressed_counts, mask_bbox, mask_to_rle, rle_to_mask

Geometry = tuple[dict | None, list, int]


def geometry_from_rle(value, *, width: int, height: int) -> Geometry:
    if not isinstance(value, dict) or "size" not in value or "counts" not in value:
        raise ValueError('a COCO RLE object {"size": [height, width], "counts": [...]}')
    size = value["size"]
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(n) for n in size)):
        raise ValueError("size must be [height, width]")
    if size != [height, width]:
        raise ValueError(f"mask size {size[0]}x{size[1]} does not match the image ({height}x{width}, height x width)")
    counts = value["counts"]
    if isinstance(counts, str):
        try:
            counts = decode_compressed_counts(counts)
        except (IndexError, ValueError):
            raise ValueError("counts is not a valid compressed RLE string") from None
    if not (isinstance(counts, list) and all(_is_int(n) and n >= 0 for n in counts)):
        raise ValueError("counts must be a list of non-negative integers (or a COCO compressed string)")
    if sum(counts) != height * width:
        raise ValueError(f"counts sum to {sum(counts)}, but a {height}x{width} mask has {height * width} pixels")
    return _geometry_of_mask(rle_to_mask({"size": size, "counts": counts}))


def geometry_from_png(value, *, width: int, height: int) -> Geometry:
    """A base64 PNG whose non-zero pixels are the region."""
    if not isinstance(value, str):
        raise ValueError("a base64-encoded PNG")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(value, validate=True)))
        image.load()
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        raise ValueError("not a base64-encoded PNG") from None
    if image.size != (width, height):
        raise ValueError(
            f"mask size {image.size[1]}x{image.size[0]} does not match the image ({height}x{width}, height x width)"
        )
    return _geometry_of_mask(np.asarray(image.convert("L")) > 0)


def geometry_from_bbox(value, *, width: int, height: int) -> Geometry:
    if not (isinstance(value, list) and len(value) == 4 and all(_is_number(n) for n in value)):
        raise ValueError("bbox must be [x, y, width, height]")
    x, y, w, h = value
    if w <= 0 or h <= 0:
        raise ValueError("bbox width and height must be positive")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"bbox {value} lies outside the {width}x{height} image")
    return None, list(value), max(1, round(w * h))


def _geometry_of_mask(mask: np.ndarray) -> Geometry:
    bbox = mask_bbox(mask)
    if bbox is None:
        raise ValueError("the mask is empty")
    return mask_to_rle(mask), bbox, int(mask.sum())


def region_mask(mask_rle: dict | None, bbox: list, *, width: int, height: int) -> np.ndarray:
    """(H, W) bool: the mask, or the box filled when the region has no mask."""
    if mask_rle is not None:
        return rle_to_mask(mask_rle)
    mask = np.zeros((height, width), dtype=bool)
    x, y, w, h = (round(n) for n in bbox)
    mask[y : y + h, x : x + w] = True
    return mask


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
