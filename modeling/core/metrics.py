"""Evaluation metrics, accumulated batch by batch.

- classification: image-level accuracy of the predicted defect type, "no defect" included;
- detection: COCO mAP@0.5 and mAP@0.5:0.95 (pycocotools) of the boxes around predicted masks;
- segmentation: per-class IoU (torchmetrics) and their mean.

Labels are manifest class indices minus one (defect classes 0..C-1); masks use manifest indices
(0 = background). Each metric can be restricted to a subset of classes (the held-out ones).
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchmetrics.classification import MulticlassJaccardIndex


class ClassificationMetric:
    """Image-level accuracy over every image: a defect class, or -1 for "no defect". A defect-free
    image counts as right only when the prediction is "no defect" too, so a model that always
    predicts a defect loses them."""

    def __init__(self) -> None:
        self.labels: list[int] = []
        self.predictions: list[int] = []

    def update(self, predictions: torch.Tensor, labels: torch.Tensor) -> None:
        """predictions, labels: (B,) defect class indices, -1 = no defect."""
        self.predictions.extend(int(p) for p in predictions.tolist())
        self.labels.extend(int(t) for t in labels.tolist())

    def compute(self, classes: set[int] | None = None) -> dict[str, float | int | None]:
        """Over all images, or over the images whose true class is in ``classes`` (defect-free ones excluded)."""
        pairs = [(p, t) for p, t in zip(self.predictions, self.labels, strict=True) if classes is None or t in classes]
        correct = sum(p == t for p, t in pairs)
        return {
            "accuracy": correct / len(pairs) if pairs else None,
            "images": len(pairs),
            "defect_free_images": sum(t < 0 for _, t in pairs),
        }


class SegmentationMetric:
    """Per-class IoU over manifest indices 0..C (0 = background) with torchmetrics' Jaccard index."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.jaccard = MulticlassJaccardIndex(num_classes=num_classes, average="none", zero_division=math.nan)

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        """predicted, target: (B, H, W) int64 class-index maps."""
        self.jaccard.update(predicted.cpu(), target.cpu())

    def per_class(self) -> list[float | None]:
        """IoU per manifest index; None for a class absent from both prediction and ground truth."""
        return [None if math.isnan(v) else float(v) for v in self.jaccard.compute().tolist()]

    def compute(self, classes: set[int] | None = None) -> dict[str, float | None]:
        """mIoU over the defect classes (manifest indices >= 1), or over ``classes`` (defect labels) only."""
        per_class = self.per_class()
        wanted = range(1, self.num_classes) if classes is None else [c + 1 for c in sorted(classes)]
        values = [per_class[i] for i in wanted if per_class[i] is not None]
        return {"miou": float(np.mean(values)) if values else None, "classes_scored": len(values)}


class DetectionMetric:
    """COCO box mAP with pycocotools; boxes are xyxy in pixels."""

    def __init__(self) -> None:
        self.images: list[dict] = []
        self.ground_truth: list[dict] = []
        self.detections: list[dict] = []

    def update(
        self,
        boxes: torch.Tensor,
        labels: torch.Tensor,
        scores: torch.Tensor,
        gt_boxes: torch.Tensor,
        gt_labels: torch.Tensor,
        *,
        width: int,
        height: int,
    ) -> None:
        """One image: predicted boxes (N, 4), labels (N,), scores (N,); ground truth (M, 4), (M,)."""
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "width": width, "height": height})
        for box, label in zip(gt_boxes.tolist(), gt_labels.tolist(), strict=True):
            x0, y0, x1, y1 = box
            self.ground_truth.append(
                {
                    "id": len(self.ground_truth) + 1,
                    "image_id": image_id,
                    "category_id": int(label),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
        for box, label, score in zip(boxes.tolist(), labels.tolist(), scores.tolist(), strict=True):
            x0, y0, x1, y1 = box
            self.detections.append(
                {"image_id": image_id, "category_id": int(label), "bbox": [x0, y0, x1 - x0, y1 - y0], "score": score}
            )

    def compute(self, num_classes: int, classes: set[int] | None = None) -> dict[str, float | int | None]:
        """mAP over the classes with ground truth (all, or those in ``classes``); None without any."""
        category_ids = sorted(range(num_classes) if classes is None else classes)
        ground_truth = [g for g in self.ground_truth if g["category_id"] in category_ids]
        if not ground_truth:
            return {"map50": None, "map50_95": None, "instances": 0}
        detections = [d for d in self.detections if d["category_id"] in category_ids]
        if not detections:
            return {"map50": 0.0, "map50_95": 0.0, "instances": len(ground_truth)}
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and a summary table
            coco = COCO()
            coco.dataset = {
                "images": self.images,
                "annotations": ground_truth,
                "categories": [{"id": c} for c in category_ids],
            }
            coco.createIndex()
            evaluation = COCOeval(coco, coco.loadRes(detections), iouType="bbox")
            evaluation.params.catIds = category_ids
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        map50_95, map50 = (float(v) for v in evaluation.stats[:2])
        return {
            "map50": map50 if map50 >= 0 else None,
            "map50_95": map50_95 if map50_95 >= 0 else None,
            "instances": len(ground_truth),
        }
