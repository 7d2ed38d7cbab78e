"""Defect-Gen configuration: dataclasses and the two presets, ``tiny`` and ``paper``.

The data, training and noise-schedule sections are the stage 1/2 dataclasses (modeling.core.config),
so the same ``--set section.key=value`` overrides and the same Trainer work here. What is new: the
two U-Nets (diffusers ``UNet2DModel``), the sampler's switch timestep and which samples to train on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from modeling.core.config import (
    DataConfig,
    DiffusionConfig,
    TrainConfig,
    check_data_and_train,
    fill_sections,
    load_sections,
)
from modeling.core.errors import ConfigError

STAGE = "defect-gen"


@dataclass
class PixelUNetConfig:
    """A diffusers UNet2DModel on the joint image + mask tensor. One down level per entry of
    block_out_channels; every level but the last halves the resolution. mid_block_type None drops
    the middle block (UNet2DModel allows it)."""

    block_out_channels: tuple[int, ...] = (16, 32, 32, 32)
    down_block_types: tuple[str, ...] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D")
    mid_block_type: str | None = "UNetMidBlock2D"
    layers_per_block: int = 1
    attention_head_dim: int = 8
    norm_num_groups: int = 8
    dropout: float = 0.0

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def has_attention(self) -> bool:
        """Attention blocks, or a middle block (diffusers' has attention): either sees the whole image."""
        blocks = [*self.down_block_types, *self.up_block_types]
        return any("Attn" in name for name in blocks) or self.mid_block_type is not None


def _small_unet_default() -> PixelUNetConfig:
    # One level, no downsampling: at the tiny preset's 32 px even one downsampling level would let
    # each output pixel see the whole image (45 px receptive field), which defeats the small model.
    return PixelUNetConfig(
        block_out_channels=(32,),
        down_block_types=("DownBlock2D",),
        up_block_types=("UpBlock2D",),
        mid_block_type=None,
    )


@dataclass
class SamplerConfig:
    """The switch sampler: the large model denoises timesteps t >= switch_timestep, the small one the
    rest. switch_timestep = T runs the small model alone, 0 the large one alone."""

    switch_timestep: int = 60
    num_inference_steps: int | None = None  # None = every training timestep (plain DDPM ancestral sampling)


@dataclass
class SelectionConfig:
    """Which training samples: every filter must hold. Empty classes = every class the selected
    samples' regions carry. A sample with a region of a class outside the set is left out (its
    defect would be generated unlabelled)."""

    classes: tuple[str, ...] = ()
    product: str | None = None  # a product term slug, matched against the sample json's terms.product
    domain: str | None = None  # a domain slug, matched against the sample json's "domain"


@dataclass
class DefectGenConfig:
    preset: str = "tiny"
    large: PixelUNetConfig = field(default_factory=PixelUNetConfig)
    small: PixelUNetConfig = field(default_factory=_small_unet_default)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    data: DataConfig = field(
        default_factory=lambda: DataConfig(image_size=32, batch_size=8, num_workers=1, shuffle_buffer=64, min_scale=0.9)
    )
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=200, lr=5e-4, warmup_steps=10))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> DefectGenConfig:
        """Raise ConfigError for sizes or settings that cannot work together; return self."""
        for name in ("large", "small"):
            check_unet(name, getattr(self, name), self.data.image_size)
        if self.small.has_attention:
            # the whole point of the small model is a receptive field of a patch, not of the image
            raise ConfigError("small must have no attention blocks and no middle block (mid_block_type null)")
        check_sampler(self.sampler, self.diffusion)
        check_selection(self.selection)
        check_data_and_train(self.data, self.train)
        return self


def check_unet(name: str, unet: PixelUNetConfig, image_size: int) -> None:
    levels = (len(unet.block_out_channels), len(unet.down_block_types), len(unet.up_block_types))
    if len(set(levels)) != 1:
        raise ConfigError(f"{name}.block_out_channels, down_block_types and up_block_types must have one entry each")
    if image_size % unet.downsampling_factor:
        raise ConfigError(
            f"data.image_size {image_size} must be divisible by {name}'s downsampling factor {unet.downsampling_factor}"
        )
    if any(channels % unet.norm_num_groups for channels in unet.block_out_channels):
        raise ConfigError(f"{name}.block_out_channels must be multiples of {name}.norm_num_groups")


def check_sampler(sampler: SamplerConfig, diffusion: DiffusionConfig) -> None:
    steps = diffusion.num_train_timesteps
    if not 0 <= sampler.switch_timestep <= steps:
        raise ConfigError(f"sampler.switch_timestep must lie in [0, {steps}], got {sampler.switch_timestep}")
    inference = sampler.num_inference_steps
    if inference is not None and (not isinstance(inference, int) or not 0 < inference <= steps):
        raise ConfigError(f"sampler.num_inference_steps must lie in [1, {steps}] or be null, got {inference}")
    if diffusion.prediction_type != "epsilon":
        raise ConfigError("diffusion.prediction_type must be 'epsilon' for Defect-Gen")


def check_selection(selection: SelectionConfig) -> None:
    for name in ("product", "domain"):
        value = getattr(selection, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"selection.{name} must be a slug or null, got {value!r}")
    if selection.product and selection.domain:
        raise ConfigError("choose a product or a domain, not both")
    if not all(isinstance(slug, str) and slug for slug in selection.classes):
        raise ConfigError(f"selection.classes must be class slugs, got {list(selection.classes)!r}")


def tiny() -> DefectGenConfig:
    """Trains on 2 CPU cores: 32 px, T = 100. Large (0.4M parameters): 4 levels (32 -> 4 px),
    attention at the two coarsest and in the middle block, so it sees the whole image. Small (0.12M):
    one level at full resolution, no attention, no middle block: each output pixel sees a 17 x 17
    patch (measured by models.receptive_field), about half the image side."""
    return DefectGenConfig(preset="tiny")


def paper() -> DefectGenConfig:
    """The paper's size: 256 px pixel-space DDPM with T = 1000. The large model (114M parameters) is
    the DDPM 256 px U-Net (6 levels, 128-512 channels, attention at 16 px, middle block); the small one
    (12M) keeps its first 2 levels without attention or middle block: a 69 x 69 px receptive field
    (measured by models.receptive_field), about a quarter of the image side."""
    return DefectGenConfig(
        preset="paper",
        large=PixelUNetConfig(
            block_out_channels=(128, 128, 256, 256, 512, 512),
            down_block_types=(
                "DownBlock2D",
                "DownBlock2D",
                "DownBlock2D",
                "DownBlock2D",
                "AttnDownBlock2D",
                "DownBlock2D",
            ),
            up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
            layers_per_block=2,
            attention_head_dim=64,
            norm_num_groups=32,
            dropout=0.1,
        ),
        small=PixelUNetConfig(
            block_out_channels=(128, 256),
            down_block_types=("DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D"),
            mid_block_type=None,
            layers_per_block=2,
            norm_num_groups=32,
            dropout=0.1,
        ),
        diffusion=DiffusionConfig(num_train_timesteps=1000),
        sampler=SamplerConfig(switch_timestep=600),
        data=DataConfig(image_size=256, batch_size=16, num_workers=4, shuffle_buffer=256, min_scale=0.9),
        train=TrainConfig(steps=50_000, lr=1e-4, warmup_steps=500, log_every=50, save_every=5000),
    )


PRESETS = {"tiny": tiny, "paper": paper}


def load_defect_gen_config(name_or_path: str, overrides: list[str] | None = None) -> DefectGenConfig:
    """A preset name or a config JSON file (as runs write it), then ``section.key=value`` overrides
    (values parsed as JSON where they can be, as for stages 1 and 2)."""
    return load_sections(
        name_or_path, overrides, presets=PRESETS, from_dict=defect_gen_config_from_dict, what="defect-gen config preset"
    )


def defect_gen_config_from_dict(data: dict[str, Any]) -> DefectGenConfig:
    """The inverse of DefectGenConfig.to_dict (JSON lists become tuples again)."""
    if not isinstance(data, dict):
        raise ConfigError("a defect-gen config must be a JSON object")
    return fill_sections(DefectGenConfig(preset=data.get("preset", "custom")), data)
