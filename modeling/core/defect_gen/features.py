"""Image feature extractors for the synthesis report, and FID/KID over their features.

Two extractors:
  - Inception: the standard FID network (torch-fidelity's "inception-v3-compat", the TF 2015-12-05
    weights pytorch-fid and torchmetrics use), from a local weights file. Only its FID and KID are
    comparable with published figures. It needs the torch-fidelity package; nothing is downloaded.
  - local: the project's CLIP image tower (open_clip), by default the tiny preset's tower with fixed,
    seeded random weights. It always works, offline, and is labelled as what it is: distances and
    FID/KID in its space compare runs of this report with each other, nothing more.

FID and KID are torchmetrics' metrics fed with features that were extracted once (their feature
module is an identity over those), so the same features also serve the memorisation check.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from modeling.core.clip_towers import ImageTower

LOCAL_SEED = 0


@dataclass
class FeatureSpace:
    """An extractor and how the report names it. ``extract`` takes (B, 3, H, W) uint8 images."""

    name: str
    description: str
    comparable_with_published: bool
    module: nn.Module

    @torch.no_grad()
    def extract(self, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """(N, 3, H, W) uint8 -> (N, D) float64 features."""
        device = next(self.module.parameters()).device
        chunks = [
            self.module(images[i : i + batch_size].to(device)).double().cpu() for i in range(0, len(images), batch_size)
        ]
        return torch.cat(chunks)


class _LocalTower(nn.Module):
    """uint8 images -> CLIP image embeddings."""

    def __init__(self, tower: ImageTower):
        super().__init__()
        self.tower = tower

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tower(images.float() / 127.5 - 1.0)


def local_feature_space(model_name: str = "imdd-tiny-clip", weights: str | None = None) -> FeatureSpace:
    """The CLIP image tower ``model_name``: from ``weights`` (a local open_clip file) or, without
    them, randomly initialised with a fixed seed so that every report uses the same network."""
    with torch.random.fork_rng():
        torch.manual_seed(LOCAL_SEED)
        tower = ImageTower(model_name, weights)
    source = f"weights {Path(weights).resolve()}" if weights else f"random-init weights (seed {LOCAL_SEED})"
    return FeatureSpace(
        name=f"local:{model_name}",
        description=f"open_clip {model_name} image tower, {source}; not the Inception network: "
        "its FID/KID compare runs of this report only, not published figures",
        comparable_with_published=False,
        module=_LocalTower(tower).eval(),
    )


def inception_feature_space(path: str | None) -> tuple[FeatureSpace | None, str | None]:
    """The FID Inception network from a local weights file, or (None, the reason it is unavailable)."""
    if not path:
        return None, "no Inception weights file given (--inception PATH to the FID Inception weights)"
    if not Path(path).is_file():
        return None, f"Inception weights file not found: {path}"
    if importlib.util.find_spec("torch_fidelity") is None:
        return (
            None,
            "the torch-fidelity package is not installed (pip install torch-fidelity); it defines the FID Inception network",
        )
    from torchmetrics.image.fid import NoTrainInceptionV3

    try:
        network = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)
        )
    except (RuntimeError, KeyError, ValueError, OSError) as exc:  # a file of another network or a broken one
        return None, f"Inception weights file {path} does not fit the FID Inception network: {str(exc)[:200]}"
    return (
        FeatureSpace(
            name="inception",
            description=f"FID Inception v3 (torch-fidelity inception-v3-compat), weights {Path(path).resolve()}",
            comparable_with_published=True,
            module=network,
        ),
        None,
    )


class _Precomputed(nn.Module):
    """torchmetrics' feature extractor slot, for features that are already extracted."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid_kid(real: torch.Tensor, fake: torch.Tensor, *, kid_subsets: int = 50) -> dict[str, Any]:
    """FID and KID (mean, std over subsets) between (N, D) real and (M, D) generated features.

    KID's subset size is the smaller set's size (at most 1000, torchmetrics' default); both need at
    least two images per side. FID from fewer images than feature dimensions is biased upwards:
    compare figures only between reports with the same counts.
    """
    if len(real) < 2 or len(fake) < 2:
        reason = f"FID and KID need at least 2 images per side, got {len(real)} real and {len(fake)} generated"
        return {"available": False, "reason": reason}
    dimensions = real.shape[1]
    fid = FrechetInceptionDistance(feature=_Precomputed(dimensions)).double()
    subset_size = min(len(real), len(fake), 1000)
    with warnings.catch_warnings():  # it warns that it keeps every feature: a few thousand vectors here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Precomputed(dimensions), subsets=kid_subsets, subset_size=subset_size)
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    kid_mean, kid_std = kid.compute()
    return {
        "available": True,
        "fid": float(fid.compute()),
        "kid_mean": float(kid_mean),
        "kid_std": float(kid_std),
        "kid_subset_size": subset_size,
        "real_images": len(real),
        "generated_images": len(fake),
        "feature_dimensions": dimensions,
    }
