"""Stage 1 trains on images and captions only, so its pipeline does not decode mask.png."""

import pytest
import torch

from modeling.core.dataset import decode_sample, iterate_raw_samples
from modeling.core.errors import ShardError
from modeling.core.shards import resolve_shards
from tests.modeling.synthetic_shards import write_export


def test_without_masks_the_mask_is_neither_decoded_nor_checked(tmp_path):
    source = resolve_shards(str(write_export(tmp_path, splits={"train": 4})), "train")
    raw = next(raw for raw in iterate_raw_samples(source.urls) if "mask.png" in raw)
    with_masks = decode_sample(raw, source.classes, image_size=32)
    assert with_masks["mask"].any() and len(with_masks["target_masks"]) > 0

    broken = {**raw, "mask.png": b"not a png"}
    with pytest.raises(Exception):  # noqa: B017  (PIL's own error for a broken PNG)
        decode_sample(broken, source.classes, image_size=32)
    without = decode_sample(broken, source.classes, image_size=32, with_masks=False)
    assert torch.equal(without["pixel_values"], with_masks["pixel_values"])
    assert not without["mask"].any() and len(without["target_masks"]) == 0
    assert without["caption"] == with_masks["caption"]


def test_a_wrong_sized_mask_is_still_refused_when_masks_are_read(tmp_path):
    import io

    from PIL import Image

    source = resolve_shards(str(write_export(tmp_path, splits={"train": 2})), "train")
    raw = next(iterate_raw_samples(source.urls))
    small = io.BytesIO()
    Image.new("L", (3, 3)).save(small, format="PNG")
    with pytest.raises(ShardError, match="mask.png is"):
        decode_sample({**raw, "mask.png": small.getvalue()}, source.classes, image_size=32)
