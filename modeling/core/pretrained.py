"""Loading a local Stable Diffusion v1.x diffusers folder into LatentDiffusion, tensor by tensor.

    <folder>/unet/diffusion_pytorch_model.safetensors   -> model.unet
    <folder>/vae/diffusion_pytorch_model.safetensors    -> model.vae
    <folder>/text_encoder/model.safetensors             -> model.text_tower.model
    <folder>/tokenizer/                                  (read by sd_text_tower.SDTextTower)

Every tensor of each component must be in the file under its name with its shape, and the file may
hold nothing else: a U-Net of another size or a half-saved file is refused with one line naming
what does not fit, never loaded partly. Tensors are assigned (``load_state_dict(assign=True)``), so
a model built on the meta device takes the file's tensors without first allocating its own.

Two spellings of published files are read as diffusers reads them: the SD v1.5 VAE predates
diffusers' attention renaming (``mid_block.attentions.0.query`` is ``to_q`` today, ``proj_attn``
is ``to_out.0``), and text encoders saved by transformers 4 carry a ``text_model.`` prefix and a
``position_ids`` buffer that transformers 5 no longer has.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from modeling.core.errors import ConfigError

WEIGHT_FILES = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"),
    "text_encoder": ("model.safetensors", "model.fp16.safetensors"),
}
LEGACY_VAE_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
_LEGACY_VAE_KEY = re.compile(r"^(.*mid_block\.attentions\.\d+\.)(query|key|value|proj_attn)\.(weight|bias)$")
IGNORED_TEXT_ENCODER_KEYS = {"position_ids"}  # a buffer transformers 4 saved and transformers 5 rebuilds


def read_component(folder: str | Path, component: str) -> dict[str, torch.Tensor]:
    """The state dict of one component of a SD diffusers folder (safetensors only: a pickled .bin
    can run code when loaded)."""
    folder = Path(folder)
    names = WEIGHT_FILES[component]
    for name in names:
        path = folder / component / name
        if path.is_file():
            return load_file(path)
    if (folder / component).is_dir() and any((folder / component).glob("*.bin")):
        raise ConfigError(
            f"weights.stable_diffusion {folder}: {component}/ holds only .bin weights; convert them to .safetensors"
        )
    raise ConfigError(f"weights.stable_diffusion {folder}: no {component}/{names[0]}")


def rename_legacy_vae(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SD v1.5's VAE attention names -> today's diffusers names (other keys unchanged)."""
    renamed = {}
    for key, tensor in state.items():
        match = _LEGACY_VAE_KEY.match(key)
        renamed[f"{match[1]}{LEGACY_VAE_ATTENTION[match[2]]}.{match[3]}" if match else key] = tensor
    return renamed


def rename_text_encoder(state: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """Fit a transformers CLIPTextModel file to this transformers' key names."""
    wanted = set(module.state_dict())
    renamed = {}
    for key, tensor in state.items():
        if key.rsplit(".", 1)[-1] in IGNORED_TEXT_ENCODER_KEYS and key not in wanted:
            continue
        if key not in wanted and key.startswith("text_model.") and key.removeprefix("text_model.") in wanted:
            key = key.removeprefix("text_model.")
        elif key not in wanted and f"text_model.{key}" in wanted:
            key = f"text_model.{key}"
        renamed[key] = tensor
    return renamed


def assign_state(module: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> int:
    """Put every tensor of ``state`` into ``module``, checked name by name and shape by shape first.

    A (C, C, 1, 1) convolution kernel is taken for a (C, C) linear weight (the older VAE attention
    layout). Returns the number of tensors assigned; raises ConfigError naming what does not fit.
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ConfigError(
            f"{source} does not fit: {len(missing)} tensors missing (e.g. {missing[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    fitted = {}
    for key, tensor in state.items():
        want = expected[key].shape
        if tensor.shape != want and tensor.dim() == 4 and tensor.shape[2:] == (1, 1) and tensor.shape[:2] == want:
            tensor = tensor[:, :, 0, 0]
        if tensor.shape != want:
            raise ConfigError(
                f"{source} does not fit: {key} is {tuple(tensor.shape)} in the file, {tuple(want)} in the model"
            )
        fitted[key] = tensor
    module.load_state_dict(fitted, strict=True, assign=True)
    return len(fitted)


def load_stable_diffusion(
    model: nn.Module, folder: str | Path, *, states: dict[str, dict] | None = None
) -> dict[str, int]:
    """Load the U-Net, VAE and text encoder of a SD folder into a LatentDiffusion; returns tensors per part.

    ``states`` (component -> state dict) replaces reading the files: the meta-device test passes
    stand-ins of SD v1.5's exact names and shapes this way.
    """
    folder = Path(folder)
    counts = {}
    targets = {"unet": model.unet, "vae": model.vae, "text_encoder": model.text_tower.model}
    for component, module in targets.items():
        state = states[component] if states is not None else read_component(folder, component)
        if component == "vae":
            state = rename_legacy_vae(state)
        if component == "text_encoder":
            state = rename_text_encoder(state, module)
        counts[component] = assign_state(module, state, source=f"{folder / component}")
    return counts
