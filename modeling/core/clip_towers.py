"""CLIP text and image towers from open_clip, frozen, loaded from a local file or randomly initialised.

Nothing here downloads: a weights path must be a local open_clip checkpoint, and None means random
initialisation (recorded as such in every checkpoint by ``provenance``). The tiny preset's tower
``imdd-tiny-clip`` is a model config shipped beside this file (imdd-tiny-clip.json, package data)
and registered with open_clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from torch import nn

from modeling.core.errors import ConfigError

TINY_CLIP_CONFIG = Path(__file__).with_name("imdd-tiny-clip.json")
open_clip.add_model_config(TINY_CLIP_CONFIG)


def _create_clip(model_name: str, weights: str | None) -> open_clip.CLIP:
    if open_clip.get_model_config(model_name) is None:
        raise ConfigError(f"unknown open_clip model {model_name!r}")
    if weights is not None and not Path(weights).is_file():
        raise ConfigError(f"CLIP weights not found: {weights}")
    model = open_clip.create_model(
        model_name,
        pretrained=weights,  # a local file path or None; never a hub tag
        pretrained_image=False,
        pretrained_text=False,
        device=torch.get_default_device(),  # "meta" inside `with torch.device("meta")`: nothing allocated
    )
    if not isinstance(model, open_clip.CLIP):
        raise ConfigError(f"open_clip model {model_name!r} is a {type(model).__name__}; only CLIP towers are supported")
    return model


def provenance(model_name: str, weights: str | None) -> dict[str, str]:
    """What a checkpoint records about a tower's weights."""
    return {"model": model_name, "weights": str(Path(weights).resolve()) if weights else "random-init"}


@dataclass
class TextFeatures:
    """hidden: (B, L, width) per-token states, the U-Net's cross-attention input.
    pooled: (B, embed_dim) the CLIP text embedding (end-of-text token, projected).
    words: (B, L, embed_dim) every token projected into the embedding space (for grounding).
    word_mask: (B, L) bool, True for real word tokens (not start, end or padding)."""

    hidden: torch.Tensor
    pooled: torch.Tensor
    words: torch.Tensor
    word_mask: torch.Tensor


class TextTower(nn.Module):
    """The text half of an open_clip CLIP model, frozen."""

    def __init__(self, model_name: str, weights: str | None = None):
        super().__init__()
        clip = _create_clip(model_name, weights)
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.transformer = clip.transformer
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer("attn_mask", clip.attn_mask, persistent=False)
        self.context_length = clip.context_length
        self.width = self.token_embedding.embedding_dim
        self.embed_dim = self._project(torch.zeros(1, self.width)).shape[-1]
        self.tokenizer = open_clip.get_tokenizer(model_name, context_length=self.context_length)
        self.special_tokens = (0, self.tokenizer.sot_token_id, self.tokenizer.eot_token_id)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> TextTower:
        return super().train(False)  # frozen: no dropout, whatever the caller asks

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """(B, L) int64 token ids, truncated to the context length."""
        return self.tokenizer(list(texts)).to(self.token_embedding.weight.device)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    def forward(self, tokens: torch.Tensor) -> TextFeatures:
        """tokens: (B, L) from ``tokenize``."""
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x, attn_mask=self.attn_mask)
        hidden = self.ln_final(x)
        words = self._project(hidden)
        pooled = words[torch.arange(tokens.shape[0], device=tokens.device), tokens.argmax(dim=-1)]
        word_mask = torch.ones_like(tokens, dtype=torch.bool)
        for special in self.special_tokens:
            word_mask &= tokens != special
        return TextFeatures(hidden=hidden, pooled=pooled, words=words, word_mask=word_mask)

    @torch.no_grad()
    def embed_prompts(self, names: list[str], template: str = "{}") -> torch.Tensor:
        """(N, embed_dim) L2-normalised embeddings of ``template.format(name)`` for each name."""
        features = self(self.tokenize([template.format(name) for name in names]))
        return F.normalize(features.pooled.float(), dim=-1)


class ImageTower(nn.Module):
    """The image half of an open_clip CLIP model, frozen; takes images in [-1, 1] at any size."""

    def __init__(self, model_name: str, weights: str | None = None):
        super().__init__()
        clip = _create_clip(model_name, weights)
        self.visual = clip.visual
        size = self.visual.image_size
        self.image_size = tuple(size) if isinstance(size, tuple | list) else (size, size)
        self.register_buffer("mean", torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1), persistent=False)
        self.embed_dim = self.visual.output_dim
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ImageTower:
        return super().train(False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values: (B, 3, H, W) in [-1, 1] -> (B, embed_dim) image embeddings."""
        x = (pixel_values + 1) / 2
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False, antialias=True)
        return self.visual((x - self.mean) / self.std)
