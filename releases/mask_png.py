"""Class-index masks as 8-bit grayscale PNG, encoded here with zlib.

Pillow's PNG writer spends 100 µs and more of Python a call on plugin dispatch and chunk writing,
more than all the other work of a small sample together. A class mask needs only the simplest
PNG: an IHDR, one IDAT of unfiltered rows, an IEND. Z_RLE is zlib's strategy made for image data
of long runs, which a mask (mostly background) is: faster than the default and smaller.
"""

import struct
import zlib

import numpy as np

from catalog.rle import rle_to_mask

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CLASS_INDEX = 255  # an 8-bit class-index mask: background and at most 255 classes
GRAYSCALE_8_BIT = struct.pack(">BBBBB", 8, 0, 0, 0, 0)  # depth 8, colour type 0, deflate, no filter set, no interlace


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


IEND = _chunk(b"IEND", b"")


def png_grayscale(rows: np.ndarray) -> bytes:
    """Args: rows: (H, W + 1) uint8, each row a 0 (PNG filter "none") followed by W pixels."""
    if rows.ndim != 2 or rows.dtype != np.uint8 or rows.shape[1] < 2:
        raise ValueError(f"rows must be (H, W + 1) uint8, got {rows.dtype} {rows.shape}")
    height, width = rows.shape[0], rows.shape[1] - 1
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_RLE)
    image_data = compressor.compress(rows.tobytes()) + compressor.flush()
    return b"".join(
        (
            SIGNATURE,
            _chunk(b"IHDR", struct.pack(">II", width, height) + GRAYSCALE_8_BIT),
            _chunk(b"IDAT", image_data),
            IEND,
        )
    )


def class_mask_png(regions: list[tuple[dict, int]], width: int, height: int) -> bytes:
    """An 8-bit class-index PNG of (RLE, class index) regions, painted in order: a later region
    overwrites an earlier one where they overlap; 0 is background."""
    rows = np.zeros((height, width + 1), dtype=np.uint8)
    pixels = rows[:, 1:]  # column 0 holds each row's filter byte
    for rle, class_index in regions:
        mask = rle_to_mask(rle)
        if mask.shape != (height, width):
            raise ValueError(f"a region's mask is {mask.shape[1]}x{mask.shape[0]}, the image {width}x{height}")
        pixels[mask] = class_index
    return png_grayscale(rows)
