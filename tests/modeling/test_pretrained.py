"""Explicit weights: a Stable Diffusion v1.5 folder loads tensor by tensor, SD's schedule is a preset,
and a paper-size run refuses to train over randomly initialised frozen parts."""

from pathlib import Path

import numpy as np
import pytest
import torch

from modeling import train
from modeling.core.checkpoint import load_checkpoint
from modeling.core.config import load_config, sd15, sd_schedule
from modeling.core.diffusion_blocks import build_scheduler
from modeling.core.errors import ConfigError
from modeling.core.latent_diffusion import LatentDiffusion
from modeling.core.pretrained import load_stable_diffusion
from modeling.core.runs import refuse_random_frozen
from modeling.core.trainer import build_model
from tests.modeling import sd15_stand_in
from tests.modeling.conftest import FAST

# A tiny SD-layout folder that fits the tiny preset: its U-Net's sizes, a 64-wide text encoder.
TINY_UNET = {
    **sd15_stand_in.UNET_CONFIG,
    "block_out_channels": [32, 48, 48],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "cross_attention_dim": 64,
    "sample_size": 16,
}
TINY_VAE = {
    **sd15_stand_in.VAE_CONFIG,
    "block_out_channels": [32, 64, 64],
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "layers_per_block": 1,
    "norm_num_groups": 8,
}
TINY_TEXT = {
    **sd15_stand_in.TEXT_ENCODER_CONFIG,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "projection_dim": 64,
}


def test_sd15_takes_every_tensor_of_sd15s_published_names_and_shapes_on_the_meta_device(tmp_path):
    folder = sd15_stand_in.write_folder(tmp_path / "sd15")
    config = load_config("sd15-init", [f"weights.stable_diffusion={folder}"])
    with torch.device("meta"):
        model = LatentDiffusion(config)
        states = sd15_stand_in.published_states(dtype=torch.float16)  # our model is float32: tells them apart
    published = {part: len(state) for part, state in states.items()}
    assert published == sd15_stand_in.PUBLISHED_TENSOR_COUNTS

    counts = load_stable_diffusion(model, folder, states=states)

    assert counts == {"unet": 686, "vae": 248, "text_encoder": 196}  # position_ids is rebuilt, not loaded
    for part in (model.unet, model.vae, model.text_tower.model):
        dtypes = {tensor.dtype for tensor in part.state_dict().values() if tensor.is_floating_point()}
        assert dtypes == {torch.float16}  # every floating tensor is one of the file's
    assert sum(p.numel() for p in model.unet.parameters()) == 859_520_964
    padded = model.text_tower.tokenizer(["a crack"], padding="max_length", max_length=77).input_ids[0]
    assert padded[-1] == 49407  # SD's tokenizer pads with end-of-text (open_clip's with 0)


def test_a_file_of_another_size_is_refused_naming_the_tensor(tmp_path):
    folder = sd15_stand_in.write_folder(tmp_path / "sd15")
    config = load_config("sd15-init", [f"weights.stable_diffusion={folder}"])
    with torch.device("meta"):
        model = LatentDiffusion(config)
        states = sd15_stand_in.published_states(unet={**sd15_stand_in.UNET_CONFIG, "cross_attention_dim": 1024})
    with pytest.raises(ConfigError, match=r"does not fit: .*attn2\.to_k\.weight is \(320, 1024\) in the file"):
        load_stable_diffusion(model, folder, states=states)


@pytest.fixture(scope="module")
def tiny_sd_folder(tmp_path_factory) -> Path:
    folder = sd15_stand_in.write_folder(
        tmp_path_factory.mktemp("tiny-sd"), unet=TINY_UNET, vae=TINY_VAE, text=TINY_TEXT
    )
    torch.manual_seed(1)
    sd15_stand_in.write_weights(folder, sd15_stand_in.published_states(unet=TINY_UNET, vae=TINY_VAE, text=TINY_TEXT))
    return folder


def test_a_sd_folder_on_disk_initialises_a_run_and_its_checkpoint_says_so(tiny_sd_folder, export, tmp_path):
    from safetensors.torch import load_file

    overrides = [f"weights.stable_diffusion={tiny_sd_folder}", "diffusion.num_train_timesteps=100"]
    config = load_config("tiny", overrides)
    model = build_model(1, config, pretrained=True)
    unet_file = load_file(tiny_sd_folder / "unet" / "diffusion_pytorch_model.safetensors")
    assert all(torch.equal(model.unet.state_dict()[k], v) for k, v in unet_file.items())
    vae_file = load_file(tiny_sd_folder / "vae" / "diffusion_pytorch_model.safetensors")
    assert torch.equal(
        model.vae.encoder.mid_block.attentions[0].to_q.weight, vae_file["encoder.mid_block.attentions.0.query.weight"]
    )

    run = tmp_path / "run"
    args = ["--stage", "1", "--config", "tiny", "--shards", str(export), "--out", str(run), "--steps", "2"]
    args += [a for s in [*FAST, *overrides] for a in ("--set", s)]
    assert train.main(args) == 0
    meta = load_checkpoint(run).meta
    assert meta["weights"]["unet"]["weights"] == str((tiny_sd_folder / "unet").resolve())
    assert meta["weights"]["vae"]["weights"] == str((tiny_sd_folder / "vae").resolve())
    assert meta["random_frozen"] == ["image_tower"]  # no CLIP image weights were given


def test_sd15_refuses_to_train_over_random_frozen_parts_unless_allowed(export, tmp_path, capsys):
    status = train.main(["--stage", "1", "--config", "sd15", "--shards", str(export), "--out", str(tmp_path / "run")])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "error: config 'sd15' would train over randomly initialised frozen vae, text_tower, image_tower: give local "
        "weights (weights.stable_diffusion, clip.image_weights, vae.weights, clip.text_weights) or pass --allow-random-frozen"
    )
    assert not (tmp_path / "run").exists()
    allowed = sd15()
    allowed.weights.allow_random_frozen = True  # what --allow-random-frozen sets
    assert refuse_random_frozen(allowed, None) == ["vae", "text_tower", "image_tower"]
    assert load_config("tiny").weights.allow_random_frozen  # tiny is for tests: random, and labelled so


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("weights.stable_diffusion={missing}", "weights.stable_diffusion: no such file or folder {missing}"),
        ("vae.weights={empty}", "vae.weights {empty} is not a diffusers AutoencoderKL folder"),
        ("weights.stable_diffusion={empty}", "weights.stable_diffusion {empty}: no text_encoder/config.json"),
    ],
)
def test_a_wrong_weights_path_is_one_line_and_exit_status_2(export, tmp_path, override, message, capsys):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nowhere", "empty": tmp_path / "empty"}
    args = ["--stage", "1", "--shards", str(export), "--out", str(tmp_path / "o"), "--set", override.format(**paths)]
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: " + message.format(**paths)), err


def test_the_sd_schedule_preset_is_scaled_linear_from_0_00085_to_0_012_over_1000_steps():
    betas = build_scheduler(sd_schedule()).betas.double().numpy()
    expected = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2  # SD's scaled_linear: linear in sqrt(beta)
    assert np.allclose(betas, expected, rtol=1e-5)
    assert load_config("sd15-init").diffusion == sd_schedule()
    alphas_cumprod = np.cumprod(1 - expected)
    assert build_scheduler(sd_schedule()).alphas_cumprod[-1].item() == pytest.approx(alphas_cumprod[-1], rel=1e-4)
