"""The metric code against hand computations on fixed predictions."""

import math

import pytest
import torch

from modeling.core.metrics import ClassificationMetric, DetectionMetric, SegmentationMetric


def box(*xyxy):
    return torch.tensor([xyxy], dtype=torch.float32)


def test_perfect_boxes_score_map_one():
    metric = DetectionMetric()
    gt = torch.tensor([[10.0, 10, 30, 30], [40, 40, 60, 50]])
    metric.update(gt, torch.tensor([0, 1]), torch.tensor([0.9, 0.8]), gt, torch.tensor([0, 1]), width=64, height=64)
    assert metric.compute(num_classes=2) == {
        "map50": pytest.approx(1.0),
        "map50_95": pytest.approx(1.0),
        "instances": 2,
    }


def test_a_higher_scored_false_positive_halves_the_precision_at_full_recall():
    # One ground truth; the best-scored detection misses it, the second hits it: the precision/recall
    # points are (P=0, R=0) then (P=1/2, R=1); COCO's interpolated precision is 1/2 at every recall level.
    metric = DetectionMetric()
    metric.update(
        torch.tensor([[40.0, 40, 60, 60], [10, 10, 30, 30]]),
        torch.tensor([0, 0]),
        torch.tensor([0.95, 0.9]),
        box(10, 10, 30, 30),
        torch.tensor([0]),
        width=64,
        height=64,
    )
    result = metric.compute(num_classes=1)
    assert result["map50"] == pytest.approx(0.5)
    assert result["map50_95"] == pytest.approx(0.5)


def test_a_loose_box_counts_only_at_the_low_iou_thresholds():
    # IoU of [0, 0, 20, 24] with [0, 0, 20, 20] = 400 / 480 = 0.833: a hit at thresholds 0.50 ... 0.80
    # (7 of the 10), a miss at 0.85, 0.90, 0.95. AP per threshold is 1 or 0, so mAP@0.5:0.95 = 0.7.
    metric = DetectionMetric()
    metric.update(
        box(0, 0, 20, 24),
        torch.tensor([0]),
        torch.tensor([0.9]),
        box(0, 0, 20, 20),
        torch.tensor([0]),
        width=64,
        height=64,
    )
    result = metric.compute(num_classes=1)
    assert result["map50"] == pytest.approx(1.0)
    assert result["map50_95"] == pytest.approx(0.7)


def test_detection_can_be_restricted_to_held_out_classes():
    metric = DetectionMetric()
    metric.update(
        box(0, 0, 10, 10),
        torch.tensor([1]),
        torch.tensor([0.9]),
        box(30, 30, 40, 40),
        torch.tensor([1]),
        width=64,
        height=64,
    )
    metric.update(
        box(0, 0, 10, 10),
        torch.tensor([0]),
        torch.tensor([0.9]),
        box(0, 0, 10, 10),
        torch.tensor([0]),
        width=64,
        height=64,
    )
    assert metric.compute(num_classes=2, classes={0})["map50"] == pytest.approx(1.0)
    assert metric.compute(num_classes=2, classes={1})["map50"] == pytest.approx(0.0)
    assert metric.compute(num_classes=3, classes={2}) == {"map50": None, "map50_95": None, "instances": 0}


def test_iou_per_class_and_miou_match_a_hand_computation():
    target = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0], [2, 2, 0, 0]]])
    predicted = torch.tensor([[[0, 0, 1, 1], [0, 1, 1, 1], [2, 0, 0, 0], [0, 0, 0, 0]]])
    # class 1: intersection 4, union 5 -> 0.8; class 2: intersection 1, union 4 -> 0.25
    # background: intersection 7, union 7 + 1 (predicted 1) + 3 (missed 2) = 11 -> 7/11; class 3: absent
    metric = SegmentationMetric(num_classes=4)
    metric.update(predicted, target)
    per_class = metric.per_class()
    assert per_class[:3] == pytest.approx([7 / 11, 0.8, 0.25])
    assert per_class[3] is None
    assert metric.compute() == {"miou": pytest.approx((0.8 + 0.25) / 2), "classes_scored": 2}
    assert metric.compute(classes={1})["miou"] == pytest.approx(0.25)  # defect label 1 = manifest index 2


def test_accuracy_counts_defect_free_images_which_only_a_no_defect_prediction_gets_right():
    metric = ClassificationMetric()
    # labels: defect 0, defect 2, defect 2, defect-free, defect-free; predictions: -1 = "no defect"
    metric.update(torch.tensor([0, 1, 2, 2, -1]), torch.tensor([0, 2, 2, -1, -1]))
    assert metric.compute() == {"accuracy": pytest.approx(3 / 5), "images": 5, "defect_free_images": 2}
    assert metric.compute({2}) == {"accuracy": pytest.approx(0.5), "images": 2, "defect_free_images": 0}
    always_a_defect = ClassificationMetric()
    always_a_defect.update(torch.tensor([0, 0, 0]), torch.tensor([0, -1, -1]))
    assert always_a_defect.compute()["accuracy"] == pytest.approx(1 / 3)
    assert ClassificationMetric().compute()["accuracy"] is None
    assert not math.isnan(metric.compute()["accuracy"])


def test_an_image_is_defect_free_when_every_query_says_no_object():
    from modeling.core.segmenter import Segmentation

    # image 0: query 0 is a class-1 object over 6 pixels, query 1 a class-0 object over 4; image 1: all "no object"
    class_logits = torch.tensor(
        [[[-9.0, 9.0, -9.0], [9.0, -9.0, -9.0]], [[0.0, 1.0, 5.0], [1.0, 0.0, 5.0]]]
    )  # (B=2, Q=2, C+1=3)
    mask_logits = torch.full((2, 2, 4, 4), -9.0)
    mask_logits[0, 0, :2, :3] = 9.0
    mask_logits[0, 1, 3, :] = 9.0
    mask_logits[1, :, :2, :2] = 9.0  # masks, but their queries say "no object"
    result = Segmentation.from_logits(class_logits, mask_logits, (4, 4))
    assert result.image_classes().tolist() == [1, -1]
