"""DefectSegmenter inference: a batch of images gives, image by image, what one image alone gives."""

import numpy as np
import pytest
import torch

from modeling.core.config import tiny
from modeling.core.errors import ConfigError
from modeling.core.inference import DefectSegmenter
from modeling.core.trainer import build_model

NAMES = ["scratch", "dent", "crack"]


@pytest.fixture(scope="module")
def segmenter() -> DefectSegmenter:
    """A randomly initialised tiny Stage 2 model: every query proposes a mask somewhere, so with a
    score threshold of 0 each image has many detections to compare."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield DefectSegmenter(build_model(2, tiny()), torch.device("cpu"))
    torch.set_num_threads(threads)


def images() -> list[np.ndarray]:
    """Random images of different sizes, so each one's masks come back at its own size."""
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in [(48, 64), (64, 64), (30, 90), (100, 80)]]


def test_a_batch_predicts_each_image_as_it_would_be_predicted_alone(segmenter):
    batch = segmenter.predict_batch(images(), NAMES, score_threshold=0.0, max_detections=5)
    alone = [segmenter.predict(image, NAMES, score_threshold=0.0, max_detections=5) for image in images()]

    assert len(batch) == len(alone) == 4
    for image, together, single in zip(images(), batch, alone, strict=True):
        assert together.masks.shape == (5, *image.shape[:2])  # never vacuous: five detections each
        assert torch.equal(together.masks, single.masks)
        assert torch.equal(together.boxes, single.boxes)
        assert together.labels == single.labels
        # One forward over four images runs other matrix kernels than four forwards over one, so the
        # last bits of a float may differ (~1e-7); anything more would be a different result.
        torch.testing.assert_close(together.scores, single.scores, rtol=0, atol=1e-5)
        assert together.uncertainty == pytest.approx(single.uncertainty, abs=1e-5)


def test_an_image_result_does_not_depend_on_its_neighbours_in_the_batch(segmenter):
    first, *_ = segmenter.predict_batch(images(), NAMES, score_threshold=0.0)
    _, again = segmenter.predict_batch([images()[3], images()[0]], NAMES, score_threshold=0.0)

    assert torch.equal(first.masks, again.masks) and first.labels == again.labels
    torch.testing.assert_close(first.scores, again.scores, rtol=0, atol=1e-5)


def test_a_bad_image_or_no_category_is_refused(segmenter):
    with pytest.raises(ConfigError, match="uint8"):
        segmenter.predict_batch([images()[0], np.zeros((8, 8), dtype=np.uint8)], NAMES)
    with pytest.raises(ConfigError, match="category"):
        segmenter.predict_batch(images(), [" "])
    assert segmenter.predict_batch([], NAMES) == []
