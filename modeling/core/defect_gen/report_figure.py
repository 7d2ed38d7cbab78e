"""report.png of the synthesis report: generated pairs beside their nearest training images, the
nearest-distance histogram and the downstream mIoU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modeling.core.defect_gen.downstream import PairSet

SHOWN = 6
PALETTE = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240]],
    dtype=np.float64,
)


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image with its class-index mask tinted on top (class i in PALETTE[i])."""
    colours = PALETTE[1:][(mask - 1) % (len(PALETTE) - 1)]
    blended = np.where(mask[..., None] > 0, 0.5 * image + 0.5 * colours, image)
    return blended.astype(np.uint8)


def write_report_png(
    report: dict[str, Any], generated: PairSet, real_train: PairSet, train_keys: list[str], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = min(SHOWN, len(generated))
    pixels = report["memorization"]["pixels"]
    figure = plt.figure(figsize=(2 * SHOWN, 7.5))
    grid = figure.add_gridspec(3, SHOWN, height_ratios=[1, 1, 1.3])
    for column in range(shown):
        image = generated.images[column].permute(1, 2, 0).numpy()
        top = figure.add_subplot(grid[0, column])
        top.imshow(overlay(image, generated.masks[column].numpy()))
        top.set_title(report["memorization"]["pixels"]["per_sample"][column]["image"], fontsize=7)
        top.axis("off")
        nearest = pixels["per_sample"][column]
        train_index = train_keys.index(nearest["nearest_train_sample"])
        bottom = figure.add_subplot(grid[1, column])
        bottom.imshow(real_train.images[train_index].permute(1, 2, 0).numpy())
        bottom.set_title(f"nearest train, RMS {nearest['distance']:.3f}", fontsize=7)
        bottom.axis("off")

    histogram = figure.add_subplot(grid[2, : SHOWN // 2])
    distances = [sample["distance"] for sample in pixels["per_sample"]]
    # bins from 0, so that a tight cluster far from the threshold still shows as a bar
    upper = 1.05 * max([*distances, pixels.get("threshold") or 0.0, 1e-6])
    histogram.hist(distances, bins=np.linspace(0, upper, 30), color="tab:blue")
    if pixels.get("threshold") is not None:
        histogram.axvline(pixels["threshold"], color="tab:red", linestyle="--", label="near-copy threshold")
        histogram.legend(fontsize=8)
    histogram.set_xlabel("RMS pixel distance to the nearest training image")
    histogram.set_ylabel("generated images")

    bars = figure.add_subplot(grid[2, SHOWN // 2 :])
    downstream = report["downstream"]
    if downstream and downstream["miou_without_synthetic"] is not None:
        values = [100 * downstream["miou_without_synthetic"], 100 * (downstream["miou_with_synthetic"] or 0.0)]
        bars.bar(["real only", "real + synthetic"], values, color=["tab:gray", "tab:green"])
        bars.set_ylabel(f"test mIoU % ({len(downstream['runs'])} seeds)")
    else:
        bars.text(0.5, 0.5, "downstream check not run", ha="center", va="center")
        bars.axis("off")
    figure.suptitle(
        f"{report['images']['generated']} generated pairs, step {report['checkpoint_step']}, "
        f"switch at t={report['switch_timestep']} (top: mask tinted)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
