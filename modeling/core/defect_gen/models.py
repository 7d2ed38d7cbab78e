"""The two Defect-Gen U-Nets and what they are trained on: the joint image + one-hot mask tensor.

x = image (3 channels, [-1, 1]) ⊕ one-hot mask (background + one channel per class of the set).
The one-hot channels are scaled from {0, 1} to {-1, 1} so that both halves of x have the same range
and the noise schedule removes their signal at the same pace. Both models predict the noise added
to all of x; a class label (the class a sample was chosen for) conditions both, through the time
embedding, so that ``generate`` can ask for N pairs of each class.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel
from torch import nn

from modeling.core.defect_gen.config import DefectGenConfig, PixelUNetConfig
from modeling.core.diffusion_blocks import build_scheduler
from modeling.core.errors import ConfigError

IMAGE_CHANNELS = 3


def build_pixel_unet(config: PixelUNetConfig, *, channels: int, image_size: int, num_classes: int) -> UNet2DModel:
    """A randomly initialised, class-conditional noise predictor for (B, channels, S, S) tensors."""
    return UNet2DModel(
        sample_size=image_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(config.block_out_channels),
        down_block_types=tuple(config.down_block_types),
        up_block_types=tuple(config.up_block_types),
        mid_block_type=config.mid_block_type,
        layers_per_block=config.layers_per_block,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups,
        dropout=config.dropout,
        num_class_embeds=num_classes,
    )


def encode_joint(pixel_values: torch.Tensor, mask: torch.Tensor, num_mask_channels: int) -> torch.Tensor:
    """pixel_values: (B, 3, S, S) in [-1, 1]; mask: (B, S, S) int64 channel indices (0 = background)
    -> x: (B, 3 + num_mask_channels, S, S) in [-1, 1]."""
    if mask.min() < 0 or mask.max() >= num_mask_channels:
        raise ConfigError(f"mask values must lie in [0, {num_mask_channels}), got [{mask.min()}, {mask.max()}]")
    one_hot = F.one_hot(mask, num_mask_channels).permute(0, 3, 1, 2).to(pixel_values.dtype)
    return torch.cat([pixel_values, one_hot * 2 - 1], dim=1)


def decode_joint(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (B, 3 + K + 1, S, S) -> images (B, 3, S, S) uint8 and masks (B, S, S) int64 by argmax over
    the mask channels (0 = background, i = the i-th class of the set)."""
    images = ((x[:, :IMAGE_CHANNELS].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    masks = x[:, IMAGE_CHANNELS:].argmax(dim=1)
    return images, masks


class DefectGen(nn.Module):
    """The large- and small-receptive-field noise predictors over the same joint tensor, trained
    jointly (one batch, one noise draw, both losses summed each step) on every timestep, so the
    switch timestep stays a sampling-time choice.

    Args:
        config: the resolved configuration.
        num_classes: K, the defect classes of the set (the mask has K + 1 channels).
    """

    def __init__(self, config: DefectGenConfig, num_classes: int):
        super().__init__()
        if num_classes < 1:
            raise ConfigError("Defect-Gen needs at least one defect class")
        self.config = config
        self.num_classes = num_classes
        self.channels = IMAGE_CHANNELS + num_classes + 1
        size = config.data.image_size
        self.large = build_pixel_unet(config.large, channels=self.channels, image_size=size, num_classes=num_classes)
        self.small = build_pixel_unet(config.small, channels=self.channels, image_size=size, num_classes=num_classes)
        self.scheduler = build_scheduler(config.diffusion)

    def weights_in_use(self) -> dict[str, dict[str, str]]:
        return {
            "large": {"model": "UNet2DModel", "weights": "random-init"},
            "small": {"model": "UNet2DModel", "weights": "random-init"},
        }

    def set_frozen_eval(self) -> None:
        """Nothing is frozen in Defect-Gen; the Trainer calls this for every model it trains."""

    def training_loss(
        self, batch: dict[str, Any], *, step: int, class_embeddings: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Defect-Gen's part of the Trainer contract (trainer.TrainableModel): no step-dependent
        choice, no class embeddings (its classes are label embeddings of its own)."""
        return self.loss(batch)

    def loss(self, batch: dict[str, Any], _class_embeddings: Any = None) -> dict[str, torch.Tensor]:
        """Noise-prediction MSE of both models on the same noisy batch.

        batch: pixel_values (B, 3, S, S) in [-1, 1]; mask (B, S, S) channel indices; class_label (B,)
        in [0, K). Returns {"loss": large + small, "loss_large", "loss_small"}.
        """
        device = self.large.conv_in.weight.device
        x = encode_joint(batch["pixel_values"].to(device), batch["mask"].to(device), self.num_classes + 1)
        labels = batch["class_label"].to(device)
        noise = torch.randn_like(x)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (x.shape[0],), device=device)
        noisy = self.scheduler.add_noise(x, noise, timesteps)
        loss_large = F.mse_loss(self.large(noisy, timesteps, class_labels=labels).sample.float(), noise.float())
        loss_small = F.mse_loss(self.small(noisy, timesteps, class_labels=labels).sample.float(), noise.float())
        return {"loss": loss_large + loss_small, "loss_large": loss_large.detach(), "loss_small": loss_small.detach()}


def receptive_field(unet: UNet2DModel, *, image_size: int, timestep: int = 50) -> int:
    """The side, in pixels, of the input region that the centre output pixel depends on: the bounding
    box of the non-zero input gradient. Measured rather than computed from the layer list, so that it
    stays true when the config changes.

    GroupNorm statistics are held constant for the measurement: they average over every pixel, so
    otherwise every output would depend (by about 1/pixels) on every input and each model would
    "see" the whole image. What is measured is the reach of the convolutions and of attention.
    """
    channels = unet.config.in_channels
    was_training = unet.training
    unet.eval()
    norms = [module for module in unet.modules() if isinstance(module, nn.GroupNorm)]
    for norm in norms:
        norm.forward = _group_norm_with_constant_statistics.__get__(norm)
    try:
        x = torch.randn(1, channels, image_size, image_size, requires_grad=True)
        labels = torch.zeros(1, dtype=torch.long) if unet.class_embedding is not None else None
        output = unet(x, torch.tensor([timestep]), class_labels=labels).sample
        centre = image_size // 2
        output[0, :, centre, centre].sum().backward()
    finally:
        for norm in norms:
            del norm.forward  # back to the class's forward
        unet.train(was_training)
    touched = x.grad[0].abs().sum(dim=0) > 0
    rows = touched.any(dim=1).nonzero()
    columns = touched.any(dim=0).nonzero()
    return int(max(rows.max() - rows.min() + 1, columns.max() - columns.min() + 1))


def _group_norm_with_constant_statistics(self: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    grouped = x.reshape(x.shape[0], self.num_groups, -1)
    mean = grouped.mean(dim=-1, keepdim=True).detach()
    variance = grouped.var(dim=-1, unbiased=False, keepdim=True).detach()
    normalised = ((grouped - mean) / torch.sqrt(variance + self.eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return normalised * self.weight.reshape(shape) + self.bias.reshape(shape)
