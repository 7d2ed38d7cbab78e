"""Stand-ins for a Stable Diffusion v1.5 diffusers folder: the published config.json files of its
unet/, vae/ and text_encoder/ (as the SD v1.5 release ships them), the CLIP tokenizer files, and
state dicts with SD v1.5's exact tensor names and shapes but no trained values.

The names and shapes come from the published configs through diffusers' and transformers' own
classes (the SD v1.5 diffusers files were written by those classes), spelled as the published files
spell them: the VAE's mid-block attention with the pre-rename names (query/key/value/proj_attn) and
the text encoder with transformers 4's ``text_model.`` prefix and ``position_ids`` buffer. Nothing
here is built from our own model code, so loading these tests our code against SD's layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

UNET_CONFIG = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
VAE_CONFIG = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
TEXT_ENCODER_CONFIG = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "vocab_size": 49408,
}
# Tensors in SD v1.5's published files (text encoder: with its position_ids buffer).
PUBLISHED_TENSOR_COUNTS = {"unet": 686, "vae": 248, "text_encoder": 197}
LEGACY_VAE_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def write_tokenizer(folder: Path) -> None:
    """CLIP's BPE tokenizer files (vocab.json, merges.txt) as SD v1.5's tokenizer/ holds them, made
    from the vocabulary open_clip ships (the same 49,408 tokens); padding with <|endoftext|>."""
    from open_clip.tokenizer import SimpleTokenizer

    bpe = SimpleTokenizer()
    vocab = dict(bpe.encoder)
    vocab["<|startoftext|>"] = vocab.pop("<start_of_text>")
    vocab["<|endoftext|>"] = vocab.pop("<end_of_text>")
    merges = sorted(bpe.bpe_ranks.items(), key=lambda item: item[1])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for (a, b), _ in merges))
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": 77,
        "do_lower_case": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


def write_folder(
    root: Path, *, unet: dict = UNET_CONFIG, vae: dict = VAE_CONFIG, text: dict = TEXT_ENCODER_CONFIG
) -> Path:
    """The folder's config files and tokenizer (no weights)."""
    for name, config in (("unet", unet), ("vae", vae), ("text_encoder", text)):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "config.json").write_text(json.dumps(config))
    write_tokenizer(root / "tokenizer")
    return root


def published_states(*, unet: dict = UNET_CONFIG, vae: dict = VAE_CONFIG, text: dict = TEXT_ENCODER_CONFIG, dtype=None):
    """component -> state dict named and shaped as the published files, built on the current default
    device (meta for the full size: no memory). dtype: cast every tensor (to tell them apart after loading)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    states = {
        "unet": UNet2DConditionModel.from_config({k: v for k, v in unet.items() if not k.startswith("_")}).state_dict(),
        "vae": AutoencoderKL.from_config({k: v for k, v in vae.items() if not k.startswith("_")}).state_dict(),
        "text_encoder": CLIPTextModel(CLIPTextConfig(**text)).state_dict(),
    }
    legacy_vae = {}
    for key, tensor in states["vae"].items():
        for new, old in LEGACY_VAE_NAMES.items():
            if ".attentions." in key and f".{new}." in key:
                key = key.replace(f".{new}.", f".{old}.")
        legacy_vae[key] = tensor
    states["vae"] = legacy_vae
    text_state = {}
    for key, tensor in states["text_encoder"].items():
        text_state[key if key.startswith("text_model.") else f"text_model.{key}"] = tensor
    positions = text["max_position_embeddings"]
    text_state["text_model.embeddings.position_ids"] = torch.arange(positions)[None]
    states["text_encoder"] = text_state
    if dtype is not None:
        states = {
            part: {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
            for part, state in states.items()
        }
    return states


def write_weights(root: Path, states: dict) -> None:
    """The state dicts as the folder's safetensors files."""
    from safetensors.torch import save_file

    names = {"unet": "diffusion_pytorch_model.safetensors", "vae": "diffusion_pytorch_model.safetensors"}
    names["text_encoder"] = "model.safetensors"
    for part, state in states.items():
        save_file({k: v.contiguous() for k, v in state.items()}, root / part / names[part])
