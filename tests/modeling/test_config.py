import json

import pytest
import torch

from modeling.core.config import config_from_dict, load_config, preset, sd15, tiny
from modeling.core.diffusion_blocks import build_scheduler, build_unet
from modeling.core.errors import ConfigError


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_sd15_unet_has_860m_parameters_on_the_meta_device():
    config = sd15()
    with torch.device("meta"):
        unet = build_unet(config.unet, latent_channels=config.vae.latent_channels, latent_size=config.latent_size)
    assert abs(count(unet) - 860e6) / 860e6 < 0.01
    assert config.latent_size == 64 and config.mask_generator.num_queries == 100


def test_tiny_unet_has_about_one_million_parameters_and_a_factor_four_vae():
    config = tiny()
    unet = build_unet(config.unet, latent_channels=config.vae.latent_channels, latent_size=config.latent_size)
    assert 0.8e6 < count(unet) < 1.3e6
    assert config.vae_factor == 4 and 64 <= config.data.image_size <= 128


def test_noise_schedule_reaches_near_pure_noise_at_the_last_of_100_steps():
    scheduler = build_scheduler(tiny().diffusion)
    assert scheduler.config.num_train_timesteps == 100
    assert scheduler.alphas_cumprod[-1] < 1e-4  # signal variance left at t=T
    assert scheduler.alphas_cumprod[0] > 0.99  # and almost none removed at t=0
    assert build_scheduler(sd15().diffusion).alphas_cumprod[-1] < 1e-4


def test_an_unknown_preset_is_refused():
    with pytest.raises(ConfigError, match="unknown config preset 'huge'"):
        load_config("huge")


def test_an_unknown_override_key_is_refused():
    with pytest.raises(ConfigError, match="unknown config key 'train.learning_rate'"):
        load_config("tiny", ["train.learning_rate=1"])


def test_an_override_of_the_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="train.steps must be an integer"):
        load_config("tiny", ["train.steps=many"])


def test_sizes_that_cannot_work_together_are_refused():
    with pytest.raises(ConfigError, match="must be divisible"):
        load_config("tiny", ["data.image_size=70"])


def test_overrides_apply_and_the_config_round_trips_through_json(tmp_path):
    config = load_config("tiny", ["train.lr=5e-4", "data.few_shot_per_class=3", "vae.block_out_channels=[16, 32, 32]"])
    assert config.train.lr == 5e-4 and config.data.few_shot_per_class == 3
    assert config.vae.block_out_channels == (16, 32, 32)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    assert load_config(str(path)) == config
    assert config_from_dict(json.loads(json.dumps(preset("sd15").to_dict()))) == sd15()
