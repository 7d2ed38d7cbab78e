"""The synthesis report: how real, how varied and how useful are a generation folder's pairs?

- realism and diversity: FID and KID against the real images of a split (Inception when its weights
  file is given, else "unavailable" with the reason; always also in the local feature space);
- memorisation: for each generated image the distance to the nearest training image of the
  generator, in feature space and in pixel space, against the training images' own nearest-neighbour
  distances;
- masks: whether each pair's mask holds the class it was generated for, and defect pixel shares;
- downstream: mIoU of a small segmenter trained without and with the pairs (downstream.py).

The real images are the shards' samples chosen as the generator chose its own (product or domain,
class set); the training reference is the checkpoint's recorded training samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modeling.core.dataset import decode_sample, iterate_raw_samples
from modeling.core.defect_gen.config import STAGE, SelectionConfig, defect_gen_config_from_dict
from modeling.core.defect_gen.data import select_samples
from modeling.core.defect_gen.downstream import PairSet, downstream_check
from modeling.core.defect_gen.features import FeatureSpace, fid_kid, inception_feature_space, local_feature_space
from modeling.core.errors import CheckpointError, ConfigError, ShardError
from modeling.core.shards import ShardSource, resolve_shards
from modeling.core.trainer import check_shards

PIXEL_SPACE_SIZE = 32  # images are compared for memorisation at this size (RMS over RGB in [0, 1])


def load_generated(folder: str | Path) -> tuple[dict[str, Any], PairSet]:
    """A generation folder's manifest and its pairs, checked against the contract."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{folder} has no manifest.json (an unfinished or foreign folder)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("schema") != 1 or manifest.get("kind") != STAGE:
        raise ConfigError(f"{path} is not a defect-gen manifest of schema 1")
    if not manifest.get("samples"):
        raise ConfigError(f"{path} lists no samples")
    num_classes = len(manifest["classes"])
    images, masks = [], []
    for sample in manifest["samples"]:
        for member in ("image", "mask"):
            if not (folder / sample[member]).is_file():
                raise ConfigError(f"{folder}: {sample[member]} is listed in manifest.json but missing")
        with Image.open(folder / sample["image"]) as image, Image.open(folder / sample["mask"]) as mask:
            if mask.mode != "L" or mask.size != image.size:
                raise ConfigError(f"{sample['mask']}: must be an 8-bit class-index PNG of the image's size")
            images.append(torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1))
            masks.append(torch.from_numpy(np.array(mask, dtype=np.int64)))
        if masks[-1].max() >= num_classes:
            raise ConfigError(f"{sample['mask']}: value {int(masks[-1].max())} but {num_classes} classes are listed")
    return manifest, PairSet(torch.stack(images), torch.stack(masks))


def load_real_pairs(
    source: ShardSource, keys: list[str], slugs: list[str], image_size: int
) -> tuple[PairSet, list[str]]:
    """The samples ``keys`` of ``source`` at image_size, masks in the generated set's indices
    (``slugs``, index 0 background; other manifest classes become background). Returns pairs, keys."""
    index_of = {slug: i for i, slug in enumerate(slugs)}
    lookup = torch.tensor([index_of.get(c.slug, 0) for c in source.classes], dtype=torch.int64)
    wanted = set(keys)
    images, masks, found = [], [], []
    for raw in iterate_raw_samples(source.urls):
        if raw["__key__"] not in wanted:
            continue
        sample = decode_sample(raw, source.classes, image_size=image_size)
        images.append(((sample["pixel_values"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
        masks.append(lookup[sample["mask"]])
        found.append(raw["__key__"])
    if not found:
        raise ShardError(f"none of the {len(wanted)} wanted samples is in {source.manifest_url}")
    return PairSet(torch.stack(images), torch.stack(masks)), found


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3 * 32 * 32) in [0, 1], area-downsampled, scaled so that the
    Euclidean distance is the RMS difference per value."""
    small = F.interpolate(images.double() / 255.0, size=(PIXEL_SPACE_SIZE, PIXEL_SPACE_SIZE), mode="area")
    flat = small.flatten(1)
    return flat / flat.shape[1] ** 0.5


def _summary(values: torch.Tensor) -> dict[str, float]:
    array = values.numpy()
    return {
        "min": float(array.min()),
        "p05": float(np.percentile(array, 5)),
        "median": float(np.median(array)),
        "mean": float(array.mean()),
        "max": float(array.max()),
    }


def memorization(
    generated: torch.Tensor,
    train: torch.Tensor,
    *,
    metric: str,
    factor: float,
    generated_names: list[str],
    train_keys: list[str],
) -> dict[str, Any]:
    """Nearest-training-image distances of generated features, and the share of near-copies.

    A generated image counts as a near-copy when it is closer to a training image than ``factor``
    times the median distance between a training image and its nearest other training image: closer
    to one training image than the training images are to each other.

    metric: "cosine" (1 - cosine similarity) or "euclidean".
    """
    if metric == "cosine":
        distances = 1 - F.normalize(generated, dim=1) @ F.normalize(train, dim=1).T
        train_distances = 1 - F.normalize(train, dim=1) @ F.normalize(train, dim=1).T
    else:
        distances = torch.cdist(generated, train)
        train_distances = torch.cdist(train, train)
    nearest, index = distances.clamp(min=0).min(dim=1)
    result: dict[str, Any] = {
        "distance": metric,
        "nearest_train_distance": _summary(nearest),
        "per_sample": [
            {"image": name, "nearest_train_sample": train_keys[int(i)], "distance": float(d)}
            for name, i, d in zip(generated_names, index, nearest, strict=True)
        ],
    }
    if len(train) < 2:
        result.update(threshold=None, share_below_threshold=None, reason="needs at least 2 training images")
        return result
    train_distances.fill_diagonal_(float("inf"))
    train_nearest = train_distances.clamp(min=0).min(dim=1).values
    threshold = factor * float(train_nearest.median())
    result.update(
        train_to_train_nearest=_summary(train_nearest),
        threshold=threshold,
        threshold_rule=f"{factor} x median nearest-neighbour distance among training images",
        share_below_threshold=float((nearest < threshold).double().mean()),
    )
    return result


def mask_statistics(manifest: dict[str, Any], generated: PairSet, real_train: PairSet) -> dict[str, Any]:
    """Whether masks hold the class they were generated for, and defect pixel shares."""
    hits = [sample["class"] in sample["classes_present"] for sample in manifest["samples"]]
    return {
        "class_present_rate": float(np.mean(hits)),
        "empty_mask_rate": float(np.mean([not sample["classes_present"] for sample in manifest["samples"]])),
        "defect_pixel_share_generated": float((generated.masks > 0).double().mean()),
        "defect_pixel_share_real_train": float((real_train.masks > 0).double().mean()),
    }


def _training_reference(manifest: dict[str, Any], train_source: ShardSource, selection: SelectionConfig):
    """The generator's training samples as its checkpoint recorded them, or, where the checkpoint
    cannot be read, the split's samples of the same selection (said so in the report)."""
    checkpoint_meta = Path(manifest["checkpoint"]) / "checkpoint.json"
    if checkpoint_meta.is_file():
        meta = json.loads(checkpoint_meta.read_text())
        if meta.get("stage") != STAGE:
            raise CheckpointError(f"{checkpoint_meta} is not a defect-gen checkpoint")
        return list(meta["training_samples"]), f"the generator's {len(meta['training_samples'])} training samples"
    chosen = select_samples(train_source, selection, few_shot_per_class=None, require_every_class=False)
    note = f"checkpoint {manifest['checkpoint']} not found: every {train_source.split} sample of the same selection"
    return chosen.keys, note


def synthesis_report(
    *,
    generated: str | Path,
    shards: str | list[str],
    report_dir: str | Path,
    split: str = "test",
    train_split: str = "train",
    inception: str | None = None,
    clip_model: str = "imdd-tiny-clip",
    clip_weights: str | None = None,
    memorization_factor: float = 0.5,
    downstream_steps: int = 300,
    downstream_seeds: int = 3,
) -> dict[str, Any]:
    """Score a generation folder against the shards; write report.json and report.png into report_dir."""
    if not 0 < memorization_factor <= 1:
        raise ConfigError(f"--memorization-factor must lie in (0, 1], got {memorization_factor}")
    if downstream_steps < 0 or downstream_seeds < 1:
        raise ConfigError("--downstream-steps must be >= 0 (0 skips the check) and --downstream-seeds >= 1")
    manifest, synthetic = load_generated(generated)
    config = defect_gen_config_from_dict(manifest["config"])
    slugs = [c["slug"] for c in manifest["classes"]]
    selection = SelectionConfig(
        classes=tuple(slugs[1:]), product=config.selection.product, domain=config.selection.domain
    )
    image_size = int(synthetic.images.shape[-1])

    test_source = resolve_shards(shards, split)
    train_source = resolve_shards(shards, train_split)
    for source in (test_source, train_source):
        check_shards(source)
    test_keys = select_samples(test_source, selection, few_shot_per_class=None, require_every_class=False).keys
    test, _ = load_real_pairs(test_source, test_keys, slugs, image_size)
    train_keys, training_reference = _training_reference(manifest, train_source, selection)
    real_train, train_keys = load_real_pairs(train_source, train_keys, slugs, image_size)

    spaces: list[FeatureSpace] = [local_feature_space(clip_model, clip_weights)]
    inception_space, inception_reason = inception_feature_space(inception)
    if inception_space is not None:
        spaces.insert(0, inception_space)
    names = [sample["image"] for sample in manifest["samples"]]
    realism: dict[str, Any] = {} if inception_space else {"inception": {"available": False, "reason": inception_reason}}
    memorised: dict[str, Any] = {}
    for space in spaces:
        generated_features = space.extract(synthetic.images)
        realism[space.name] = {
            "extractor": space.description,
            **fid_kid(space.extract(test.images), generated_features),
        }
        memorised[space.name] = {
            "extractor": space.description,
            **memorization(
                generated_features,
                space.extract(real_train.images),
                metric="cosine",
                factor=memorization_factor,
                generated_names=names,
                train_keys=train_keys,
            ),
        }
    memorised["pixels"] = {
        "extractor": f"RGB at {PIXEL_SPACE_SIZE} x {PIXEL_SPACE_SIZE}, RMS difference in [0, 1]",
        **memorization(
            pixel_features(synthetic.images),
            pixel_features(real_train.images),
            metric="euclidean",
            factor=memorization_factor,
            generated_names=names,
            train_keys=train_keys,
        ),
    }
    downstream = None
    if downstream_steps > 0:
        downstream = downstream_check(
            real_train,
            synthetic,
            test,
            num_classes=len(slugs),
            steps=downstream_steps,
            seeds=list(range(downstream_seeds)),
        )
    report = {
        "generated": str(Path(generated).resolve()),
        "checkpoint": manifest["checkpoint"],
        "checkpoint_step": manifest["checkpoint_step"],
        "switch_timestep": config.sampler.switch_timestep,
        "shards": test_source.manifest_url,
        "split": split,
        "classes": slugs,
        "selection": {"product": selection.product, "domain": selection.domain},
        "images": {
            "generated": len(synthetic),
            "real_test": len(test),
            "real_train": len(real_train),
            "size": image_size,
        },
        "training_reference": training_reference,
        "realism": realism,
        "memorization": memorised,
        "masks": mask_statistics(manifest, synthetic, real_train),
        "downstream": downstream,
    }
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    from modeling.core.defect_gen.report_figure import write_report_png

    write_report_png(report, synthetic, real_train, train_keys, report_dir / "report.png")
    return report
