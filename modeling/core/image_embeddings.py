"""Image embeddings for curation (near-duplicates, diversity) from the platform's CLIP image tower.

The tower comes from a local open_clip weights file, from a trained checkpoint (whose frozen image
tower is saved inside model.safetensors), or — only when asked — from a seeded random
initialisation. `EmbedderIdentity` says which, and every stored vector carries it: vectors of a
random tower put distinct images close together, so the platform never uses them to find
near-duplicates (pHash only) and says so wherever it shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modeling.core.checkpoint import load_checkpoint, load_weights
from modeling.core.clip_towers import ImageTower
from modeling.core.errors import CheckpointError, ConfigError

RANDOM_INIT = "random-init"


@dataclass(frozen=True)
class EmbedderIdentity:
    """model_name: the open_clip model. weights: the resolved weights file, "checkpoint:<folder>",
    or "random-init". fingerprint: what changes when the weights do (file size and modification
    time, the checkpoint's step, the random seed)."""

    model_name: str
    weights: str
    fingerprint: str
    random_init: bool


def _file_fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"size={stat.st_size},mtime_ns={stat.st_mtime_ns}"


class ImageEmbedder:
    """L2-normalised CLIP image embeddings of PIL images, in batches."""

    def __init__(self, tower: ImageTower, identity: EmbedderIdentity, device: str | torch.device = "cpu"):
        self.tower = tower.to(device).eval()
        self.identity = identity
        self.device = torch.device(device)

    @property
    def dim(self) -> int:
        return self.tower.embed_dim

    @classmethod
    def from_weights(
        cls, model_name: str, weights: str | None, *, seed: int = 0, device: str | torch.device = "cpu"
    ) -> ImageEmbedder:
        """A local open_clip weights file, or None for a random tower drawn from `seed` (so that every
        worker of one job draws the same tower: unseeded, each batch would embed in its own space)."""
        if weights:
            path = Path(weights).resolve()
            tower = ImageTower(model_name, str(path))  # refuses a missing file
            identity = EmbedderIdentity(model_name, str(path), _file_fingerprint(path), random_init=False)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                tower = ImageTower(model_name, None)
            identity = EmbedderIdentity(model_name, RANDOM_INIT, f"seed={seed}", random_init=True)
        return cls(tower, identity, device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = "cpu") -> ImageEmbedder:
        """The image tower saved in a training checkpoint (a checkpoint folder or a run's folder)."""
        checkpoint = load_checkpoint(path)
        model_name = checkpoint.config.clip.image_model
        state = checkpoint.state_dict()
        marker = "image_tower.visual."
        prefixes = {name[: name.index(marker)] + "image_tower." for name in state if marker in name}
        if len(prefixes) != 1:
            raise CheckpointError(f"checkpoint {checkpoint.path} holds {len(prefixes)} CLIP image towers, expected 1")
        tower = ImageTower(model_name, None)
        load_weights(tower, state, source=f"checkpoint {checkpoint.path}", prefix=prefixes.pop())
        recorded = checkpoint.meta.get("weights", {}).get("image_tower", {}).get("weights", RANDOM_INIT)
        identity = EmbedderIdentity(
            model_name,
            f"checkpoint:{checkpoint.path.resolve()}",
            f"step={checkpoint.step}," + _file_fingerprint(checkpoint.path / "model.safetensors"),
            random_init=recorded == RANDOM_INIT,
        )
        return cls(tower, identity, device)

    def pixels(self, images: list[Image.Image]) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] at the tower's input size."""
        height, width = self.tower.image_size
        arrays = [
            np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
            for image in images
        ]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        return (batch / 127.5 - 1.0).to(self.device)

    @torch.no_grad()
    def embed(self, images: list[Image.Image]) -> np.ndarray:
        """(B, embed_dim) float32, unit length."""
        if not images:
            return np.empty((0, self.dim), dtype=np.float32)
        features = self.tower(self.pixels(images)).float()
        if not torch.isfinite(features).all():
            raise ConfigError(f"image tower {self.identity.model_name} produced non-finite embeddings")
        return F.normalize(features, dim=-1).cpu().numpy()
