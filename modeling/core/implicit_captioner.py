"""The implicit captioner: a frozen CLIP image embedding mapped into the text-token space.

It lets the U-Net be conditioned on an image when no caption exists (Stage 1 on a fraction of steps,
Stage 2 and inference always). Only the MLP trains; the image tower is frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from modeling.core.clip_towers import ImageTower


class ImplicitCaptioner(nn.Module):
    """image (B, 3, H, W) in [-1, 1] -> (B, num_tokens, text_width) pseudo caption tokens.

    Args:
        image_tower: frozen CLIP image encoder giving (B, image_dim) embeddings (512 for ViT-B/16).
        text_width: the text tower's token width, the U-Net's cross_attention_dim (768 for ViT-L/14).
    """

    def __init__(self, image_tower: ImageTower, *, text_width: int, hidden_dim: int, num_tokens: int):
        super().__init__()
        self.image_tower = image_tower
        self.num_tokens = num_tokens
        self.text_width = text_width
        self.projection = nn.Sequential(
            nn.Linear(image_tower.embed_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, num_tokens * text_width),
        )
        self.norm = nn.LayerNorm(text_width)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            image_embeddings = self.image_tower(pixel_values)
        tokens = self.projection(image_embeddings.to(self.projection[0].weight.dtype))
        return self.norm(tokens.view(-1, self.num_tokens, self.text_width))
