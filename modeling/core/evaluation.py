"""Evaluate a Stage 2 checkpoint on a split of an export: JSON report + PNG table and chart.

The vocabulary is the evaluation manifest's classes (English labels as prompts), so classes the
checkpoint never trained on are scored too: those are the held-out (open-vocabulary) classes,
reported separately. They default to the manifest classes that never were a training target of the
checkpoint (its ``trained_classes``), or can be named.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from modeling.core.checkpoint import load_checkpoint, load_weights
from modeling.core.dataset import ShardDataset, make_loader
from modeling.core.errors import ConfigError
from modeling.core.metrics import ClassificationMetric, DetectionMetric, SegmentationMetric
from modeling.core.segmenter import Segmenter
from modeling.core.shards import resolve_shards
from modeling.core.trainer import build_model, check_shards


def load_segmenter(checkpoint_path: str | Path, device: str | torch.device = "cpu") -> tuple[Segmenter, Any]:
    """A Stage 2 checkpoint as an eval-mode Segmenter on ``device``, and the Checkpoint itself."""
    checkpoint = load_checkpoint(checkpoint_path, stage=2)
    model = build_model(2, checkpoint.config)
    load_weights(model, checkpoint.state_dict(), source=f"checkpoint {checkpoint.path}")
    return model.to(device).eval(), checkpoint


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
    config = ckpt.config
    source = resolve_shards(shards, split)
    check_shards(source)
    classes = source.defect_classes
    slugs = [c.slug for c in classes]
    trained = set(ckpt.meta.get("trained_classes", []))
    if held_out is None:
        held_out = [slug for slug in slugs if slug not in trained]
    unknown = sorted(set(held_out) - set(slugs))
    if unknown:
        raise ConfigError(f"held-out classes not in the manifest's class list: {', '.join(unknown)}")
    held_out_labels = {slugs.index(slug) for slug in held_out}

    class_embeddings = model.embed_names([c.name for c in classes]).to(device)
    dataset = ShardDataset(
        source, config.data, train=False, min_component_pixels=config.mask_generator.min_component_pixels
    )
    loader = make_loader(dataset, batch_size=batch_size or config.data.batch_size, num_workers=0)
    classification, detection = ClassificationMetric(), DetectionMetric()
    segmentation = SegmentationMetric(num_classes=len(source.classes))
    images, seconds = 0, 0.0
    for batch in loader:
        pixel_values = batch["pixel_values"].to(device)
        started = time.perf_counter()
        result = model.segment(pixel_values, class_embeddings)
        seconds += time.perf_counter() - started
        images += len(pixel_values)
        classification.update(result.image_classes().cpu(), batch["image_label"])
        segmentation.update(result.semantic_map(background_threshold), batch["mask"])
        size = pixel_values.shape[-1]
        for index in range(len(pixel_values)):
            _, boxes, labels, scores = result.instances(index)
            detection.update(
                boxes.cpu(),
                labels.cpu(),
                scores.cpu(),
                batch["boxes"][index],
                batch["box_labels"][index],
                width=size,
                height=size,
            )
    if images == 0:
        raise ConfigError(f"split {split!r} of {source.manifest_url} has no samples")

    per_class_iou = segmentation.per_class()
    report = {
        "checkpoint": str(ckpt.path),
        "checkpoint_step": ckpt.step,
        "shards": source.manifest_url,
        "split": split,
        "dataset_version": source.manifest.get("dataset_version"),
        "images": images,
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
        },
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
    table_axes.set_title(f"{report['split']} split, {report['images']} images, step {report['checkpoint_step']}")
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
