"""The mask generator: a Mask2Former-style transformer decoder over the U-Net's decoder features.

N learned queries attend, layer by layer, to one feature level at a time (round robin, starting
from the finest), each cross-attention masked to where the previous layer's mask for that query is on; then
self-attention and a feed-forward block. After every layer each query yields a mask (dot product of
its mask embedding with per-pixel features at the finest level) and an embedding in the CLIP text
space, which is what open-vocabulary classification and grounding compare with text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class QueryPrediction:
    """mask_logits: (B, Q, H, W) at the finest feature level; embeddings: (B, Q, embed_dim), not normalised."""

    mask_logits: torch.Tensor
    embeddings: torch.Tensor


def sine_position_embedding(height: int, width: int, dim: int, device: torch.device) -> torch.Tensor:
    """(height * width, dim) fixed 2-D sine/cosine position codes (half the channels per axis)."""
    quarter = dim // 4
    frequencies = 1.0 / (10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter))
    ys = torch.arange(height, device=device, dtype=torch.float32)[:, None] * frequencies  # (H, dim/4)
    xs = torch.arange(width, device=device, dtype=torch.float32)[:, None] * frequencies  # (W, dim/4)
    y_code = torch.cat([ys.sin(), ys.cos()], dim=-1)[:, None, :].expand(height, width, 2 * quarter)
    x_code = torch.cat([xs.sin(), xs.cos()], dim=-1)[None, :, :].expand(height, width, 2 * quarter)
    code = torch.cat([y_code, x_code], dim=-1).reshape(height * width, 4 * quarter)
    return F.pad(code, (0, dim - 4 * quarter))


class DecoderLayer(nn.Module):
    """Masked cross-attention -> self-attention -> feed-forward, each with a residual and LayerNorm."""

    def __init__(self, hidden_dim: int, num_heads: int, dim_feedforward: int):
        super().__init__()
        self.cross_attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.cross_norm = nn.LayerNorm(hidden_dim)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.self_norm = nn.LayerNorm(hidden_dim)
        self.feedforward = nn.Sequential(
            nn.Linear(hidden_dim, dim_feedforward), nn.ReLU(), nn.Linear(dim_feedforward, hidden_dim)
        )
        self.feedforward_norm = nn.LayerNorm(hidden_dim)

    def forward(
        self,
        queries: torch.Tensor,
        query_pos: torch.Tensor,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        attention_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """queries: (B, Q, D); memory: (B, HW, D); attention_mask: (B * heads, Q, HW) bool, True = blocked."""
        attended, _ = self.cross_attention(
            queries + query_pos, memory + memory_pos, memory, attn_mask=attention_mask, need_weights=False
        )
        queries = self.cross_norm(queries + attended)
        q = queries + query_pos
        attended, _ = self.self_attention(q, q, queries, need_weights=False)
        queries = self.self_norm(queries + attended)
        return self.feedforward_norm(queries + self.feedforward(queries))


class MaskGenerator(nn.Module):
    """Feature maps (coarse to fine) -> per-layer mask logits and query embeddings.

    Args:
        in_channels: channels of each input feature level, coarse to fine.
        embed_dim: the CLIP text embedding size the query embeddings are compared with.
    """

    def __init__(
        self,
        in_channels: list[int],
        *,
        embed_dim: int,
        num_queries: int,
        hidden_dim: int,
        num_heads: int,
        num_layers: int,
        dim_feedforward: int,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.input_projections = nn.ModuleList(nn.Conv2d(c, hidden_dim, kernel_size=1) for c in in_channels)
        self.level_embedding = nn.Embedding(len(in_channels), hidden_dim)
        groups = math.gcd(hidden_dim, 32)
        self.pixel_head = nn.Sequential(
            nn.Conv2d(hidden_dim, hidden_dim, kernel_size=3, padding=1),
            nn.GroupNorm(groups, hidden_dim),
            nn.ReLU(),
            nn.Conv2d(hidden_dim, hidden_dim, kernel_size=1),
        )
        self.query_features = nn.Embedding(num_queries, hidden_dim)
        self.query_positions = nn.Embedding(num_queries, hidden_dim)
        self.layers = nn.ModuleList(DecoderLayer(hidden_dim, num_heads, dim_feedforward) for _ in range(num_layers))
        self.output_norm = nn.LayerNorm(hidden_dim)
        self.mask_embedding = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
        )
        self.text_projection = nn.Linear(hidden_dim, embed_dim)

    def _pyramid(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Project every level to hidden_dim and add the coarser levels top-down (a light FPN)."""
        pyramid: list[torch.Tensor] = []
        for projection, feature in zip(self.input_projections, features, strict=True):
            level = projection(feature)
            if pyramid:
                level = level + F.interpolate(pyramid[-1], size=level.shape[-2:], mode="nearest")
            pyramid.append(level)
        return pyramid

    def _predict(self, queries: torch.Tensor, pixel_features: torch.Tensor) -> QueryPrediction:
        queries = self.output_norm(queries)
        mask_logits = torch.einsum("bqc,bchw->bqhw", self.mask_embedding(queries), pixel_features)
        return QueryPrediction(mask_logits=mask_logits, embeddings=self.text_projection(queries))

    def _attention_mask(self, mask_logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B * heads, Q, h * w) True where a query's current mask is off; a query with an empty mask sees all."""
        resized = F.interpolate(mask_logits.detach().float(), size=size, mode="bilinear", align_corners=False)
        blocked = resized.flatten(2) < 0.0  # sigmoid < 0.5
        blocked[blocked.all(dim=-1)] = False
        return blocked.repeat_interleave(self.num_heads, dim=0)

    def forward(self, features: list[torch.Tensor]) -> list[QueryPrediction]:
        """features: one (B, C_i, H_i, W_i) map per level, coarse to fine.

        Returns:
            num_layers + 1 predictions: from the initial queries, then after each layer (last = final).
        """
        pyramid = self._pyramid(features)
        pixel_features = self.pixel_head(pyramid[-1])
        batch = pixel_features.shape[0]
        memories, memory_positions, sizes = [], [], []
        for level, feature in enumerate(pyramid):
            height, width = feature.shape[-2:]
            memories.append(feature.flatten(2).transpose(1, 2) + self.level_embedding.weight[level])
            memory_positions.append(
                sine_position_embedding(height, width, feature.shape[1], feature.device).to(feature.dtype)[None]
            )
            sizes.append((height, width))
        queries = self.query_features.weight[None].expand(batch, -1, -1)
        query_pos = self.query_positions.weight[None].expand(batch, -1, -1)
        predictions = [self._predict(queries, pixel_features)]
        for index, layer in enumerate(self.layers):
            level = len(pyramid) - 1 - index % len(pyramid)  # round robin, finest level first
            attention_mask = self._attention_mask(predictions[-1].mask_logits, sizes[level])
            queries = layer(queries, query_pos, memories[level], memory_positions[level], attention_mask)
            predictions.append(self._predict(queries, pixel_features))
        return predictions
