"""Model and training configuration: nested dataclasses and the two presets.

``tiny`` trains on two CPU cores in seconds (a ~1M-parameter U-Net at 64 px); ``sd15`` is the
paper's size (Stable Diffusion v1.5's U-Net, ~860M parameters, 512 px). A run is one preset plus
optional dotted overrides (``train.lr=5e-5``), and every checkpoint stores the resolved config as
JSON so a run can be resumed or evaluated without knowing which preset it came from.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeling.core.errors import ConfigError


@dataclass
class ClipConfig:
    """open_clip towers. A weights path is a local checkpoint file; None means random initialisation."""

    text_model: str = "imdd-tiny-clip"  # open_clip model name whose text tower conditions the U-Net
    text_weights: str | None = None
    image_model: str = "imdd-tiny-clip"  # open_clip model name whose image tower feeds the captioner
    image_weights: str | None = None
    prompt_template: str = "{}"  # how a class name becomes a prompt, e.g. "a photo of a {} defect"


@dataclass
class VAEConfig:
    """diffusers AutoencoderKL; the downsampling factor is 2 ** (len(block_out_channels) - 1). Frozen."""

    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    latent_channels: int = 4
    norm_num_groups: int = 8
    scaling_factor: float = 0.18215
    weights: str | None = None  # a local diffusers folder (AutoencoderKL.from_pretrained); None = random init


@dataclass
class UNetConfig:
    """diffusers UNet2DConditionModel; cross_attention_dim must equal the text tower's width."""

    block_out_channels: tuple[int, ...] = (32, 48, 48)
    down_block_types: tuple[str, ...] = ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
    up_block_types: tuple[str, ...] = ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
    layers_per_block: int = 1
    attention_head_dim: int = 8
    norm_num_groups: int = 8
    cross_attention_dim: int = 64


@dataclass
class DiffusionConfig:
    """DDPM noise schedule. With 100 steps the SD default (scaled_linear to 0.012) keeps ~58% of the
    signal variance at t=T; the cosine schedule ends at alphas_cumprod[-1] ~ 2e-7 (pure noise).
    beta_start and beta_end apply to the linear schedules only; ``sd_schedule()`` is SD v1.5's.

    caption_dropout: the share of Stage 1 text-conditioned samples whose caption is replaced by the
    empty caption, so that the same U-Net also learns the unconditional prediction that
    classifier-free guidance needs at generation time (SD v1.5 was trained with 0.1)."""

    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: str = "epsilon"
    caption_dropout: float = 0.1


BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


def sd_schedule() -> DiffusionConfig:
    """Stable Diffusion v1.5's training schedule (its scheduler_config.json): scaled_linear betas from
    0.00085 to 0.012 over 1000 steps, epsilon prediction. A U-Net initialised from SD v1.5 must keep
    it: its weights predict noise for these noise levels."""
    return DiffusionConfig(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


@dataclass
class WeightsConfig:
    """Pretrained weights, all local (nothing is downloaded).

    stable_diffusion: a Stable Diffusion v1.x diffusers folder (``unet/``, ``vae/``, ``text_encoder/``,
    ``tokenizer/``, as published): the VAE and the text encoder with its own tokenizer replace
    ``vae`` and ``clip.text_*``, and a new Stage 1 run starts its U-Net from ``unet/``.
    allow_random_frozen: train although a frozen part (VAE, text or image tower) has random weights.
    A frozen random VAE makes latents of std ~0.05 instead of ~1, so the noise drowns the image at
    almost every timestep and a falling Stage 1 loss means little: only the tiny preset, which is for
    tests and CPU smoke runs, allows it by default (and every report says so)."""

    stable_diffusion: str | None = None
    allow_random_frozen: bool = False


@dataclass
class CaptionerConfig:
    """Implicit captioner: frozen CLIP image embedding -> MLP -> num_tokens text-space tokens."""

    hidden_dim: int = 128
    num_tokens: int = 4
    implicit_fraction: float = 0.5  # fraction of Stage 1 steps conditioned on the implicit caption


@dataclass
class MaskGeneratorConfig:
    """Mask2Former-style decoder over the frozen U-Net's decoder features (Stage 2)."""

    num_queries: int = 16
    hidden_dim: int = 64
    num_heads: int = 4
    num_layers: int = 3
    dim_feedforward: int = 128
    feature_timestep: int = 1  # the small timestep at which the U-Net is run for features
    no_object_weight: float = 0.1
    class_weight: float = 2.0
    mask_bce_weight: float = 5.0
    dice_weight: float = 5.0
    grounding_weight: float = 0.5
    grounding_on: str = "terms"  # "terms": the caption's vocabulary terms; "tokens": every caption token (old)
    deep_supervision: bool = True
    min_component_pixels: int = 4  # connected components of mask.png smaller than this are ignored


@dataclass
class DataConfig:
    image_size: int = 64
    batch_size: int = 8
    num_workers: int = 1
    shuffle_buffer: int = 64  # streamed shards only (S3, no Parquet index); local indexed ones are permuted whole
    hflip: bool = True
    min_scale: float = 0.8  # random crop keeps at least this fraction of each side (1.0 = no crop)
    few_shot_per_class: int | None = None  # Stage 2 few-shot: keep N samples per class
    caption_terms: str | None = None  # a caption-terms JSONL file (caption_terms.py); null = the sample json's terms


@dataclass
class TrainConfig:
    steps: int = 200
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 10
    grad_clip: float = 1.0
    log_every: int = 10
    save_every: int = 100
    seed: int = 0
    mixed_precision: str = "bf16"  # "bf16" or "no"; only used on CUDA
    gradient_checkpointing: bool = False
    # torch intra-op threads per process on CPU; null = decided by runs.cpu_threads (1 on small machines)
    cpu_threads: int | None = None


@dataclass
class ModelConfig:
    preset: str = "tiny"
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    captioner: CaptionerConfig = field(default_factory=CaptionerConfig)
    mask_generator: MaskGeneratorConfig = field(default_factory=MaskGeneratorConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae.block_out_channels) - 1)

    @property
    def latent_size(self) -> int:
        return self.data.image_size // self.vae_factor

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> ModelConfig:
        """Raise ConfigError for sizes that cannot work together; return self."""
        unet_factor = 2 ** (len(self.unet.block_out_channels) - 1)
        if self.data.image_size % (self.vae_factor * unet_factor):
            raise ConfigError(
                f"data.image_size {self.data.image_size} must be divisible by VAE factor {self.vae_factor} "
                f"x U-Net factor {unet_factor}"
            )
        if not len(self.unet.block_out_channels) == len(self.unet.down_block_types) == len(self.unet.up_block_types):
            raise ConfigError("unet.block_out_channels, down_block_types and up_block_types must have one entry each")
        if not 0.0 <= self.captioner.implicit_fraction <= 1.0:
            raise ConfigError(f"captioner.implicit_fraction must be in [0, 1], got {self.captioner.implicit_fraction}")
        check_data_and_train(self.data, self.train)
        check_mask_generator_and_captioner(self)
        check_diffusion(self.diffusion)
        check_weights(self)
        return self

    def random_frozen_parts(self) -> list[str]:
        """The frozen parts this config leaves randomly initialised (empty when all are pretrained)."""
        from_sd = self.weights.stable_diffusion is not None
        parts = []
        if not from_sd and self.vae.weights is None:
            parts.append("vae")
        if not from_sd and self.clip.text_weights is None:
            parts.append("text_tower")
        if self.clip.image_weights is None:
            parts.append("image_tower")
        return parts


def _dotted(config, name: str):
    section, key = name.split(".")
    return getattr(getattr(config, section), key)


def check_diffusion(diffusion: DiffusionConfig) -> None:
    if diffusion.beta_schedule not in BETA_SCHEDULES:
        raise ConfigError(
            f"diffusion.beta_schedule must be one of {', '.join(BETA_SCHEDULES)}, got {diffusion.beta_schedule!r}"
        )
    if diffusion.prediction_type not in ("epsilon", "v_prediction"):
        raise ConfigError(
            f"diffusion.prediction_type must be 'epsilon' or 'v_prediction', got {diffusion.prediction_type!r}"
        )
    if not 0.0 <= diffusion.caption_dropout < 1.0:
        raise ConfigError(f"diffusion.caption_dropout must be in [0, 1), got {diffusion.caption_dropout}")
    if not 0.0 < diffusion.beta_start < diffusion.beta_end < 1.0:
        raise ConfigError("diffusion.beta_start and beta_end must satisfy 0 < beta_start < beta_end < 1")
    if diffusion.num_train_timesteps < 2:
        raise ConfigError("diffusion.num_train_timesteps must be at least 2")


def check_mask_generator_and_captioner(config: ModelConfig) -> None:
    if config.mask_generator.grounding_on not in ("terms", "tokens"):
        raise ConfigError(
            f"mask_generator.grounding_on must be 'terms' or 'tokens', got {config.mask_generator.grounding_on!r}"
        )
    if config.mask_generator.hidden_dim % config.mask_generator.num_heads:
        raise ConfigError("mask_generator.hidden_dim must be divisible by mask_generator.num_heads")
    if not 0 <= config.mask_generator.feature_timestep < config.diffusion.num_train_timesteps:
        raise ConfigError("mask_generator.feature_timestep must lie in [0, diffusion.num_train_timesteps)")
    positive = {
        "mask_generator.num_queries": config.mask_generator.num_queries,
        "mask_generator.num_layers": config.mask_generator.num_layers,
        "captioner.num_tokens": config.captioner.num_tokens,
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")


def check_weights(config: ModelConfig) -> None:
    """Weights sources that exclude each other, and local paths that must exist (named in the error)."""
    if config.weights.stable_diffusion is not None:
        taken = [name for name in ("clip.text_weights", "vae.weights") if _dotted(config, name) is not None]
        if taken:
            raise ConfigError(
                f"weights.stable_diffusion supplies the VAE and the text encoder: leave {' and '.join(taken)} unset"
            )
    for name in (
        "weights.stable_diffusion",
        "clip.text_weights",
        "clip.image_weights",
        "vae.weights",
        "data.caption_terms",
    ):
        path = _dotted(config, name)
        if path is not None and not Path(path).exists():
            raise ConfigError(f"{name}: no such file or folder {path}")


def check_data_and_train(data: DataConfig, train: TrainConfig) -> None:
    """The checks that every trainer's data and train sections share (stages 1, 2 and Defect-Gen)."""
    if train.cpu_threads is not None and train.cpu_threads <= 0:
        raise ConfigError(f"train.cpu_threads must be positive or null, got {train.cpu_threads}")
    if not 0.0 < data.min_scale <= 1.0:
        raise ConfigError(f"data.min_scale must be in (0, 1], got {data.min_scale}")
    if train.mixed_precision not in ("bf16", "no"):
        raise ConfigError(f"train.mixed_precision must be 'bf16' or 'no', got {train.mixed_precision!r}")
    positive = {
        "data.image_size": data.image_size,
        "data.batch_size": data.batch_size,
        "train.steps": train.steps,
        "train.log_every": train.log_every,
        "train.save_every": train.save_every,
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    few_shot = data.few_shot_per_class
    if few_shot is not None and (not isinstance(few_shot, int) or isinstance(few_shot, bool) or few_shot <= 0):
        raise ConfigError(f"data.few_shot_per_class must be a positive integer or null, got {few_shot!r}")


def tiny() -> ModelConfig:
    """Trains on 2 CPU cores: 64 px, factor-4 VAE (16x16 latents), ~1.0M-parameter U-Net. For tests and
    smoke runs, so its frozen parts may stay random (every checkpoint and report says so)."""
    return ModelConfig(preset="tiny", weights=WeightsConfig(allow_random_frozen=True))


def sd15() -> ModelConfig:
    """The paper's size: SD v1.5 U-Net (~860M), factor-8 VAE, 512 px, CLIP ViT-L/14 text (768-d tokens)
    and ViT-B/16 image features (512-d) for the implicit captioner, 100 queries."""
    return ModelConfig(
        preset="sd15",
        clip=ClipConfig(text_model="ViT-L-14", image_model="ViT-B-16", prompt_template="a photo of a {} defect"),
        vae=VAEConfig(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32),
        unet=UNetConfig(
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            layers_per_block=2,
            attention_head_dim=8,
            norm_num_groups=32,
            cross_attention_dim=768,
        ),
        captioner=CaptionerConfig(hidden_dim=1024, num_tokens=8, implicit_fraction=0.5),
        mask_generator=MaskGeneratorConfig(
            num_queries=100, hidden_dim=256, num_heads=8, num_layers=9, dim_feedforward=2048, min_component_pixels=16
        ),
        data=DataConfig(image_size=512, batch_size=32, num_workers=8, shuffle_buffer=2000),
        train=TrainConfig(steps=100_000, lr=1e-4, warmup_steps=1000, log_every=50, save_every=5000),
    )


def sd15_init() -> ModelConfig:
    """sd15 started from Stable Diffusion v1.5 (``--set weights.stable_diffusion=/models/sd15``): its
    VAE, text encoder (CLIP ViT-L/14 text, with SD's tokenizer) and U-Net, on SD's noise schedule."""
    config = sd15()
    config.preset = "sd15-init"
    config.diffusion = sd_schedule()
    return config


PRESETS = {"tiny": tiny, "sd15": sd15, "sd15-init": sd15_init}


def preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown config preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]()


def load_config(name_or_path: str, overrides: list[str] | None = None) -> ModelConfig:
    """A preset name or a JSON file (as written in checkpoints), then ``section.key=value`` overrides.

    Override values are parsed as JSON where they can be (``5e-5``, ``true``, ``null``, ``[1, 2]``),
    else taken as strings.
    """
    return load_sections(name_or_path, overrides, presets=PRESETS, from_dict=config_from_dict, what="config preset")


def load_sections(name_or_path: str, overrides: list[str] | None, *, presets: dict, from_dict, what: str):
    """The loading every config kind shares (the model's, Defect-Gen's): a preset or a JSON file,
    then the overrides, then the config's own validate()."""
    path = Path(name_or_path)
    if name_or_path in presets:
        config = presets[name_or_path]()
    elif path.suffix == ".json":
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            config = from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    else:
        raise ConfigError(f"unknown {what} {name_or_path!r}; known: {', '.join(presets)}")
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        set_value(config, key.strip(), value)
    return config.validate()


def set_value(config: ModelConfig, dotted: str, value: Any) -> None:
    """Set ``section.key`` to value, checking that the key exists and the type fits."""
    section_name, _, key = dotted.partition(".")
    section = getattr(config, section_name, None)
    if not dataclasses.is_dataclass(section) or key not in {f.name for f in dataclasses.fields(section)}:
        raise ConfigError(f"unknown config key {dotted!r}")
    current = getattr(section, key)
    setattr(section, key, _coerce(dotted, current, value))


def _coerce(name: str, current: Any, value: Any) -> Any:
    if value is None or current is None:
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if isinstance(current, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return tuple(value)
    if isinstance(current, str) and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """The inverse of ModelConfig.to_dict (JSON turns tuples into lists; they are turned back)."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a JSON object")
    return fill_sections(ModelConfig(preset=data.get("preset", "custom")), data)


def fill_sections(config, data: dict[str, Any]):
    """Set every ``section.key`` of a config dataclass from its to_dict() form, checked by set_value."""
    for section_field in dataclasses.fields(config):
        if section_field.name == "preset":
            continue
        values = data.get(section_field.name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"config section {section_field.name!r} must be an object")
        for key, value in values.items():
            set_value(config, f"{section_field.name}.{key}", value)
    return config
