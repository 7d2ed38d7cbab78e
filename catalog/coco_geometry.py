"""COCO segmentations (polygons, RLE) checked as data, then decoded one at a time at the image's size.

Discovery only checks the structure (cheap, no pixels). Decoding happens when the row is processed,
after the image is decoded and its size is known: an RLE whose size is not the image's, or whose
counts do not add up to it, is refused before any array is allocated, so a hostile annotation file
cannot make the importer hold a mask larger than the image it belongs to.

Polygons are filled by the rule every COCO tool reads them with (pycocotools' annToMask, and so
the evaluators and the dataset authors' own viewers): a pixel (column x, row y) is in when its
centre (x + 0.5, y + 0.5) is inside the polygon, a ring crossing itself is filled even-odd, and the
parts of one segmentation are a union. The rectangle [5, 5, 20, 5, 20, 15, 5, 15] is then its
15x10 = 150 pixels with the bbox [5, 5, 15, 10] a COCO file states for it; PIL's ImageDraw, used
before, also filled the right and bottom edges (176 pixels, about a fifth too many on small
defects). pycocotools itself is not a dependency of the importer, and the two need not agree on
every pixel: it samples the boundary at 1/5 px, so a pixel whose centre lies next to an edge
(nearly always within 0.1 px, at most 0.3 px measured) may come out the other way; over random
shapes 0.44% of its pixels differ (tests/catalog/test_coco_polygons.py).
"""

import math

import numpy as np

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
    mask = np.zeros((height, width), dtype=bool)
    for polygon in segmentation:
        _fill_polygon(mask, polygon)  # the parts are a union, as pycocotools merges them
    return mask


# The rows are filled in bands so that memory stays bounded whatever the polygon: a band holds at
# most this many crossings (some 50 bytes each in flight: about 13 MiB) and this many pixels
# (8 bytes each in the counts: 0.5 MiB), unless a single row has more crossings than that.
_BAND_CROSSINGS = 1 << 18
_BAND_PIXELS = 1 << 16


def _fill_polygon(mask: np.ndarray, polygon: list) -> None:
    """Set in `mask` (H, W) the pixels whose centre is inside the ring, by the even-odd rule.

    Each edge crosses the horizontal lines through pixel centres (y = row + 0.5) that it spans. A
    crossing at x toggles "inside" for every pixel of its row whose centre is right of x, so
    counting the crossings at the first such pixel and taking the parity of a running count along
    the row fills between pairs of crossings: no sorting, whatever the direction of the ring or
    where it crosses itself.
    """
    height, width = mask.shape
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    start, end = points, np.roll(points, -1, axis=0)
    # Each edge from its upper to its lower end, so an edge walked back and forth gives the same
    # crossings twice, which cancel exactly (a polygon without area covers nothing).
    downward = (start[:, 1] <= end[:, 1])[:, None]
    upper, lower = np.where(downward, start, end), np.where(downward, end, start)
    # An edge crosses the rows whose centre line is in (upper y, lower y]: half-open, so a vertex
    # shared by two edges is crossed once and a horizontal edge never. A centre exactly on a top or
    # left edge is then out and one on a bottom or right edge in: pycocotools fills a square with
    # half-pixel corners that way too.
    first_row = np.clip(np.floor(upper[:, 1] + 0.5), 0, height).astype(np.int64)
    end_row = np.clip(np.floor(lower[:, 1] + 0.5), 0, height).astype(np.int64)
    spans_a_row = first_row < end_row
    upper, lower = upper[spans_a_row], lower[spans_a_row]
    first_row, end_row = first_row[spans_a_row], end_row[spans_a_row]
    # Edges in the order of their first row, so that a band only looks at those starting above its end.
    order = np.argsort(first_row, kind="stable")
    upper, lower, first_row, end_row = upper[order], lower[order], first_row[order], end_row[order]
    slope = (lower[:, 0] - upper[:, 0]) / (lower[:, 1] - upper[:, 1])  # dx per row; dy > 0 here
    # Crossings on each row, then before each row: where to cut the bands.
    per_row = np.bincount(first_row, minlength=height + 1) - np.bincount(end_row, minlength=height + 1)
    crossings_before = np.concatenate([[0], np.cumsum(np.cumsum(per_row)[:height])])

    most_rows = max(1, _BAND_PIXELS // width)
    band_start = 0
    while band_start < height:
        within_budget = np.searchsorted(crossings_before, crossings_before[band_start] + _BAND_CROSSINGS, "right") - 1
        band_end = min(height, band_start + most_rows, max(band_start + 1, within_budget))
        in_band = np.flatnonzero(end_row[: np.searchsorted(first_row, band_end)] > band_start)
        first = np.maximum(first_row[in_band], band_start)
        spans = np.minimum(end_row[in_band], band_end) - first
        # Each edge's crossings in the band, row by row: its first row in the band, then the next...
        row = np.repeat(first, spans) + np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)
        # ...at x computed from the edge's upper end whatever the band, so that bands cannot move a
        # crossing that lies exactly on a pixel centre by a rounding.
        x0, y0 = upper[in_band].T
        x = np.repeat(x0, spans) + (row + 0.5 - np.repeat(y0, spans)) * np.repeat(slope[in_band], spans)
        # The first pixel whose centre is right of the crossing: one left of the image toggles from
        # pixel 0; one right of it lands in a spare column past the row's end, dropped below.
        column = np.clip(np.floor(x + 0.5), 0, width).astype(np.int64)
        counts = np.bincount((row - band_start) * (width + 1) + column, minlength=(band_end - band_start) * (width + 1))
        # A running count over the whole band, not row by row (several times faster): a closed ring
        # crosses every row an even number of times, spare column included, so each row starts even.
        np.cumsum(counts, out=counts)
        counts &= 1  # in place: this band's int64 counts are its largest array
        mask[band_start:band_end] |= counts.astype(bool).reshape(band_end - band_start, width + 1)[:, :width]
        band_start = band_end


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
