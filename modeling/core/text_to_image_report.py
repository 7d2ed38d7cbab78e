"""The synthesis report of a text-to-image generation folder (text_to_image.py): FID, KID, IS and
CLIP score against the real images of a split.

- FID / KID: generated vs real features, per feature space: the FID Inception network from a local
  weights file (comparable with published figures), and always the local CLIP image space
  (defect_gen/features.py, labelled as comparable only between reports of this kind);
- IS: the Inception Score of the generated images (the Inception network's unbiased logits,
  torchmetrics' definition, 10 splits or fewer for few images); needs the Inception file too;
- CLIP score: 100 x mean(max(cos(image, prompt), 0)) over the generated images (torchmetrics'
  definition), with an open_clip model's two towers from a local weights file. Without one it is
  "unavailable": with random towers the figure would measure nothing.
Without the Inception file, FID/KID (Inception) and IS say "unavailable" and why; the report goes on.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modeling.core.clip_towers import ImageTower, TextTower
from modeling.core.dataset import decode_sample, iterate_raw_samples
from modeling.core.defect_gen.features import fid_kid, inception_feature_space, local_feature_space
from modeling.core.errors import ConfigError
from modeling.core.shards import resolve_shards
from modeling.core.text_to_image import KIND
from modeling.core.trainer import check_shards


def load_generated_images(folder: str | Path) -> tuple[dict[str, Any], torch.Tensor]:
    """A text-to-image folder's manifest and its images as (N, 3, H, W) uint8, checked against the contract."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{folder} has no manifest.json (an unfinished or foreign folder)")
    manifest = json.loads(path.read_text())
    if manifest.get("kind") != KIND or not manifest.get("samples"):
        raise ConfigError(f"{path} is not a {KIND} manifest with samples")
    images = []
    for sample in manifest["samples"]:
        if not (folder / sample["image"]).is_file():
            raise ConfigError(f"{folder}: {sample['image']} is listed in manifest.json but missing")
        with Image.open(folder / sample["image"]) as image:
            images.append(torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1))
    return manifest, torch.stack(images)


def real_images(shards: str, split: str | None, size: int, limit: int | None = None) -> torch.Tensor:
    """The split's images at size x size as (N, 3, S, S) uint8 (no augmentation)."""
    source = resolve_shards(shards, split)
    check_shards(source)
    images = []
    for raw in iterate_raw_samples(source.urls):
        sample = decode_sample(raw, source.classes, image_size=size, with_masks=False)
        images.append(((sample["pixel_values"] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
        if limit is not None and len(images) >= limit:
            break
    if not images:
        raise ConfigError(f"split {split!r} of {source.manifest_url} has no images")
    return torch.stack(images)


def inception_score(images: torch.Tensor, weights: str | None) -> dict[str, Any]:
    """IS of (N, 3, H, W) uint8 images with the FID Inception network from a local file."""
    space, reason = inception_feature_space(weights)
    if space is None:
        return {"available": False, "reason": reason}
    from torchmetrics.image.fid import NoTrainInceptionV3
    from torchmetrics.image.inception import InceptionScore

    splits = max(1, min(10, len(images) // 2))
    network = NoTrainInceptionV3(
        name="inception-v3-compat", features_list=["logits_unbiased"], feature_extractor_weights_path=str(weights)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = InceptionScore(feature=network, splits=splits)
    metric.update(images)
    mean, std = metric.compute()
    return {"available": True, "is_mean": float(mean), "is_std": float(std), "splits": splits, "images": len(images)}


@torch.no_grad()
def clip_score(images: torch.Tensor, prompts: list[str], model_name: str, weights: str | None) -> dict[str, Any]:
    """torchmetrics' CLIP score, 100 x mean(max(cos, 0)), with both towers of one local open_clip model."""
    if not weights:
        return {
            "available": False,
            "reason": "no CLIP weights given (--clip-weights): random towers would measure nothing",
        }
    if not Path(weights).is_file():
        return {"available": False, "reason": f"CLIP weights file not found: {weights}"}
    image_tower, text_tower = ImageTower(model_name, weights), TextTower(model_name, weights)
    scores = []
    for start in range(0, len(images), 32):
        pixels = images[start : start + 32].float() / 127.5 - 1.0
        image_embeddings = F.normalize(image_tower(pixels).float(), dim=-1)
        text_embeddings = text_tower.embed_prompts(prompts[start : start + 32])
        scores.append((image_embeddings * text_embeddings).sum(-1).clamp(min=0) * 100)
    values = torch.cat(scores)
    return {
        "available": True,
        "clip_score": float(values.mean()),
        "model": model_name,
        "weights": str(Path(weights).resolve()),
        "images": len(values),
    }


def text_to_image_report(
    *,
    generated: str | Path,
    shards: str,
    report_dir: str | Path,
    split: str = "test",
    inception: str | None = None,
    clip_model: str = "imdd-tiny-clip",
    clip_weights: str | None = None,
    real_limit: int | None = None,
) -> dict[str, Any]:
    """Score a text-to-image folder against a split's real images; write report.json and report.png."""
    manifest, images = load_generated_images(generated)
    size = int(images.shape[-1])
    real = real_images(shards, split, size, real_limit)
    realism: dict[str, Any] = {}
    inception_space, inception_reason = inception_feature_space(inception)
    if inception_space is None:
        realism["inception"] = {"available": False, "reason": inception_reason}
    spaces = ([inception_space] if inception_space is not None else []) + [local_feature_space(clip_model, None)]
    for space in spaces:
        realism[space.name] = {"extractor": space.description, **fid_kid(space.extract(real), space.extract(images))}
    report = {
        "kind": KIND,
        "generated": str(Path(generated).resolve()),
        "checkpoint": manifest["checkpoint"],
        "checkpoint_step": manifest["checkpoint_step"],
        "sampler": manifest["sampler"],
        "random_frozen": manifest.get("random_frozen", []),
        "shards": shards,
        "split": split,
        "images": {"generated": len(images), "real": len(real), "size": size},
        "realism": realism,
        "inception_score": inception_score(images, inception),
        "clip_score": clip_score(images, [s["prompt"] for s in manifest["samples"]], clip_model, clip_weights),
    }
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    write_grid(report, images, manifest, report_dir / "report.png")
    return report


def write_grid(report: dict[str, Any], images: torch.Tensor, manifest: dict[str, Any], path: Path) -> None:
    """Up to 8 generated images with their prompts, and the headline figures in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = min(8, len(images))
    figure, axes = plt.subplots(1, shown, figsize=(2.4 * shown, 3.2), squeeze=False)
    for column in range(shown):
        axes[0, column].imshow(images[column].permute(1, 2, 0).numpy())
        axes[0, column].set_title(manifest["samples"][column]["prompt"][:40], fontsize=6)
        axes[0, column].axis("off")
    local = next((v for k, v in report["realism"].items() if k.startswith("local:")), {})
    title = f"step {report['checkpoint_step']}, {report['sampler']['name']} x{report['sampler']['steps']}, "
    title += f"guidance {report['sampler']['guidance']}; local FID {local.get('fid', float('nan')):.1f}"
    if report["random_frozen"]:
        title += f" - RANDOM frozen {', '.join(report['random_frozen'])}"
    figure.suptitle(title, fontsize=8, color="tab:red" if report["random_frozen"] else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
