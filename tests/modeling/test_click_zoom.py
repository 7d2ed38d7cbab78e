"""Zoom-in of the learned click segmenter: the box it predicts in after the first click, the paste back
into the whole image, the image encoding cached per crop, and a deterministic result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling.core.click_segmenter import ClickPredictor, ClickSegmenter, load_click_config
from modeling.core.click_zoom import crop_clicks, paste_back, zoom_box
from modeling.core.errors import ConfigError


def square(top: int, left: int, side: int, shape=(512, 512)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_the_box_frames_the_mask_with_its_margin_on_the_grid():
    box = zoom_box(square(200, 200, 40), [], (512, 512), margin=0.5, min_fraction=0.0, grid=16)
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 == 80  # 40 px widened by half its side on each side, a multiple of 16
    assert x0 % 16 == 0 and y0 % 16 == 0
    assert x0 <= 200 and x1 >= 240 and y0 <= 200 and y1 >= 240


def test_a_small_mask_gets_at_least_the_minimum_fraction_of_the_image():
    x0, y0, x1, y1 = zoom_box(square(250, 250, 4), [], (512, 512), margin=0.4, min_fraction=0.25)
    assert x1 - x0 == y1 - y0 == 128
    assert x0 <= 250 < 254 <= x1


def test_positive_clicks_widen_the_box_and_negative_ones_do_not():
    mask = square(100, 100, 20)
    alone = zoom_box(mask, [], (512, 512), margin=0.0, min_fraction=0.0)
    with_positive = zoom_box(mask, [(300, 120, True)], (512, 512), margin=0.0, min_fraction=0.0)
    with_negative = zoom_box(mask, [(300, 120, False)], (512, 512), margin=0.0, min_fraction=0.0)
    assert with_positive[2] > 300 and with_negative == alone


def test_the_box_stays_inside_the_image_and_is_the_whole_image_when_nothing_is_framed():
    x0, y0, x1, y1 = zoom_box(square(0, 490, 22), [], (512, 512), margin=1.0, min_fraction=0.0)
    assert x0 >= 0 and y0 == 0 and x1 == 512 and y1 - y0 == x1 - x0
    assert zoom_box(np.zeros((300, 400), dtype=bool), [], (300, 400), margin=0.4, min_fraction=0.2) == (0, 0, 400, 300)
    with pytest.raises(ValueError, match="mask is"):
        zoom_box(np.zeros((10, 10), dtype=bool), [], (20, 20), margin=0.4, min_fraction=0.2)


def test_clicks_move_into_the_box_and_the_crop_is_pasted_back_over_the_previous_mask():
    box = (64, 32, 192, 160)
    assert crop_clicks([(100, 50, True), (10, 10, False)], box) == [(36, 18, True)]
    outside = np.zeros((256, 256), dtype=np.float32)
    outside[0, 0] = 1.0
    full = paste_back(np.ones((64, 64), dtype=np.float32), box, outside)
    assert full.shape == (256, 256) and full[0, 0] == 1.0  # beyond the box: the previous mask
    assert full[32:160, 64:192].min() == 1.0 and full[160:, :].max() == 0.0
    assert outside[50, 100] == 0.0  # the previous mask itself is left alone


def predictor(**overrides: str) -> ClickPredictor:
    torch.manual_seed(0)
    config = load_click_config("tiny", ["image_size=128", "crop_size=128", *(f"{k}={v}" for k, v in overrides.items())])
    return ClickPredictor(ClickSegmenter(config))


def test_later_clicks_in_the_same_box_reuse_its_encoding_and_the_result_is_deterministic():
    image = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    previous = square(200, 200, 40)
    clicks = [(220, 220, True), (210, 230, False)]
    zoomed = predictor(zoom_first_click="false")
    first = zoomed.predict(image, clicks[:1], None)  # the first click sees the whole image only
    assert zoomed.encoder_runs == 1
    box = zoomed.zoom_box(image, clicks, previous)
    assert box is not None and box != (0, 0, 512, 512)
    second = zoomed.predict(image, clicks, previous)
    third = zoomed.predict(image, [*clicks, (215, 215, True)], previous)  # same mask, clicks inside: same box
    assert zoomed.encoder_runs == 2  # the whole image once, the box once
    again = predictor().predict(image, clicks, previous)
    assert np.array_equal(second, again)
    x0, y0, x1, y1 = box
    outside = np.ones_like(previous)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(second[outside], previous[outside])  # beyond the box nothing changes
    assert first.shape == third.shape == (512, 512)


def test_with_zoom_in_off_every_click_sees_the_whole_image():
    image = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    plain = predictor(zoom_in="false")
    plain.predict(image, [(220, 220, True)], None)
    plain.predict(image, [(220, 220, True), (300, 300, False)], square(200, 200, 40))
    assert plain.encoder_runs == 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("zoom_share=1.5", "zoom_share"),
        ("zoom_margin=-0.1", "zoom_margin"),
        ("zoom_min_fraction=0", "zoom_min_fraction"),
        ("source_size=128", "source_size"),
        ("minutes=-1", "minutes"),
    ],
)
def test_bad_zoom_settings_are_refused_by_name(override, message):
    with pytest.raises(ConfigError, match=message):
        load_click_config("tiny", [override])


def test_a_zoomed_first_click_predicts_again_in_the_box_around_its_first_answer():
    image = np.random.default_rng(2).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    zoomed = predictor(zoom_first_click="true")
    whole = predictor(zoom_first_click="false").predict(image, [(220, 220, True)], None)
    first = zoomed.predict(image, [(220, 220, True)], None)
    box = zoomed.zoom_box(image, [(220, 220, True)], whole)
    assert zoomed.encoder_runs == (1 if box is None else 2)
    assert np.array_equal(first, predictor(zoom_first_click="true").predict(image, [(220, 220, True)], None))
    assert first[220, 220]


def test_a_checkpoint_saved_before_the_zoom_in_predicts_on_the_whole_image(tmp_path):
    from modeling.core.checkpoint import save_checkpoint
    from modeling.core.click_segmenter import ClickSegmenter, config_to_dict, load_click_config
    from modeling.core.click_training import load_click_model

    config = load_click_config("tiny", ["image_size=64", "crop_size=64", "source_size=64"])
    old_keys = {k: v for k, v in config_to_dict(config).items() if not k.startswith("zoom") and k != "source_size"}
    for name, saved in (("old", old_keys), ("new", config_to_dict(config))):
        save_checkpoint(
            tmp_path / name, model=ClickSegmenter(config), meta={"stage": "click", "step": 1, "config": saved}
        )

    assert load_click_model(tmp_path / "old")[0].config.zoom_in is False
    assert load_click_model(tmp_path / "new")[0].config.zoom_in is True
