"""COCO segmentations (polygons, RLE) checked as data, then decoded one at a time at the image's size.

Discovery only checks the structure (cheap, no pixels). Decoding happens when the row is processed,
after the image is decoded and its size is known: an RLE whose size is not the image's, or whose
counts do not add up to it, is refused before any array is allocated, so a hostile annotation file
cannot make the importer hold a mask larger than the image it belongs to.
"""

import math

import numpy as np
from PIL import Image, ImageDraw

from .rle import decode_compressed_counts


class SegmentationRejected(ValueError):
    """The segmentation cannot be used; the message names what is wrong."""


def segmentation_problem(segmentation) -> str | None:
    """What is structurally wrong with a COCO segmentation, or None. Reads no pixels."""
    if isinstance(segmentation, dict):
        if "size" not in segmentation or "counts" not in segmentation:
            return "an RLE segmentation needs 'size' and 'counts'"
        size = segmentation["size"]
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(n) and n > 0 for n in size)):
            return "an RLE 'size' is [height, width], two positive integers"
        counts = segmentation["counts"]
        if isinstance(counts, str):
            return None
        if not (isinstance(counts, list) and all(_is_int(n) and n >= 0 for n in counts)):
            return "RLE 'counts' is a COCO compressed string or a list of non-negative integers"
        return None
    if isinstance(segmentation, list):
        if not segmentation:
            return "the polygon list is empty"
        for polygon in segmentation:
            if not (isinstance(polygon, list) and all(_is_number(v) for v in polygon)):
                return "a polygon is a flat list of numbers [x1, y1, x2, y2, ...]"
            if len(polygon) < 6 or len(polygon) % 2:
                return "a polygon needs at least 3 points and an even number of coordinates"
        return None
    return "segmentation is a list of polygons or an RLE object"


def segmentation_mask(segmentation, *, width: int, height: int) -> np.ndarray:
    """(H, W) bool of a segmentation that passed segmentation_problem. Raises SegmentationRejected."""
    if isinstance(segmentation, dict):
        return _rle_mask(segmentation, width=width, height=height)
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in segmentation:
        draw.polygon([(float(polygon[i]), float(polygon[i + 1])) for i in range(0, len(polygon), 2)], fill=1)
    return np.asarray(canvas, dtype=bool)


def _rle_mask(rle: dict, *, width: int, height: int) -> np.ndarray:
    rle_height, rle_width = rle["size"]
    if (rle_width, rle_height) != (width, height):
        raise SegmentationRejected(f"RLE size is {rle_width}x{rle_height} but the image is {width}x{height}")
    counts = rle["counts"]
    if isinstance(counts, str):
        try:
            counts = decode_compressed_counts(counts)
        except (IndexError, ValueError):
            raise SegmentationRejected("RLE counts is not a valid COCO compressed string") from None
        if any(n < 0 for n in counts):
            raise SegmentationRejected("RLE counts decode to a negative run")
    total = sum(counts)
    if total != width * height:
        raise SegmentationRejected(f"RLE counts add up to {total:,} pixels, but the image has {width * height:,}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape((height, width), order="F")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    # Python's json reads NaN, Infinity and integers of any length; none of those is a coordinate.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= 2**53
    return isinstance(value, float) and math.isfinite(value)
