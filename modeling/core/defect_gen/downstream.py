"""The downstream check: does synthetic data help a segmenter? (the paper's Table 4)

A small segmentation network is trained twice from the same initialisation, for the same number of
steps, on the real training images alone and on the real plus the generated pairs, and both are
scored (mIoU over the defect classes, modeling.core.metrics) on the same real test images. A few
seeds are averaged because one run of a tiny model on few images is noisy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modeling.core.metrics import SegmentationMetric


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.GroupNorm(8, out_channels),
        nn.SiLU(),
    )


class TinySegmenter(nn.Module):
    """A two-level U-Net (~60k parameters): (B, 3, S, S) in [-1, 1] -> (B, num_classes, S, S) logits,
    S divisible by 4. Small enough to train on CPU in seconds; the check compares two trainings of
    it, not its absolute quality."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        self.encode1 = _conv_block(3, width)
        self.encode2 = _conv_block(width, 2 * width)
        self.bottom = _conv_block(2 * width, 2 * width)
        self.decode2 = _conv_block(4 * width, width)
        self.decode1 = _conv_block(2 * width, width)
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip1 = self.encode1(x)
        skip2 = self.encode2(F.max_pool2d(skip1, 2))
        x = self.bottom(F.max_pool2d(skip2, 2))
        x = self.decode2(torch.cat([F.interpolate(x, scale_factor=2.0), skip2], dim=1))
        x = self.decode1(torch.cat([F.interpolate(x, scale_factor=2.0), skip1], dim=1))
        return self.head(x)


@dataclass
class PairSet:
    """images: (N, 3, S, S) uint8; masks: (N, S, S) int64 class indices of the generator's set."""

    images: torch.Tensor
    masks: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)


def train_segmenter(
    train: PairSet, *, num_classes: int, steps: int, seed: int, batch_size: int = 16, lr: float = 2e-3
) -> TinySegmenter:
    """Cross-entropy training on random batches with horizontal flips; deterministic for a seed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = TinySegmenter(num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(train), (min(batch_size, len(train)),), generator=generator)
        images = train.images[index].float() / 127.5 - 1.0
        masks = train.masks[index]
        flip = torch.rand(len(index), generator=generator) < 0.5
        images[flip] = images[flip].flip(-1)
        masks[flip] = masks[flip].flip(-1)
        loss = F.cross_entropy(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def score(model: TinySegmenter, test: PairSet, num_classes: int, batch_size: int = 32) -> dict:
    """mIoU over the defect classes (index >= 1) and per-class IoU (index 0 = background)."""
    metric = SegmentationMetric(num_classes)
    for start in range(0, len(test), batch_size):
        images = test.images[start : start + batch_size].float() / 127.5 - 1.0
        metric.update(model(images).argmax(dim=1), test.masks[start : start + batch_size])
    return {**metric.compute(), "per_class_iou": metric.per_class()}


def downstream_check(
    real_train: PairSet, synthetic: PairSet, test: PairSet, *, num_classes: int, steps: int, seeds: list[int]
) -> dict:
    """mIoU on ``test`` of the segmenter trained without and with the synthetic pairs, per seed and mean.

    num_classes: mask channels including background."""
    combined = PairSet(torch.cat([real_train.images, synthetic.images]), torch.cat([real_train.masks, synthetic.masks]))
    runs = []
    for seed in seeds:
        without = score(train_segmenter(real_train, num_classes=num_classes, steps=steps, seed=seed), test, num_classes)
        with_synthetic = score(
            train_segmenter(combined, num_classes=num_classes, steps=steps, seed=seed), test, num_classes
        )
        runs.append({"seed": seed, "without_synthetic": without, "with_synthetic": with_synthetic})

    def mean_miou(arm: str) -> float | None:
        values = [run[arm]["miou"] for run in runs if run[arm]["miou"] is not None]
        return float(np.mean(values)) if values else None

    without_mean, with_mean = mean_miou("without_synthetic"), mean_miou("with_synthetic")
    return {
        "segmenter": f"TinySegmenter ({sum(p.numel() for p in TinySegmenter(num_classes).parameters())} parameters)",
        "steps": steps,
        "train_real_images": len(real_train),
        "train_synthetic_images": len(synthetic),
        "test_images": len(test),
        "miou_without_synthetic": without_mean,
        "miou_with_synthetic": with_mean,
        "miou_gain": None if without_mean is None or with_mean is None else with_mean - without_mean,
        "runs": runs,
    }
