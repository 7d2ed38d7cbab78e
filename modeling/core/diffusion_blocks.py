"""The diffusers building blocks, built from our config: U-Net, VAE and the DDPM noise schedule."""

from __future__ import annotations

from pathlib import Path

from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from modeling.core.config import DiffusionConfig, ModelConfig, UNetConfig, VAEConfig
from modeling.core.errors import ConfigError


def build_unet(config: UNetConfig, *, latent_channels: int, latent_size: int) -> UNet2DConditionModel:
    """A text-conditioned U-Net, randomly initialised (the paper trains it from scratch)."""
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=latent_channels,
        out_channels=latent_channels,
        block_out_channels=tuple(config.block_out_channels),
        down_block_types=tuple(config.down_block_types),
        up_block_types=tuple(config.up_block_types),
        layers_per_block=config.layers_per_block,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups,
        cross_attention_dim=config.cross_attention_dim,
    )


def build_vae(config: VAEConfig, *, image_size: int) -> AutoencoderKL:
    """The frozen autoencoder: a local diffusers folder when ``weights`` is set, else random init."""
    if config.weights is not None:
        try:
            vae = AutoencoderKL.from_pretrained(Path(config.weights), local_files_only=True, low_cpu_mem_usage=False)
        except (OSError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"vae.weights {config.weights} is not a diffusers AutoencoderKL folder: {first_line}"
            ) from None
    else:
        depth = len(config.block_out_channels)
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * depth,
            up_block_types=("UpDecoderBlock2D",) * depth,
            block_out_channels=tuple(config.block_out_channels),
            layers_per_block=config.layers_per_block,
            latent_channels=config.latent_channels,
            norm_num_groups=config.norm_num_groups,
            sample_size=image_size,
            scaling_factor=config.scaling_factor,
        )
    vae.requires_grad_(False)
    return vae.eval()


def build_scheduler(config: DiffusionConfig) -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule=config.beta_schedule,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        prediction_type=config.prediction_type,
        clip_sample=False,
    )


def vae_provenance(config: ModelConfig) -> dict[str, str]:
    if config.weights.stable_diffusion:
        return {"model": "AutoencoderKL", "weights": str((Path(config.weights.stable_diffusion) / "vae").resolve())}
    weights = config.vae.weights
    return {"model": "AutoencoderKL", "weights": str(Path(weights).resolve()) if weights else "random-init"}
