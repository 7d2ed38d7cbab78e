"""Stage 2: the open-vocabulary segmenter = frozen Stage 1 backbone + trainable mask generator.

Classification is open-vocabulary: a query's class logits are scaled cosine similarities between
its embedding and the CLIP text embeddings of the category names it is given, plus a learned
"no object" embedding. Any list of names works at inference; training uses the manifest's classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from modeling.core.config import ModelConfig
from modeling.core.dataset import instance_boxes
from modeling.core.latent_diffusion import LatentDiffusion
from modeling.core.mask_generator import MaskGenerator
from modeling.core.matching import LossWeights, grounding_chance, grounding_loss, resize_targets, set_loss


@dataclass
class SegmenterOutput:
    """One decoder layer's prediction. class_logits: (B, Q, C+1), last = no object;
    mask_logits: (B, Q, h, w); embeddings: (B, Q, E) L2-normalised."""

    class_logits: torch.Tensor
    mask_logits: torch.Tensor
    embeddings: torch.Tensor


@dataclass
class Segmentation:
    """Post-processed predictions for a batch at (H, W); every query is one instance (the model is
    trained to give each ground-truth instance, dataset.sample_instances, its own query).

    mask_probabilities: (B, Q, H, W) sigmoid of each query's mask.
    labels: (B, Q) best defect class per query; scores: (B, Q) class probability x mask quality.
    is_object: (B, Q) True where a defect class, not "no object", is the query's most likely outcome.
    semantic: (B, C, H, W) per-pixel class scores, sum over queries of p(class) x mask.
    class_entropy: (B, Q) entropy of each query's class distribution ("no object" included), divided
    by its maximum log(C + 1): 0 when the query is sure, 1 when every outcome is equally likely.
    """

    mask_probabilities: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor
    is_object: torch.Tensor
    semantic: torch.Tensor
    embeddings: torch.Tensor | None = None  # (B, Q, E) the queries' normalised text-space embeddings
    class_entropy: torch.Tensor | None = None

    @classmethod
    def from_logits(
        cls,
        class_logits: torch.Tensor,
        mask_logits: torch.Tensor,
        size: tuple[int, int],
        embeddings: torch.Tensor | None = None,
    ) -> Segmentation:
        """class_logits: (B, Q, C+1), the last "no object"; mask_logits: (B, Q, h, w) -> at size (H, W)."""
        masks = mask_logits.float()
        if tuple(masks.shape[-2:]) != tuple(size):
            masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False)
        masks = masks.sigmoid()
        all_probabilities = class_logits.float().softmax(-1)
        probabilities = all_probabilities[..., :-1]  # drop "no object"
        class_scores, labels = probabilities.max(dim=-1)
        on = (masks > 0.5).float()
        quality = (masks * on).flatten(2).sum(-1) / on.flatten(2).sum(-1).clamp(min=1)
        semantic = torch.einsum("bqc,bqhw->bchw", probabilities, masks)
        outcomes = all_probabilities.shape[-1]
        entropy = -(all_probabilities * all_probabilities.clamp(min=1e-12).log()).sum(-1)
        return cls(
            mask_probabilities=masks,
            labels=labels,
            scores=class_scores * quality,
            is_object=all_probabilities.argmax(-1) < probabilities.shape[-1],
            semantic=semantic,
            embeddings=embeddings,
            class_entropy=entropy / math.log(outcomes) if outcomes > 1 else torch.zeros_like(entropy),
        )

    def semantic_map(self, background_threshold: float = 0.5) -> torch.Tensor:
        """(B, H, W) manifest-style class indices: 0 = background, c + 1 = class c."""
        best, index = self.semantic.max(dim=1)
        return torch.where(best > background_threshold, index + 1, torch.zeros_like(index))

    def image_classes(self) -> torch.Tensor:
        """(B,) each image's defect class by the rule ground truth follows (dataset._image_label): the
        class with the most instance pixels, counting the queries whose most likely outcome is an
        object and whose mask is not empty; -1 (no defect) when there is none."""
        pixels = (self.mask_probabilities > 0.5).flatten(2).sum(-1).float() * self.is_object  # (B, Q)
        num_classes = self.semantic.shape[1]
        area = torch.zeros((pixels.shape[0], num_classes), device=pixels.device)
        area.scatter_add_(1, self.labels, pixels)
        best_area, best = area.max(dim=1)
        return torch.where(best_area > 0, best, torch.full_like(best, -1))

    def instances(self, image: int, *, score_threshold: float = 0.0, max_instances: int | None = None):
        """Detections of one image: (masks (N, H, W) bool, boxes (N, 4) xyxy, labels (N,), scores (N,)),
        highest score first; queries with an empty mask are dropped. Boxes end after their last
        pixel, as ground truth's (dataset.instance_boxes)."""
        masks = self.mask_probabilities[image] > 0.5
        keep = (masks.flatten(1).any(dim=1)) & (self.scores[image] > score_threshold)
        order = self.scores[image][keep].argsort(descending=True)[:max_instances]
        masks = masks[keep][order]
        return masks, instance_boxes(masks.cpu()), self.labels[image][keep][order], self.scores[image][keep][order]


class Segmenter(nn.Module):
    """backbone: a LatentDiffusion (Stage 1), frozen here; only the mask generator, the no-object
    embedding and the temperature train. ``loss`` for training, ``segment`` for inference."""

    def __init__(self, config: ModelConfig, backbone: LatentDiffusion):
        super().__init__()
        self.config = config
        self.backbone = backbone
        backbone.requires_grad_(False)
        generator_config = config.mask_generator
        # the U-Net's up blocks, coarse to fine, then the VAE latents (LatentDiffusion.pyramid_features)
        in_channels = [*reversed(config.unet.block_out_channels), config.vae.latent_channels]
        self.mask_generator = MaskGenerator(
            in_channels,
            embed_dim=backbone.text_tower.embed_dim,
            num_queries=generator_config.num_queries,
            hidden_dim=generator_config.hidden_dim,
            num_heads=generator_config.num_heads,
            num_layers=generator_config.num_layers,
            dim_feedforward=generator_config.dim_feedforward,
        )
        self.void_embedding = nn.Parameter(torch.randn(backbone.text_tower.embed_dim) * 0.02)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.weights = LossWeights(
            class_weight=generator_config.class_weight,
            mask_bce_weight=generator_config.mask_bce_weight,
            dice_weight=generator_config.dice_weight,
            no_object_weight=generator_config.no_object_weight,
        )

    def set_frozen_eval(self) -> None:
        self.backbone.eval()

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=100.0)

    def embed_names(self, names: list[str]) -> torch.Tensor:
        """(N, E) normalised text embeddings of category names, with the config's prompt template."""
        return self.backbone.text_tower.embed_prompts(names, self.config.clip.prompt_template)

    def forward(
        self,
        pixel_values: torch.Tensor,
        class_embeddings: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        shared_noise: bool = False,
    ) -> list[SegmenterOutput]:
        """pixel_values: (B, 3, H, W) in [-1, 1]; class_embeddings: (C, E) normalised; shared_noise:
        as LatentDiffusion.pyramid_features (each image's result independent of its batch).

        Returns one output per decoder layer (the last is the final prediction)."""
        features = self.backbone.pyramid_features(
            pixel_values,
            timestep=self.config.mask_generator.feature_timestep,
            generator=generator,
            shared_noise=shared_noise,
        )
        text = torch.cat([class_embeddings, F.normalize(self.void_embedding, dim=-1)[None]]).to(features[-1].dtype)
        outputs = []
        for prediction in self.mask_generator([f.detach() for f in features]):
            embeddings = F.normalize(prediction.embeddings, dim=-1)
            outputs.append(
                SegmenterOutput(
                    class_logits=self.scale() * embeddings @ text.T,
                    mask_logits=prediction.mask_logits,
                    embeddings=embeddings,
                )
            )
        return outputs

    def training_loss(
        self, batch: dict, *, step: int, class_embeddings: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """Stage 2's part of the Trainer contract (trainer.TrainableModel)."""
        if class_embeddings is None:
            raise ValueError("Stage 2 trains against the class embeddings of the manifest's classes")
        return self.loss(batch, class_embeddings)

    def loss(self, batch: dict, class_embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted set losses over every decoder layer (deep supervision) plus caption grounding.

        batch: from dataset.collate (pixel_values on the model's device).
        Returns {"loss": total, "class", "mask_bce", "dice", "grounding"} (the parts from the last layer).
        """
        outputs = self(batch["pixel_values"], class_embeddings)
        if not self.config.mask_generator.deep_supervision:
            outputs = outputs[-1:]
        size = outputs[-1].mask_logits.shape[-2:]
        device = outputs[-1].mask_logits.device
        targets = [resize_targets(m.to(device), size) for m in batch["target_masks"]]
        labels = [label.to(device) for label in batch["target_labels"]]
        total = outputs[-1].mask_logits.new_zeros((), dtype=torch.float32)
        parts: dict[str, torch.Tensor] = {}
        for output in outputs:
            parts = set_loss(output.class_logits, output.mask_logits, labels, targets, self.weights)
            total = total + (
                self.weights.class_weight * parts["class"]
                + self.weights.mask_bce_weight * parts["mask_bce"]
                + self.weights.dice_weight * parts["dice"]
            )
        total = total / len(outputs)
        parts["grounding"], chance = self.grounding(outputs[-1].embeddings, batch)
        # Logged beside the loss: what it would be if the queries could not tell the captions apart.
        parts["grounding_chance"] = torch.tensor(chance)
        total = total + self.config.mask_generator.grounding_weight * parts["grounding"]
        return {"loss": total, **{name: value.detach() for name, value in parts.items()}}

    def grounding(self, query_embeddings: torch.Tensor, batch: dict) -> tuple[torch.Tensor, float]:
        """The caption grounding loss of the batch, on its captions' terms or on every token
        (mask_generator.grounding_on), and its chance level. Images whose caption names no term
        take no part; captions naming the same terms (the same text, on tokens) are one answer."""
        if self.config.mask_generator.grounding_on == "tokens":
            text = self.backbone.text_tower(self.backbone.text_tower.tokenize(batch["caption"]))
            words, word_mask = F.normalize(text.words.float(), dim=-1), text.word_mask
            says = list(batch["caption"])
        else:
            words, word_mask = self.term_embeddings(batch["terms"], query_embeddings.device)
            says = [frozenset(phrases) for phrases in batch["terms"]]
        keep = word_mask.any(dim=1)
        kept = [said for said, kept in zip(says, keep.tolist(), strict=True) if kept]
        same_caption = torch.tensor([[a == b for b in kept] for a in kept], dtype=torch.bool).reshape(len(kept), -1)
        loss = grounding_loss(
            query_embeddings[keep].float(), words[keep], word_mask[keep], self.scale(), same_caption=same_caption
        )
        return loss, grounding_chance(same_caption)

    def term_embeddings(self, terms: list[list[str]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """B lists of term phrases -> (B, T, E) normalised embeddings, zero-padded, and (B, T) bool mask.

        Each phrase is embedded once (the text tower is frozen, so its embedding never changes)."""
        cache = self.__dict__.setdefault("_term_cache", {})
        new = sorted({phrase for phrases in terms for phrase in phrases} - cache.keys())
        if new:
            for phrase, embedding in zip(new, self.backbone.text_tower.embed_prompts(new), strict=True):
                cache[phrase] = embedding
        width = max((len(phrases) for phrases in terms), default=0)
        embed_dim = self.backbone.text_tower.embed_dim
        embeddings = torch.zeros((len(terms), max(width, 1), embed_dim), device=device)
        mask = torch.zeros((len(terms), max(width, 1)), dtype=torch.bool, device=device)
        for row, phrases in enumerate(terms):
            for column, phrase in enumerate(phrases):
                embeddings[row, column] = cache[phrase].to(device)
                mask[row, column] = True
        return embeddings, mask

    @torch.no_grad()
    def segment(
        self, pixel_values: torch.Tensor, class_embeddings: torch.Tensor, *, output_size: tuple[int, int] | None = None
    ) -> Segmentation:
        """Inference for a batch: pixel_values (B, 3, H, W); class_embeddings (C, E) for any category names."""
        output = self(pixel_values, class_embeddings, generator=torch.Generator(pixel_values.device).manual_seed(0))[-1]
        size = output_size or tuple(pixel_values.shape[-2:])
        return Segmentation.from_logits(output.class_logits, output.mask_logits, size, output.embeddings)
