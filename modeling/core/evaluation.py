"""Evaluate a Stage 2 checkpoint on a split of an export: JSON report + PNG table and chart.

The vocabulary is the evaluation manifest's classes (English labels as prompts), so classes the
checkpoint never trained on are scored too: those are the held-out (open-vocabulary) classes,
reported separately. They default to the manifest classes that never were a training target of the
checkpoint (its ``trained_classes``), or can be named.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from modeling.core.checkpoint import load_checkpoint, load_weights
from modeling.core.config import DataConfig
from modeling.core.dataset import ShardDataset, make_loader
from modeling.core.errors import ConfigError
from modeling.core.metrics import ClassificationMetric, DetectionMetric, SegmentationMetric
from modeling.core.segmenter import Segmentation, Segmenter
from modeling.core.shards import ShardSource, resolve_shards
from modeling.core.trainer import build_model, check_shards


def load_segmenter(checkpoint_path: str | Path, device: str | torch.device = "cpu") -> tuple[Segmenter, Any]:
    """A Stage 2 checkpoint as an eval-mode Segmenter on ``device``, and the Checkpoint itself."""
    checkpoint = load_checkpoint(checkpoint_path, stage=2)
    model = build_model(2, checkpoint.config)
    load_weights(model, checkpoint.state_dict(), source=f"checkpoint {checkpoint.path}")
    return model.to(device).eval(), checkpoint


# Ground truth at evaluation keeps every instance that has a pixel at the evaluation resolution:
# min_component_pixels is a training choice (ignore specks as targets), not a reason to score a
# visible defect as background.
EVALUATION_MIN_PIXELS = 1


@torch.no_grad()
def evaluate(
    *,
    checkpoint: str | Path,
    shards: str | list[str],
    out_dir: str | Path,
    split: str | None = "test",
    held_out: list[str] | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    background_threshold: float = 0.5,
) -> dict[str, Any]:
    """Score every sample of the split once; write ``report.json`` and ``report.png`` into out_dir."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, ckpt = load_segmenter(checkpoint, device)
    source = resolve_shards(shards, split)
    check_shards(source)
    class_embeddings = model.embed_names([c.name for c in source.defect_classes]).to(device)

    def segment(batch: dict[str, Any]) -> Segmentation:
        return model.segment(batch["pixel_values"].to(device), class_embeddings)

    return score_split(
        segment,
        source=source,
        image_size=ckpt.config.data.image_size,
        out_dir=out_dir,
        held_out=held_out,
        trained_classes=ckpt.meta.get("trained_classes", []),
        batch_size=batch_size or ckpt.config.data.batch_size,
        background_threshold=background_threshold,
        device=device,
        header={
            "checkpoint": str(ckpt.path),
            "checkpoint_step": ckpt.step,
            "weights": ckpt.meta.get("weights", {}),
            "random_frozen": random_frozen_parts(ckpt.meta),
        },
        grounding=GroundingProbe(class_embeddings),
    )


def random_frozen_parts(meta: dict[str, Any]) -> list[str]:
    """The frozen parts a checkpoint recorded as randomly initialised (a tiny run's are)."""
    weights = meta.get("weights") or {}
    return [
        part
        for part in ("vae", "text_tower", "image_tower")
        if (weights.get(part) or {}).get("weights") == "random-init"
    ]


class GroundingProbe:
    """Held-out-class grounding: for each image, which class name its query embeddings match best
    (the highest cosine similarity of any query to the name's text embedding), against chance.

    This isolates what the grounding loss trains (queries land near the words of their defect in the
    text space) from the class head, and shows whether it carries to names never trained on."""

    def __init__(self, name_embeddings: torch.Tensor):
        self.names = F.normalize(name_embeddings.float(), dim=-1)
        self.hits: list[tuple[int, int]] = []  # (true label, rank of the true name: 0 = best)

    def update(self, query_embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """query_embeddings: (B, Q, E) normalised; labels: (B,) defect labels, -1 for none (skipped)."""
        names = self.names.to(query_embeddings.device)
        similarity = torch.einsum("bqe,ce->bqc", query_embeddings.float(), names).amax(dim=1).cpu()  # (B, C)
        for row, label in enumerate(labels.tolist()):
            if label >= 0:
                rank = int((similarity[row] > similarity[row, label]).sum())
                self.hits.append((label, rank))

    def compute(self, classes: set[int] | None) -> dict[str, Any]:
        ranks = [rank for label, rank in self.hits if classes is None or label in classes]
        count = len(self.names)
        if not ranks:
            return {"images": 0, "top1": None, "mean_reciprocal_rank": None}
        return {
            "images": len(ranks),
            "top1": sum(rank == 0 for rank in ranks) / len(ranks),
            "mean_reciprocal_rank": sum(1 / (rank + 1) for rank in ranks) / len(ranks),
            # a random ranking of the names: top-1 1/C, reciprocal rank averaged over the C places
            "random_top1": 1 / count,
            "random_mean_reciprocal_rank": sum(1 / (place + 1) for place in range(count)) / count,
            "names": count,
        }


def score_split(
    segment: Callable[[dict[str, Any]], Segmentation],
    *,
    source: ShardSource,
    image_size: int,
    out_dir: str | Path,
    held_out: list[str] | None = None,
    trained_classes: list[str] | tuple[str, ...] = (),
    batch_size: int = 8,
    background_threshold: float = 0.5,
    device: str | torch.device = "cpu",
    header: dict[str, Any] | None = None,
    grounding: GroundingProbe | None = None,
) -> dict[str, Any]:
    """Run ``segment`` (a batch -> Segmentation) over every sample of the source and score it.

    The evaluation path without the model: the ground-truth oracle test feeds its own ``segment``.
    Instances, boxes, image labels and masks are built by the same rules as the targets
    (dataset.sample_instances) and the predictions (Segmentation)."""
    classes = source.defect_classes
    slugs = [c.slug for c in classes]
    if held_out is None:
        held_out = [slug for slug in slugs if slug not in set(trained_classes)]
    unknown = sorted(set(held_out) - set(slugs))
    if unknown:
        raise ConfigError(f"held-out classes not in the manifest's class list: {', '.join(unknown)}")
    held_out_labels = {slugs.index(slug) for slug in held_out}

    dataset = ShardDataset(
        source,
        DataConfig(image_size=image_size, batch_size=batch_size),
        train=False,
        min_component_pixels=EVALUATION_MIN_PIXELS,
    )
    loader = make_loader(dataset, batch_size=batch_size, num_workers=0)
    classification, detection = ClassificationMetric(), DetectionMetric()
    segmentation = SegmentationMetric(num_classes=len(source.classes))
    cuda = torch.device(device).type == "cuda"
    images, seconds, without_pixel_truth = 0, 0.0, 0
    for batch in loader:
        if cuda:
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        result = segment(batch)
        if cuda:
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - started
        images += len(batch["key"])
        classification.update(result.image_classes().cpu(), batch["image_label"])
        truth = batch["pixel_truth"]
        without_pixel_truth += int((~truth).sum())
        if truth.any():  # box-only samples have no pixel ground truth to score masks against
            segmentation.update(result.semantic_map(background_threshold).cpu()[truth], batch["mask"][truth])
        for index in range(len(batch["key"])):
            _, boxes, labels, scores = result.instances(index)
            detection.update(
                boxes.cpu(),
                labels.cpu(),
                scores.cpu(),
                batch["boxes"][index],
                batch["box_labels"][index],
                width=image_size,
                height=image_size,
            )
        if grounding is not None and result.embeddings is not None:
            grounding.update(result.embeddings, batch["image_label"])
    if images == 0:
        raise ConfigError(f"split {source.split!r} of {source.manifest_url} has no samples")

    per_class_iou = segmentation.per_class()
    report = {
        **(header or {}),
        "shards": source.manifest_url,
        "split": source.split,
        "dataset_version": source.manifest.get("dataset_version"),
        "images": images,
        "images_without_pixel_truth": without_pixel_truth,
        "instance_rule": "connected components of each class in mask.png, and box-only regions as filled boxes, "
        f"at {image_size} px; one query = one predicted instance",
        "classes": [{"slug": c.slug, "name": c.name, "held_out": c.slug in held_out} for c in classes],
        "held_out_classes": held_out,
        "classification": classification.compute(),
        "detection": detection.compute(len(classes)),
        "segmentation": {
            **segmentation.compute(),
            "per_class_iou": {c.slug: per_class_iou[c.index] for c in source.classes},
        },
        "open_vocabulary": {
            "classes": held_out,
            "classification": classification.compute(held_out_labels),
            "detection": detection.compute(len(classes), held_out_labels) if held_out_labels else None,
            "segmentation": segmentation.compute(held_out_labels) if held_out_labels else None,
            "grounding": grounding.compute(held_out_labels) if grounding is not None and held_out_labels else None,
        },
        "grounding": grounding.compute(None) if grounding is not None else None,
        "seconds_per_image": seconds / images,
        "device": str(device),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    write_report_png(report, out_dir / "report.png")
    return report


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def write_report_png(report: dict[str, Any], path: Path) -> None:
    """A table of the headline metrics (all classes / held-out) beside a per-class IoU bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    open_vocab = report["open_vocabulary"]
    rows = [
        ["accuracy %", _fmt(report["classification"]["accuracy"]), _fmt(open_vocab["classification"]["accuracy"])],
        ["mAP@0.5 %", _fmt(report["detection"]["map50"]), _fmt((open_vocab["detection"] or {}).get("map50"))],
        [
            "mAP@0.5:0.95 %",
            _fmt(report["detection"]["map50_95"]),
            _fmt((open_vocab["detection"] or {}).get("map50_95")),
        ],
        ["mIoU %", _fmt(report["segmentation"]["miou"]), _fmt((open_vocab["segmentation"] or {}).get("miou"))],
    ]
    figure, (table_axes, chart_axes) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    table_axes.axis("off")
    table = table_axes.table(cellText=rows, colLabels=["metric", "all classes", "held-out"], loc="center")
    table.scale(1, 1.6)
    title = f"{report['split']} split, {report['images']} images, step {report.get('checkpoint_step')}"
    if report.get("random_frozen"):
        title += f"\nRANDOM frozen {', '.join(report['random_frozen'])}: not a pretrained model"
    table_axes.set_title(title, color="tab:red" if report.get("random_frozen") else "black")
    held_out = set(report["held_out_classes"])
    per_class = [(slug, iou) for slug, iou in report["segmentation"]["per_class_iou"].items() if slug != "background"]
    names = [slug for slug, _ in per_class]
    values = [100 * (iou or 0.0) for _, iou in per_class]
    colours = ["tab:orange" if slug in held_out else "tab:blue" for slug in names]
    chart_axes.barh(names, values, color=colours)
    chart_axes.set_xlim(0, 100)
    chart_axes.set_xlabel("IoU % (orange = held-out class)")
    chart_axes.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
