"""The switch sampler (the paper's Figure 4): DDPM ancestral sampling in which the large model
predicts the noise for the early, noisy timesteps t >= u (global layout) and the small model for
t < u (local detail, where its patch-sized receptive field keeps it from copying training images)."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

from modeling.core.defect_gen.models import DefectGen, decode_joint
from modeling.core.diffusion_blocks import build_scheduler
from modeling.core.errors import ConfigError


@torch.no_grad()
def switch_sample(
    model: DefectGen,
    class_labels: torch.Tensor,
    *,
    switch_timestep: int,
    num_inference_steps: int | None = None,
    generators: list[torch.Generator] | None = None,
) -> torch.Tensor:
    """Sample joint tensors, one per class label.

    Args:
        class_labels: (B,) int64 in [0, K), the class each sample is generated for.
        switch_timestep: u; the large model runs for t >= u, the small one for t < u.
        num_inference_steps: None = every training timestep.
        generators: one per sample (its seed alone decides its noise), or None for the global RNG.
    Returns:
        (B, 3 + K + 1, S, S): image channels and mask channels, see models.decode_joint.
    """
    steps = model.config.diffusion.num_train_timesteps
    if not 0 <= switch_timestep <= steps:
        raise ConfigError(f"switch timestep must lie in [0, {steps}], got {switch_timestep}")
    if generators is not None and len(generators) != len(class_labels):
        raise ConfigError(f"{len(generators)} generators for {len(class_labels)} samples")
    device = next(model.parameters()).device
    # Its own copy (step() keeps state), with the predicted clean sample clipped to [-1, 1], where
    # pixel-space data lies (the shared schedule does not clip: latents are unbounded). Without it the
    # first steps blow up: near t = T the cosine schedule keeps ~2e-7 of the signal, and the noise
    # prediction's error is divided by its square root.
    scheduler = DDPMScheduler.from_config(build_scheduler(model.config.diffusion).config, clip_sample=True)
    scheduler.set_timesteps(num_inference_steps or steps)
    size = model.config.data.image_size
    labels = class_labels.to(device)
    x = randn_tensor((len(labels), model.channels, size, size), generator=generators, device=device)
    for t in scheduler.timesteps:
        network = model.large if int(t) >= switch_timestep else model.small
        noise = network(x, t.to(device), class_labels=labels).sample
        x = scheduler.step(noise, t, x, generator=generators).prev_sample
    return x


def sample_pairs(
    model: DefectGen,
    class_labels: torch.Tensor,
    seeds: list[int],
    *,
    switch_timestep: int,
    num_inference_steps: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate image + mask pairs, each from its own seed.

    Returns images (B, 3, S, S) uint8 and masks (B, S, S) int64 class indices of the set (0 = background).
    """
    device = next(model.parameters()).device
    generators = [torch.Generator(device).manual_seed(seed) for seed in seeds]
    model.eval()
    x = switch_sample(
        model,
        class_labels,
        switch_timestep=switch_timestep,
        num_inference_steps=num_inference_steps,
        generators=generators,
    )
    return decode_joint(x.float())
