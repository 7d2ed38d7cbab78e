import io

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from catalog.images import (
    ImageRejected,
    hamming_distance,
    letterbox_geometry,
    perceptual_hash,
    prepare_image,
)
from catalog.rle import mask_bbox, mask_to_rle, rle_to_mask
from vocabulary.language import detect_language


def encoded(image: Image.Image, format="PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def test_rle_round_trips_and_matches_pycocotools():
    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) > 0.7
    mask[0, 0] = True  # a mask that starts with a foreground pixel

    rle = mask_to_rle(mask)
    compressed = coco_mask.frPyObjects(rle, *rle["size"])

    assert np.array_equal(rle_to_mask(rle), mask)
    assert np.array_equal(coco_mask.decode(compressed).astype(bool), mask)
    assert np.array_equal(rle_to_mask({"size": rle["size"], "counts": compressed["counts"]}), mask)
    assert coco_mask.area(compressed) == mask.sum()


def test_rle_rejects_counts_that_do_not_fill_the_mask():
    with pytest.raises(ValueError, match="sum to 5"):
        rle_to_mask({"size": [2, 3], "counts": [2, 3]})


def test_mask_bbox_is_coco_xywh():
    mask = np.zeros((10, 20), dtype=bool)
    mask[2:5, 7:12] = True
    assert mask_bbox(mask) == [7, 2, 5, 3]
    assert mask_bbox(np.zeros((3, 3), dtype=bool)) is None


def test_letterbox_keeps_the_whole_image():
    assert letterbox_geometry(1000, 500, 512) == (0.512, 512, 256, 0, 128)
    assert letterbox_geometry(900, 900, 512)[1:] == (512, 512, 0, 0)


def test_prepared_asset_is_512_square_and_thumbnail_small():
    image = Image.new("RGB", (300, 120), (200, 10, 10))
    prepared = prepare_image(encoded(image), max_pixels=10**8)

    assert (prepared.width, prepared.height, prepared.format) == (300, 120, "PNG")
    assert Image.open(io.BytesIO(prepared.asset)).size == (512, 512)
    thumbnail_width, thumbnail_height = Image.open(io.BytesIO(prepared.thumbnail)).size
    assert thumbnail_width == 128 and abs(thumbnail_height - 51) <= 1  # aspect ratio kept


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    prepared = prepare_image(encoded(Image.fromarray(ramp)), max_pixels=10**8)
    asset = np.asarray(Image.open(io.BytesIO(prepared.asset)).convert("L"))
    assert asset.min() < 10 and asset.max() > 245


def test_images_above_the_pixel_limit_are_refused_before_decoding():
    with pytest.raises(ImageRejected, match="above the limit of 1000"):
        prepare_image(encoded(Image.new("RGB", (40, 40))), max_pixels=1000)


def test_perceptual_hash_survives_resizing_and_separates_different_images():
    rng = np.random.default_rng(1)
    base = Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).resize((512, 512))
    other = Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).resize((512, 512))

    assert hamming_distance(perceptual_hash(base), perceptual_hash(base.resize((300, 300)))) <= 4
    assert hamming_distance(perceptual_hash(base), perceptual_hash(other)) > 16


@pytest.mark.parametrize(
    "text, language",
    [
        ("A deep scratch runs across the brushed steel plate near its upper edge.", "en"),
        ("钢板表面靠近上边缘处有一条很深的划痕，可能由搬运造成。", "zh"),
        ("鋼板の上端付近に深い傷があり、搬送中の接触が原因と考えられる。", "ja"),
        ("   ", ""),
    ],
)
def test_source_text_language_is_detected(text, language):
    assert detect_language(text) == language
