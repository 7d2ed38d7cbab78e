"""Binary masks as COCO run-length encoding, so regions are readable by pycocotools as they are.

COCO's RLE runs over the mask in column-major order, starting with a run of zeros.
"""

import numpy as np


def mask_to_rle(mask: np.ndarray) -> dict:
    """Args: mask: (H, W) bool. Returns {"size": [H, W], "counts": [int, ...]} (uncompressed)."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    # Positions where the value changes, plus both ends, give the run lengths.
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    boundaries = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(boundaries).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def rle_to_mask(rle: dict) -> np.ndarray:
    """Inverse of mask_to_rle; also accepts COCO's compressed string counts."""
    height, width = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str | bytes):
        counts = decode_compressed_counts(counts)
    if sum(counts) != height * width:
        raise ValueError(f"RLE counts sum to {sum(counts)}, but size {height}x{width} needs {height * width}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((height, width), order="F")


def decode_compressed_counts(counts: str | bytes) -> list[int]:
    """COCO's compact RLE string (6 bits a character, offset 48, runs after the second are deltas)."""
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    result: list[int] = []
    position = 0
    while position < len(counts):
        value = 0
        shift = 0
        more = True
        while more:
            char = ord(counts[position]) - 48
            value |= (char & 0x1F) << (5 * shift)
            more = bool(char & 0x20)
            position += 1
            shift += 1
            if not more and (char & 0x10):
                value |= -1 << (5 * shift)
        if len(result) > 2:
            value += result[-2]
        result.append(value)
    return result


def mask_bbox(mask: np.ndarray) -> list[int] | None:
    """[x, y, width, height] of the True pixels, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]
