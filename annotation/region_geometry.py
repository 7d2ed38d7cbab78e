"""Region geometry as the API receives it: a COCO RLE, a PNG, or a box, checked against the image.

Each parser returns (mask_rle or None, bbox, area) or raises ValueError with a short message
that the caller pins to the field.
"""

import base64
import binascii
import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from catalog.rle import decode_compressed_counts, mask_bbox, mask_to_rle, rle_to_mask

Geometry = tuple[dict | None, list, int]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    """A base64 PNG whose non-zero pixels are the region (transparent pixels are background).

    The PNG's header is read before any pixel: a mask whose size is not the image's is refused
    undecoded, so a small, highly compressed PNG cannot expand into gigabytes in the web worker.
    """
    if not isinstance(value, str):
        raise ValueError("a base64-encoded PNG")
    try:
        # The first 32 base64 characters are the PNG's first 24 bytes: signature, IHDR, width, height.
        header_width, header_height = _png_header_size(base64.b64decode(value[:32], validate=True))
        if (header_width, header_height) != (width, height):
            raise ValueError(
                f"mask size {header_height}x{header_width} does not match the image ({height}x{width}, height x width)"
            )
        data = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("not a base64-encoded PNG") from None
    try:
        with warnings.catch_warnings():
            # The header matched the sample, whose size was accepted on import: that is the bound.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (ValueError, UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValueError("not a readable PNG (corrupt or truncated)") from None
    return _geometry_of_mask(_non_zero(image))


def _png_header_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which the format puts first."""
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a base64-encoded PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _non_zero(image: Image.Image) -> np.ndarray:
    if image.mode in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L", "F"):
        return np.asarray(image) != 0
    bands = image.getbands()
    colour = [image.getchannel(band) for band in bands if band != "A"]
    mask = np.zeros((image.height, image.width), dtype=bool)
    for channel in colour:  # one channel at a time: never a full (H, W, 4) copy
        mask |= np.asarray(channel) != 0
    if "A" in bands:
        mask &= np.asarray(image.getchannel("A")) != 0
    return mask


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
