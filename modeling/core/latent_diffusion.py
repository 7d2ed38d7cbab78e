"""Stage 1: text-to-image latent diffusion with the implicit captioner trained alongside.

Image -> frozen VAE -> latents; noise at a random timestep; the U-Net predicts the noise, attending
to the CLIP text tokens of the caption or, on a fraction of steps, to the implicit caption made
from the image itself. The same object serves Stage 2 as the frozen feature extractor
(``pyramid_features``): the U-Net run at a small timestep, conditioned on the implicit caption.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from modeling.core.clip_towers import ImageTower, TextTower, provenance
from modeling.core.config import ModelConfig
from modeling.core.diffusion_blocks import build_scheduler, build_unet, build_vae, vae_provenance
from modeling.core.errors import ConfigError
from modeling.core.implicit_captioner import ImplicitCaptioner
from modeling.core.sd_text_tower import SDTextTower


class LatentDiffusion(nn.Module):
    """Frozen CLIP text tower, implicit captioner (frozen image tower + trainable MLP), frozen VAE,
    trainable U-Net and the DDPM schedule. ``diffusion_loss`` trains it; ``pyramid_features`` feeds
    Stage 2; text_to_image.sample_images samples images from captions."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.weights.stable_diffusion is not None:
            self.text_tower = SDTextTower(config.weights.stable_diffusion)
        else:
            self.text_tower = TextTower(config.clip.text_model, config.clip.text_weights)
        if self.text_tower.width != config.unet.cross_attention_dim:
            raise ConfigError(
                f"unet.cross_attention_dim {config.unet.cross_attention_dim} must equal the width "
                f"{self.text_tower.width} of text tower {config.clip.text_model!r}"
            )
        image_tower = ImageTower(config.clip.image_model, config.clip.image_weights)
        self.captioner = ImplicitCaptioner(
            image_tower,
            text_width=self.text_tower.width,
            hidden_dim=config.captioner.hidden_dim,
            num_tokens=config.captioner.num_tokens,
        )
        self.vae = build_vae(config.vae, image_size=config.data.image_size)
        self.unet = build_unet(config.unet, latent_channels=config.vae.latent_channels, latent_size=config.latent_size)
        self.scheduler = build_scheduler(config.diffusion)

    def weights_in_use(self) -> dict[str, dict[str, str]]:
        """Where every component's initial weights came from; stored in every checkpoint."""
        stable_diffusion = self.config.weights.stable_diffusion
        if stable_diffusion is not None:
            folder = Path(stable_diffusion).resolve()
            text = {"model": "CLIPTextModel", "weights": str(folder / "text_encoder")}
            unet = {"model": "UNet2DConditionModel", "weights": str(folder / "unet")}
        else:
            text = provenance(self.config.clip.text_model, self.config.clip.text_weights)
            unet = {"model": "UNet2DConditionModel", "weights": "random-init"}
        return {
            "text_tower": text,
            "image_tower": provenance(self.config.clip.image_model, self.config.clip.image_weights),
            "vae": vae_provenance(self.config),
            "unet": unet,
        }

    def set_frozen_eval(self) -> None:
        self.vae.eval()
        self.text_tower.eval()
        self.captioner.image_tower.eval()

    @torch.no_grad()
    def encode_latents(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values: (B, 3, H, W) in [-1, 1] -> (B, latent_channels, H/f, W/f), scaled to ~unit variance."""
        posterior = self.vae.encode(pixel_values.to(self.vae.dtype)).latent_dist
        return posterior.mean * self.vae.config.scaling_factor

    @torch.no_grad()
    def text_conditioning(self, captions: list[str]) -> torch.Tensor:
        """captions: B strings -> (B, context_length, width) CLIP token states."""
        return self.text_tower(self.text_tower.tokenize(captions)).hidden

    def uses_implicit_caption(self, step: int) -> bool:
        """Whether Stage 1 step ``step`` conditions on the implicit caption: a draw seeded by the step
        alone, so that every DDP rank decides alike (a rank-local draw would desynchronise DDP)."""
        fraction = self.config.captioner.implicit_fraction
        return random.Random(self.config.train.seed * 1_000_003 + step).random() < fraction

    def drop_captions(self, captions: list[str], generator: torch.Generator | None = None) -> list[str]:
        """Each caption replaced by "" with probability diffusion.caption_dropout: the unconditional
        prediction classifier-free guidance subtracts at generation time is learnt on these."""
        rate = self.config.diffusion.caption_dropout
        if rate <= 0:
            return list(captions)
        dropped = torch.rand(len(captions), generator=generator) < rate
        return ["" if drop else caption for caption, drop in zip(captions, dropped.tolist(), strict=True)]

    def training_loss(
        self, batch: dict, *, step: int, class_embeddings: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Stage 1's part of the Trainer contract (trainer.TrainableModel)."""
        use_implicit = self.uses_implicit_caption(step)
        captions = batch["caption"] if use_implicit else self.drop_captions(batch["caption"])
        return {"loss": self.diffusion_loss(batch["pixel_values"], captions, use_implicit=use_implicit)}

    def diffusion_loss(
        self,
        pixel_values: torch.Tensor,
        captions: list[str],
        *,
        use_implicit: bool,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Mean squared error of the U-Net's prediction (noise, or velocity for v-prediction).

        Args:
            pixel_values: (B, 3, H, W) in [-1, 1].
            captions: B English captions (ignored when use_implicit).
            use_implicit: condition on the implicit caption of the image instead of the text.
        """
        latents = self.encode_latents(pixel_values)
        if use_implicit:
            condition = self.captioner(pixel_values)
        else:
            condition = self.text_conditioning(captions)
        noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
        timesteps = torch.randint(
            0,
            self.scheduler.config.num_train_timesteps,
            (latents.shape[0],),
            generator=generator,
            device=latents.device,
        )
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        prediction = self.unet(noisy, timesteps, encoder_hidden_states=condition).sample
        if self.scheduler.config.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        return F.mse_loss(prediction.float(), target.float())

    @torch.no_grad()
    def pyramid_features(
        self,
        pixel_values: torch.Tensor,
        *,
        timestep: int,
        generator: torch.Generator | None = None,
        shared_noise: bool = False,
    ) -> list[torch.Tensor]:
        """The U-Net decoder's block outputs, coarse to fine, for the implicit caption at a small timestep,
        followed by the clean VAE latents: they keep the plain appearance (colour, texture) that the
        denoiser's deep features abstract away (and that a randomly initialised U-Net destroys).

        Args:
            pixel_values: (B, 3, H, W) in [-1, 1].
            shared_noise: every image gets the noise that a batch of one would draw from
                ``generator``, so that an image's features do not depend on the batch it is in
                (inference in batches gives what it gives one image at a time).
        Returns:
            one (B, C_i, H_i, W_i) tensor per up block (the last at latent resolution H/f), then the
            latents (B, latent_channels, H/f, W/f).
        """
        latents = self.encode_latents(pixel_values)
        condition = self.captioner(pixel_values)
        shape = (1, *latents.shape[1:]) if shared_noise else latents.shape
        noise = torch.randn(shape, generator=generator, device=latents.device, dtype=latents.dtype).expand_as(latents)
        timesteps = torch.full((latents.shape[0],), timestep, device=latents.device, dtype=torch.long)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        features: list[torch.Tensor] = []
        hooks = [
            block.register_forward_hook(lambda _module, _args, output: features.append(output))
            for block in self.unet.up_blocks
        ]
        try:
            self.unet(noisy, timesteps, encoder_hidden_states=condition)
        finally:
            for hook in hooks:
                hook.remove()
        return [*features, latents.to(features[-1].dtype)]
