"""The text tower of a Stable Diffusion v1.x folder: transformers' CLIPTextModel from ``text_encoder/``
with the tokenizer of ``tokenizer/`` beside it, frozen.

It is a drop-in for clip_towers.TextTower (same ``tokenize``, ``forward`` -> TextFeatures,
``embed_prompts``, ``width``, ``embed_dim``). The tokenizer must be the one the encoder was trained
with: SD v1.5's pads with the end-of-text id 49407 where open_clip's pads with 0, and the U-Net
learned to attend to those padding states, so open_clip's tokenizer would feed it states it never saw.
The encoder's weights are loaded by pretrained.load_stable_diffusion (or a checkpoint); the
constructor reads only the folder's config and tokenizer files.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from modeling.core.clip_towers import TextFeatures
from modeling.core.errors import ConfigError


class SDTextTower(nn.Module):
    """A CLIPTextModel (or CLIPTextModelWithProjection) and its tokenizer, from a SD diffusers folder.

    Without a projection (SD v1.5 ships the bare CLIPTextModel) the embedding space is the final
    hidden states' (768-d): pooled = the end-of-text token's state, words = every token's state."""

    def __init__(self, folder: str | Path):
        super().__init__()
        from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

        folder = Path(folder)
        encoder_folder, tokenizer_folder = folder / "text_encoder", folder / "tokenizer"
        for needed in (encoder_folder / "config.json", tokenizer_folder):
            if not needed.exists():
                raise ConfigError(f"weights.stable_diffusion {folder}: no {needed.relative_to(folder)}")
        try:
            config = CLIPTextConfig.from_pretrained(encoder_folder, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"weights.stable_diffusion {folder}: cannot read the text encoder: {_first_line(exc)}"
            ) from None
        architectures = config.architectures or ["CLIPTextModel"]
        model_class = CLIPTextModelWithProjection if "CLIPTextModelWithProjection" in architectures else CLIPTextModel
        self.model = model_class(config)
        self.has_projection = model_class is CLIPTextModelWithProjection
        self.context_length = config.max_position_embeddings
        self.width = config.hidden_size
        self.embed_dim = config.projection_dim if self.has_projection else config.hidden_size
        self.special_tokens = {
            token
            for token in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id)
            if token is not None
        }
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> SDTextTower:
        return super().train(False)  # frozen: no dropout, whatever the caller asks

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """(B, context_length) int64 ids, padded as the tokenizer pads (SD v1.5: with 49407), truncated."""
        ids = self.tokenizer(
            list(texts), padding="max_length", max_length=self.context_length, truncation=True, return_tensors="pt"
        ).input_ids
        return ids.to(self.model.device)

    def forward(self, tokens: torch.Tensor) -> TextFeatures:
        """tokens: (B, L) from ``tokenize``."""
        output = self.model(input_ids=tokens)
        hidden = output.last_hidden_state
        eos = self.tokenizer.eos_token_id
        first_eos = (tokens == eos).int().argmax(dim=-1)  # padding is eos too: take the first one
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        if self.has_projection:
            words = self.model.text_projection(hidden)
        else:
            words = hidden
        pooled = words[rows, first_eos]
        word_mask = torch.ones_like(tokens, dtype=torch.bool)
        for special in self.special_tokens:
            word_mask &= tokens != special
        return TextFeatures(hidden=hidden, pooled=pooled, words=words, word_mask=word_mask)

    @torch.no_grad()
    def embed_prompts(self, names: list[str], template: str = "{}") -> torch.Tensor:
        """(N, embed_dim) L2-normalised embeddings of ``template.format(name)`` for each name."""
        features = self(self.tokenize([template.format(name) for name in names]))
        return F.normalize(features.pooled.float(), dim=-1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
