"""Text-to-image generation from a Stage 1 checkpoint, with classifier-free guidance.

Sampling uses diffusers' DDIM or DPM-Solver++ schedulers built from the checkpoint's own noise
schedule (so the timesteps and noise levels are those the U-Net was trained on). Guidance:

    eps = eps(x, t, "") + g * (eps(x, t, caption) - eps(x, t, ""))

where the unconditional prediction comes from the same U-Net, trained on captions replaced by ""
(diffusion.caption_dropout). g = 1 is plain conditional sampling; SD v1.5 uses 7.5.

The output folder (the contract the synthesis report and the platform's import read):

    OUT/images/00000.png   RGB, the model's image size
    OUT/manifest.json      written last: {"schema": 1, "kind": "text-to-image", "checkpoint",
                           "checkpoint_step", "config", "sampler", "weights", "random_frozen",
                           "samples": [{"image", "prompt", "seed", "source_key"}]}
Sample n uses seed ``seed + n`` for its initial noise, whatever its batch, so any one can be redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from modeling.core.checkpoint import load_checkpoint, load_weights
from modeling.core.dataset import iterate_raw_samples
from modeling.core.errors import ConfigError
from modeling.core.evaluation import random_frozen_parts
from modeling.core.latent_diffusion import LatentDiffusion
from modeling.core.shards import resolve_shards
from modeling.core.trainer import build_model, check_shards

KIND = "text-to-image"
SAMPLERS = ("ddim", "dpm-solver")
MANIFEST_NAME = "manifest.json"


def make_scheduler(model: LatentDiffusion, name: str, steps: int):
    """A sampling scheduler on the model's training schedule, set to ``steps`` steps."""
    if name not in SAMPLERS:
        raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    total = model.scheduler.config.num_train_timesteps
    if not 1 <= steps <= total:
        raise ConfigError(f"--steps must lie in [1, {total}] (the checkpoint's training timesteps), got {steps}")
    if name == "ddim":
        scheduler = DDIMScheduler.from_config(model.scheduler.config, clip_sample=False, set_alpha_to_one=False)
    else:
        scheduler = DPMSolverMultistepScheduler.from_config(
            model.scheduler.config, algorithm_type="dpmsolver++", solver_order=2
        )
    scheduler.set_timesteps(steps)
    return scheduler


@torch.no_grad()
def sample_images(
    model: LatentDiffusion,
    prompts: list[str],
    seeds: list[int],
    *,
    guidance: float = 7.5,
    steps: int = 50,
    sampler: str = "ddim",
) -> torch.Tensor:
    """prompts: B captions; seeds: B seeds (each decides its sample's initial noise alone).

    Returns (B, 3, H, W) uint8 images."""
    if len(prompts) != len(seeds):
        raise ConfigError(f"{len(prompts)} prompts for {len(seeds)} seeds")
    if guidance < 1.0:
        raise ConfigError(f"--guidance must be at least 1 (1 = no guidance), got {guidance}")
    scheduler = make_scheduler(model, sampler, steps)
    device = next(model.unet.parameters()).device
    dtype = next(model.unet.parameters()).dtype
    condition = model.text_conditioning(list(prompts)).to(dtype)
    guided = guidance != 1.0
    if guided:
        condition = torch.cat([model.text_conditioning([""] * len(prompts)).to(dtype), condition])
    size = model.config.latent_size
    generators = [torch.Generator(device).manual_seed(seed) for seed in seeds]
    latents = randn_tensor(
        (len(prompts), model.config.vae.latent_channels, size, size), generator=generators, device=device
    )
    latents = latents.to(dtype) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = torch.cat([latents, latents]) if guided else latents
        model_input = scheduler.scale_model_input(model_input, t)
        prediction = model.unet(model_input, t.to(device), encoder_hidden_states=condition).sample
        if guided:
            unconditional, conditional = prediction.chunk(2)
            prediction = unconditional + guidance * (conditional - unconditional)
        latents = scheduler.step(prediction, t, latents).prev_sample
    images = model.vae.decode(latents.to(model.vae.dtype) / model.vae.config.scaling_factor).sample
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()


def read_prompts(path: str | Path) -> list[dict[str, Any]]:
    """A prompts file: one prompt per line (blank lines skipped)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--prompts: no such file {path}")
    prompts = [{"prompt": line.strip(), "source_key": None} for line in path.read_text(encoding="utf-8").splitlines()]
    prompts = [p for p in prompts if p["prompt"]]
    if not prompts:
        raise ConfigError(f"--prompts file {path} holds no prompt")
    return prompts


def prompts_from_shards(shards: str, split: str | None, limit: int | None = None) -> list[dict[str, Any]]:
    """The English captions of a split's samples, in shard order (samples without one skipped)."""
    source = resolve_shards(shards, split)
    check_shards(source)
    prompts = []
    for raw in iterate_raw_samples(source.urls):
        caption = raw["txt"].decode("utf-8").strip() if "txt" in raw else ""
        if caption:
            prompts.append({"prompt": caption, "source_key": raw["__key__"]})
        if limit is not None and len(prompts) >= limit:
            break
    if not prompts:
        raise ConfigError(f"split {split!r} of {source.manifest_url} has no English caption to use as a prompt")
    return prompts


def load_stage_1(checkpoint: str | Path, device: str | torch.device):
    ckpt = load_checkpoint(checkpoint, stage=1)
    model = build_model(1, ckpt.config)
    load_weights(model, ckpt.state_dict(), source=f"checkpoint {ckpt.path}")
    return model.to(device).eval(), ckpt


def generate_text_to_image(
    *,
    checkpoint: str | Path,
    prompts: list[dict[str, Any]],
    out_dir: str | Path,
    per_prompt: int = 1,
    seed: int = 0,
    guidance: float = 7.5,
    steps: int = 50,
    sampler: str = "ddim",
    batch_size: int = 8,
    device: str | None = None,
) -> dict[str, Any]:
    """Generate ``per_prompt`` images for every prompt into out_dir; returns the manifest."""
    if per_prompt <= 0 or batch_size <= 0:
        raise ConfigError("--per-prompt and --batch-size must be positive")
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST_NAME).exists():
        raise ConfigError(f"{out_dir} already holds a {MANIFEST_NAME}; generate into a new folder")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, ckpt = load_stage_1(checkpoint, device)
    jobs = [(prompt, seed + n) for n, prompt in enumerate(p for p in prompts for _ in range(per_prompt))]
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    samples = []
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        images = sample_images(
            model,
            [prompt["prompt"] for prompt, _ in chunk],
            [sample_seed for _, sample_seed in chunk],
            guidance=guidance,
            steps=steps,
            sampler=sampler,
        )
        for (prompt, sample_seed), image in zip(chunk, images, strict=True):
            name = f"images/{len(samples):05d}.png"
            Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy())).save(out_dir / name)
            samples.append(
                {"image": name, "prompt": prompt["prompt"], "seed": sample_seed, "source_key": prompt["source_key"]}
            )
    manifest = {
        "schema": 1,
        "kind": KIND,
        "checkpoint": str(ckpt.path.resolve()),
        "checkpoint_step": ckpt.step,
        "config": ckpt.config.to_dict(),
        "sampler": {"name": sampler, "steps": steps, "guidance": guidance},
        "weights": ckpt.meta.get("weights", {}),
        "random_frozen": random_frozen_parts(ckpt.meta),
        "samples": samples,
    }
    partial = out_dir / f"{MANIFEST_NAME}.tmp"
    partial.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    partial.replace(out_dir / MANIFEST_NAME)
    return manifest
