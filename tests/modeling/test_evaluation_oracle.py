"""A perfect model aces the evaluation: the ground truth itself, fed through the evaluation path
(score_split, which `evaluate` runs after the model), scores 1.0 on every metric.

Before one instance rule held for targets, ground truth and predictions, the ground-truth boxes were
one per region (the union of its blobs) while predictions were blobs: the ground-truth masks scored
mAP@0.5 = 0.61 at 64 px and 0.76 at 256 px on these real subsets."""

import json

import pytest
import torch

from modeling.core.evaluation import score_split
from modeling.core.segmenter import Segmentation
from modeling.core.shards import resolve_shards

CONFIDENT = 20.0  # logits: sigmoid/softmax of +-20 is 1 or 0 to 9 digits


def ground_truth_oracle(num_classes: int):
    """A model that outputs each ground-truth instance as one query, its class certain; the other
    queries say "no object" with empty masks."""
    return lambda batch: _oracle(batch, num_classes)


def _oracle(batch, num_classes: int) -> Segmentation:
    size = batch["pixel_values"].shape[-1]
    queries = max(1, max(len(labels) for labels in batch["target_labels"]))
    batch_size = len(batch["key"])
    class_logits = torch.full((batch_size, queries, num_classes + 1), -CONFIDENT)
    class_logits[..., num_classes] = CONFIDENT  # "no object" unless an instance takes the query
    mask_logits = torch.full((batch_size, queries, size, size), -CONFIDENT)
    for image, (labels, masks) in enumerate(zip(batch["target_labels"], batch["target_masks"], strict=True)):
        for query, (label, mask) in enumerate(zip(labels.tolist(), masks, strict=True)):
            class_logits[image, query] = -CONFIDENT
            class_logits[image, query, label] = CONFIDENT
            mask_logits[image, query][mask] = CONFIDENT
    return Segmentation.from_logits(class_logits, mask_logits, (size, size))


@pytest.mark.slow
@pytest.mark.django_db  # the real export is the platform's own (its rows are rolled back)
@pytest.mark.parametrize("image_size", [64, 256])
def test_ground_truth_scores_one_on_every_metric_of_the_real_subsets(real_export, tmp_path, image_size):
    source = resolve_shards(str(real_export), "test")
    oracle = ground_truth_oracle(len(source.defect_classes))
    report = score_split(oracle, source=source, image_size=image_size, out_dir=tmp_path)

    assert report["images"] == source.num_samples
    assert report["classification"]["accuracy"] == pytest.approx(1.0)
    assert report["classification"]["defect_free_images"] > 0  # MVTec's and Magnetic Tile's good parts count
    assert report["detection"]["map50"] == pytest.approx(1.0)
    assert report["detection"]["map50_95"] == pytest.approx(1.0)
    assert report["segmentation"]["miou"] == pytest.approx(1.0)
    assert report["images_without_pixel_truth"] > 0  # NEU-DET's box-only samples are scored on boxes only
    assert json.loads((tmp_path / "report.json").read_text())["detection"]["instances"] > report["images"] / 2
