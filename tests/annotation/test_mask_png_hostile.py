"""mask_png on the annotation API: the PNG header is read first, so a small file that claims a huge
size is refused without being decoded; a mask of the right size is read by its non-zero pixels
(palette by index, transparent pixels as background)."""

import base64
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from annotation.region_geometry import geometry_from_png
from catalog.rle import rle_to_mask

from .factories import box_mask
from .helpers import act, claim_next
from .test_content_validation import refused

pytestmark = pytest.mark.django_db


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(width: int, height: int, colour_type: int = 6) -> bytes:
    """A valid all-zero PNG of any size, compressed row by row (never held whole in memory)."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * channels)  # filter byte + pixels
    compressed = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", compressed) + png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def rgba_13000():
    return base64.b64encode(zero_png(13_000, 13_000)).decode()


@pytest.fixture(scope="module")
def bomb_20000():
    header = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return base64.b64encode(data + png_chunk(b"IEND", b"")).decode()


def test_a_compressed_13000px_rgba_mask_is_refused_without_being_decoded(rgba_13000):
    assert len(rgba_13000) < 1_500_000  # under a megabyte and a half on the wire, 676 MB decoded
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"mask size 13000x13000 does not match the image \(30x40"):
            geometry_from_png(rgba_13000, width=40, height=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak / 2**20:.1f} MiB"  # only the header is decoded


def test_a_20000px_header_is_a_clear_error_not_a_decompression_bomb_exception(bomb_20000):
    with pytest.raises(ValueError, match="mask size 20000x20000 does not match"):
        geometry_from_png(bomb_20000, width=40, height=30)


def test_the_api_answers_400_for_both_and_saves_nothing(annotation, people, client_for, vocab, rgba_13000, bomb_20000):
    api = client_for(user=people.annotator)
    assert claim_next(api, "annotation").status_code == 200
    for payload in (rgba_13000, bomb_20000):
        errors = refused(
            api, annotation.pk, "save", {"regions": [{"defect_type": vocab.crack.pk, "mask_png": payload}]}
        )
        assert list(errors) == ["regions[0].mask_png"]
        assert "does not match the image (30x40, height x width)" in errors["regions[0].mask_png"][0]


def encoded(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_a_right_sized_mask_is_read_by_its_non_zero_pixels_in_every_mode():
    mask = box_mask(40, 30, 3, 4, 6, 2)
    indices = mask.astype(np.uint8) * 2
    palette = Image.fromarray(indices, mode="P")
    palette.putpalette([255, 255, 255] + [0, 0, 0] * 2 + [9] * 759)  # index 0 white, index 2 black
    rgba = np.zeros((30, 40, 4), dtype=np.uint8)
    rgba[..., :3] = 200  # painted everywhere, but only the mask is opaque
    rgba[..., 3] = mask * 255
    dark_red = np.zeros((30, 40, 3), dtype=np.uint8)
    dark_red[mask] = (1, 0, 0)  # black after a luminance conversion, still a pixel of the region
    for image in (
        Image.fromarray(mask.astype(np.uint8) * 255),
        palette,
        Image.fromarray(rgba, mode="RGBA"),
        Image.fromarray(dark_red, mode="RGB"),
        Image.fromarray(mask),
    ):
        rle, bbox, area = geometry_from_png(encoded(image), width=40, height=30)
        assert np.array_equal(rle_to_mask(rle), mask), image.mode
        assert (bbox, area) == ([3, 4, 6, 2], 12)


def test_a_truncated_png_of_the_right_size_is_a_clear_error():
    data = base64.b64decode(encoded(Image.fromarray(np.full((30, 40), 255, dtype=np.uint8))))
    with pytest.raises(ValueError, match="not a readable PNG"):
        geometry_from_png(base64.b64encode(data[:60]).decode(), width=40, height=30)
    with pytest.raises(ValueError, match="not a base64-encoded PNG"):
        geometry_from_png(base64.b64encode(b"GIF89a" + data[6:]).decode(), width=40, height=30)


def test_a_saved_mask_png_round_trips(annotation, people, client_for, vocab):
    api = client_for(user=people.annotator)
    assert claim_next(api, "annotation").status_code == 200
    mask = box_mask(40, 30, 10, 10, 5, 5)
    saved = act(
        api,
        annotation.pk,
        "save",
        content={"regions": [{"defect_type": vocab.crack.pk, "mask_png": encoded(Image.fromarray(mask))}]},
    )
    assert saved.status_code == 200, saved.content
    region = saved.json()["content"]["regions"][0]
    assert np.array_equal(rle_to_mask(region["mask_rle"]), mask)
