"""Decoding and normalising images: the 512x512 asset, the thumbnail and the perceptual hash.

Pure Pillow + numpy, no Django, so importers and benchmarks share exactly this code.
"""

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

ASSET_JPEG_QUALITY = 92
THUMBNAIL_JPEG_QUALITY = 85


class ImageRejected(ValueError):
    """The bytes are not an image we accept; the message says why, for the import report."""


@dataclass(frozen=True)
class PreparedImage:
    width: int
    height: int
    format: str  # Pillow's name of the original format: PNG, JPEG, BMP, ...
    asset: bytes  # JPEG, asset_size x asset_size, letterboxed (whole image kept, padded black)
    thumbnail: bytes  # JPEG, at most thumbnail_size on the long side
    phash: str  # 16 hex digits
    orientation: int = 1  # the EXIF orientation tag (1 = as stored), never applied


# What a viewer that honours the EXIF orientation tag does to the stored pixels.
EXIF_ORIENTATIONS = {
    2: "mirrored left to right",
    3: "turned 180°",
    4: "mirrored top to bottom",
    5: "mirrored and turned 90° counter-clockwise",
    6: "turned 90° clockwise",
    7: "mirrored and turned 90° clockwise",
    8: "turned 90° counter-clockwise",
}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode image bytes fully, refusing truncated files, non-images and decompression bombs."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
        raise ImageRejected("not an image file (no known image format)") from None
    except Image.DecompressionBombError as error:
        # Pillow refuses a header above twice its own limit before we can read the size ourselves.
        raise ImageRejected(
            f"image is far above the limit of {max_pixels} pixels (decompression bomb: {error})"
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            f"image is {width}x{height} = {width * height} pixels, above the limit of {max_pixels} "
            "(possible decompression bomb)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(f"image data is corrupt or truncated ({error})") from None
    if width == 0 or height == 0:
        raise ImageRejected("image has zero width or height")
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB view of any mode; 16/32-bit greyscale is scaled to 8 bits instead of clipped."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        pixels = np.asarray(image, dtype=np.float32)
        low, high = float(pixels.min()), float(pixels.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        image = Image.fromarray(((pixels - low) * scale).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (0, 0, 0))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB") if image.mode != "RGB" else image


def letterbox_geometry(width: int, height: int, size: int) -> tuple[float, int, int, int, int]:
    """Where an image lands in its size x size asset: (scale, new_w, new_h, offset_x, offset_y)."""
    scale = size / max(width, height)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    return scale, new_w, new_h, (size - new_w) // 2, (size - new_h) // 2


def prepare_image(data: bytes, *, max_pixels: int, asset_size: int = 512, thumbnail_size: int = 128) -> PreparedImage:
    image = open_image(data, max_pixels=max_pixels)
    original_format = image.format or ""
    width, height = image.size
    # No EXIF rotation: datasets annotate the stored pixel grid, and masks must line up with it.
    # The tag is kept so that the import can say when a viewer would show the image otherwise.
    orientation = image.getexif().get(0x0112)
    rgb = to_rgb(image)

    _, new_w, new_h, offset_x, offset_y = letterbox_geometry(width, height, asset_size)
    resized = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if (new_w, new_h) == (asset_size, asset_size):
        asset_image = resized
    else:
        asset_image = Image.new("RGB", (asset_size, asset_size))
        asset_image.paste(resized, (offset_x, offset_y))

    # A box reduction of the already-resized image first: far cheaper than resampling it whole.
    factor = max(1, max(new_w, new_h) // thumbnail_size)
    thumbnail = resized.reduce(factor) if factor > 1 else resized.copy()
    thumbnail.thumbnail((thumbnail_size, thumbnail_size), Image.Resampling.BILINEAR)

    return PreparedImage(
        width=width,
        height=height,
        format=original_format,
        asset=encode_jpeg(asset_image, ASSET_JPEG_QUALITY),
        thumbnail=encode_jpeg(thumbnail, THUMBNAIL_JPEG_QUALITY),
        phash=perceptual_hash(resized),
        orientation=orientation if orientation in EXIF_ORIENTATIONS else 1,
    )


def orientation_warning(image: PreparedImage) -> str | None:
    """What the import says about an EXIF orientation it does not apply, or None for an upright image."""
    turned = EXIF_ORIENTATIONS.get(image.orientation)
    if turned is None:
        return None
    return (
        f"EXIF orientation {image.orientation} is not applied: viewers that honour it show the image {turned}, "
        f"while its regions and asset use the stored {image.width}x{image.height} pixels"
    )


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT_32 = _dct_matrix(32)


def perceptual_hash(image: Image.Image) -> str:
    """The classic DCT pHash: 32x32 grey, 2-D DCT, top-left 8x8 against their median (DC excluded)."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.BOX), dtype=np.float64)
    coefficients = (_DCT_32 @ grey @ _DCT_32.T)[:8, :8].flatten()
    median = np.median(coefficients[1:])
    bits = coefficients > median
    return f"{int(''.join('1' if bit else '0' for bit in bits), 2):016x}"


def hamming_distance(hash_a: str, hash_b: str) -> int:
    return (int(hash_a, 16) ^ int(hash_b, 16)).bit_count()
