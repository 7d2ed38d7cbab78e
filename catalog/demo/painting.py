"""Small numpy and Pillow helpers the demo painters share (conventions: catalog/demo/__init__.py)."""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageFont

# --------------------------------------------------------------------------
# Small numpy / Pillow helpers
# --------------------------------------------------------------------------


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """One uniform random number as a Python float (see module docstring)."""
    return float(rng.uniform(low, high))


def colour(rgb) -> np.ndarray:
    """An RGB triple as a float32 (3, 1, 1) array, ready to broadcast over (3, H, W)."""
    return np.asarray(rgb, dtype=np.float32).reshape(3, 1, 1)


def resize_field(field: np.ndarray, h: int, w: int, resample: int) -> np.ndarray:
    """Resize a float (h0, w0) array to (h, w) using Pillow's 32-bit float mode."""
    img = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32))
    return np.asarray(img.resize((w, h), resample=resample), dtype=np.float32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float, stretch: float = 1.0) -> np.ndarray:
    """Smooth random field of shape (h, w), roughly zero mean and unit spread.

    ``cell`` is the feature size in pixels (along x it is ``cell * stretch``):
    a coarse grid of random values is upsampled bicubically, which is far
    cheaper than blurring white noise.
    """
    gh = max(2, int(math.ceil(h / cell)) + 1)
    gw = max(2, int(math.ceil(w / (cell * stretch))) + 1)
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    return resize_field(coarse, h, w, Image.Resampling.BICUBIC)


def streaks(rng: np.random.Generator, h: int, w: int, length: float, rows: int = 1) -> np.ndarray:
    """Anisotropic noise of shape (h, w): smooth along x, rough across y.

    Each band of ``rows`` rows gets its own 1-D random profile stretched to
    ``length`` pixels along x, giving the fine parallel streaks of brushed
    metal or wood fibre.
    """
    gw = max(2, int(round(w / max(length, 1.0))) + 1)
    gh = max(2, int(math.ceil(h / rows)))
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    return resize_field(coarse, h, w, Image.Resampling.BILINEAR)


def grid(h: int, w: int, y0: int = 0, x0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates as broadcastable float32 arrays: y (h, 1) and x (1, w)."""
    y = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
    x = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
    return y, x


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of a (3, ...) array; the result has shape (...)."""
    return rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114


def blend(rgb: np.ndarray, alpha: np.ndarray, target) -> None:
    """In place: rgb += alpha * (target - rgb), touching only pixels with alpha > 0.

    rgb: (3, H, W); alpha: (H, W) in 0..1; target: an RGB triple or a (3, H, W)
    array.  Working on the selected pixels only keeps small defects cheap.
    """
    where = alpha > 0
    a = alpha[where]
    target = np.asarray(target, dtype=np.float32)
    target = target[:, where] if target.ndim == 3 else target.reshape(3, 1)
    selected = rgb[:, where]
    rgb[:, where] = selected + a * (target - selected)


def window(cx: float, cy: float, half: float, h: int, w: int) -> tuple[int, int, int, int]:
    """Bounds (y0, y1, x0, x1) of a square of half-size ``half`` around (cx, cy), clipped to the image."""
    y0 = max(0, int(math.floor(cy - half)))
    y1 = min(h, int(math.ceil(cy + half)) + 1)
    x0 = max(0, int(math.floor(cx - half)))
    x1 = min(w, int(math.ceil(cx + half)) + 1)
    return y0, y1, x0, x1


def soft_lighting(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """Multiplicative illumination field (h, w) around 1.0: a linear ramp plus a soft spot.

    Real photos are never evenly lit; this keeps flat surfaces from looking synthetic.
    """
    y, x = grid(h, w)
    yn = y / (h - 1) * 2 - 1
    xn = x / (w - 1) * 2 - 1
    angle = uniform(rng, 0, 2 * math.pi)
    cx = uniform(rng, -0.6, 0.6)
    cy = uniform(rng, -0.6, 0.6)
    # Both terms are separable: compute them on the (h, 1) and (1, w) axes and
    # let broadcasting build the field, instead of exponentiating h * w values.
    ramp_y = 0.5 * math.sin(angle) * yn
    ramp_x = 0.5 * math.cos(angle) * xn
    spot = np.exp(-((yn - cy) ** 2) / 0.8) * np.exp(-((xn - cx) ** 2) / 0.8)
    return 1.0 + strength * (ramp_y + ramp_x + spot - 0.5)


def soften(field: np.ndarray) -> np.ndarray:
    """Blur (..., H, W) with a 3x3 [1 2 1] x [1 2 1] / 16 kernel; edges are repeated.

    Cheaper than Pillow's Gaussian blur for the one-pixel softening needed here.
    """
    pad = [(0, 0)] * (field.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(field, pad, mode="edge")
    p = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]
    return (p[..., :-2] + 2 * p[..., 1:-1] + p[..., 2:]) / 16


@functools.lru_cache(maxsize=8)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font; cached because loading it costs a few ms."""
    return ImageFont.load_default(size=size)
