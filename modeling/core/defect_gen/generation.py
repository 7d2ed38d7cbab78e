"""Generate N image + mask pairs per class from a Defect-Gen checkpoint into a folder (docs/defect-gen.md):

OUT/images/00000.png   RGB, the generator's image size
OUT/masks/00000.png    8-bit class-index PNG: 0 = background, i = manifest "classes"[i]
OUT/manifest.json      written last: a folder without it is incomplete
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from modeling.core.defect_gen.config import STAGE
from modeling.core.defect_gen.sampler import sample_pairs
from modeling.core.defect_gen.training import checkpoint_classes, load_defect_gen_model
from modeling.core.errors import ConfigError

MANIFEST_SCHEMA = 1
MANIFEST_NAME = "manifest.json"


def generate(
    *,
    checkpoint: str | Path,
    out_dir: str | Path,
    per_class: int,
    seed: int = 0,
    switch_timestep: int | None = None,
    num_inference_steps: int | None = None,
    batch_size: int = 16,
    device: str | None = None,
) -> dict[str, Any]:
    """Sample ``per_class`` pairs for every class of the checkpoint's set; return the manifest.

    Sample n (0-based, classes in order) uses seed ``seed + n``: any single sample can be redone.
    """
    if per_class <= 0:
        raise ConfigError(f"--per-class must be positive, got {per_class}")
    if batch_size <= 0:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST_NAME).exists():
        raise ConfigError(f"{out_dir} already holds a {MANIFEST_NAME}; generate into a new folder")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, ckpt, config = load_defect_gen_model(checkpoint, device)
    if switch_timestep is not None:
        config.sampler.switch_timestep = switch_timestep
    if num_inference_steps is not None:
        config.sampler.num_inference_steps = num_inference_steps
    config.validate()
    classes = checkpoint_classes(ckpt)

    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[int, int]] = []  # (class label in 0..K-1, seed), in manifest order
    for label in range(len(classes) - 1):
        for _ in range(per_class):
            jobs.append((label, seed + len(jobs)))
    samples = []
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        images, masks = sample_pairs(
            model,
            torch.tensor([label for label, _ in chunk]),
            [sample_seed for _, sample_seed in chunk],
            switch_timestep=config.sampler.switch_timestep,
            num_inference_steps=config.sampler.num_inference_steps,
        )
        for (label, sample_seed), image, mask in zip(chunk, images.cpu(), masks.cpu(), strict=True):
            name = f"{len(samples):05d}.png"
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(out_dir / "images" / name)
            # a 2-D uint8 array is saved as an 8-bit single-channel ("L") PNG, as shards' mask.png
            Image.fromarray(mask.numpy().astype(np.uint8)).save(out_dir / "masks" / name)
            present = sorted(int(i) for i in torch.unique(mask) if i > 0)
            samples.append(
                {
                    "image": f"images/{name}",
                    "mask": f"masks/{name}",
                    "class": classes[label + 1].slug,
                    "classes_present": [classes[i].slug for i in present],
                    "seed": sample_seed,
                }
            )
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "kind": STAGE,
        "checkpoint": str(ckpt.path.resolve()),
        "checkpoint_step": ckpt.step,
        "config": config.to_dict(),
        "classes": [{"index": c.index, "slug": c.slug, "labels": c.labels} for c in classes],
        "samples": samples,
    }
    partial = out_dir / f"{MANIFEST_NAME}.tmp"
    partial.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    partial.replace(out_dir / MANIFEST_NAME)
    return manifest
