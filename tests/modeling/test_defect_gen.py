import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from modeling import generate, synthesis_report, train
from modeling.core.checkpoint import load_checkpoint
from modeling.core.dataset import ShardDataset, collate
from modeling.core.defect_gen.config import SelectionConfig, load_defect_gen_config
from modeling.core.defect_gen.data import defect_gen_batches, sample_domain, select_samples
from modeling.core.defect_gen.features import fid_kid, inception_feature_space, local_feature_space
from modeling.core.defect_gen.models import DefectGen, decode_joint, encode_joint, receptive_field
from modeling.core.defect_gen.quality import memorization
from modeling.core.defect_gen.sampler import sample_pairs, switch_sample
from modeling.core.defect_gen.training import load_defect_gen_model
from modeling.core.errors import ConfigError, ShardError
from modeling.core.shards import resolve_shards
from tests.modeling.conftest import FAST

ROOT = Path(__file__).resolve().parents[2]
SETS = [a for s in FAST for a in ("--set", s)]
CONTRACT_KEYS = {"schema", "kind", "checkpoint", "checkpoint_step", "config", "classes", "samples"}
SAMPLE_KEYS = {"image", "mask", "class", "classes_present", "seed"}


def metrics_lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def defect_gen_run(tmp_path_factory, export) -> Path:
    """Defect-Gen (tiny, 32 px) trained for 4 steps through the training CLI."""
    run = tmp_path_factory.mktemp("defect-gen") / "run"
    args = ["--stage", "defect-gen", "--config", "tiny", "--shards", str(export), "--out", str(run), "--steps", "4"]
    assert train.main([*args, *SETS]) == 0
    return run


@pytest.fixture(scope="module")
def generated(tmp_path_factory, defect_gen_run) -> Path:
    out = tmp_path_factory.mktemp("generated") / "out"
    args = ["--checkpoint", str(defect_gen_run), "--out", str(out), "--per-class", "2", "--seed", "7"]
    assert generate.main([*args, "--inference-steps", "10"]) == 0
    return out


def test_both_models_train_and_log_the_keys_the_platform_parses(defect_gen_run):
    lines = metrics_lines(defect_gen_run)
    assert [line["step"] for line in lines] == [2, 4]
    keys = {"step", "stage", "loss", "loss_large", "loss_small", "lr", "samples_per_s", "steps_per_s", "elapsed_s"}
    assert keys <= set(lines[-1])
    assert all(line["stage"] == "defect-gen" for line in lines)
    assert all(math.isfinite(line[k]) for line in lines for k in ("loss", "loss_large", "loss_small"))
    checkpoint = load_checkpoint(defect_gen_run)
    assert (checkpoint.meta["stage"], checkpoint.step) == ("defect-gen", 4)
    assert [c["slug"] for c in checkpoint.meta["classes"]] == [
        "background",
        "def-red-scratch",
        "def-green-dent",
        "def-blue-crack",
    ]
    assert len(checkpoint.meta["training_samples"]) == 32
    assert json.loads((defect_gen_run / "config.json").read_text())["preset"] == "tiny"


def test_the_loss_falls_when_overfitting_two_images(export):
    config = load_defect_gen_config("tiny", ["data.image_size=16"])  # 16 px: a quarter of the work
    source = resolve_shards(str(export), "train")
    selection = select_samples(source, config.selection, few_shot_per_class=None)
    samples = [s for _, s in zip(range(2), ShardDataset(source, config.data, train=False), strict=False)]
    batch = next(defect_gen_batches(iter([collate(samples)]), selection, manifest_size=len(source.classes)))
    torch.manual_seed(0)
    model = DefectGen(config, num_classes=selection.num_classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        torch.manual_seed(1)  # the same noise and timesteps every step: a fixed target to overfit
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss["loss"].backward()
        optimizer.step()
        losses.append({name: float(value.detach()) for name, value in loss.items()})
    for name in ("loss_large", "loss_small"):
        first, last = sum(x[name] for x in losses[:3]) / 3, sum(x[name] for x in losses[-3:]) / 3
        assert last < 0.5 * first, (name, [x[name] for x in losses])


@pytest.mark.parametrize("switch", [0, 60, 100])
def test_the_switch_sampler_runs_the_large_model_for_t_at_or_above_u_and_the_small_one_below(switch):
    config = load_defect_gen_config("tiny")
    model = DefectGen(config, num_classes=2).eval()
    seen: dict[str, list[int]] = {"large": [], "small": []}
    for name in seen:
        getattr(model, name).register_forward_pre_hook(
            lambda _module, args, _kwargs, name=name: seen[name].append(int(args[1])), with_kwargs=True
        )
    x = switch_sample(model, torch.tensor([0, 1]), switch_timestep=switch, num_inference_steps=20)
    assert x.abs().max() <= 1.0  # the clean-sample estimate is clipped to the data's range: no blow-up
    timesteps = list(range(95, -1, -5))
    assert seen["large"] == [t for t in timesteps if t >= switch]
    assert seen["small"] == [t for t in timesteps if t < switch]


class ExactNoise(torch.nn.Module):
    """A perfect noise predictor for data that is always ``x0``: (x_t - sqrt(a_t) x0) / sqrt(1 - a_t)."""

    def __init__(self, x0: torch.Tensor, alphas_cumprod: torch.Tensor):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # the sampler reads the device from parameters
        self.x0, self.alphas_cumprod = x0, alphas_cumprod

    def forward(self, x, t, class_labels=None):
        alpha = self.alphas_cumprod[int(t)]
        return SimpleNamespace(sample=(x - alpha.sqrt() * self.x0) / (1 - alpha).sqrt())


def test_with_an_exact_noise_predictor_the_sampler_returns_the_training_pair():
    config = load_defect_gen_config("tiny")
    model = DefectGen(config, num_classes=2)
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    mask = torch.zeros(1, 32, 32, dtype=torch.int64)
    mask[:, 4:12, 6:20], mask[:, 20:30, 2:9] = 1, 2
    x0 = encode_joint(image, mask, num_mask_channels=3)
    model.large = ExactNoise(x0, model.scheduler.alphas_cumprod)
    model.small = ExactNoise(x0, model.scheduler.alphas_cumprod)
    x = switch_sample(model, torch.tensor([0]), switch_timestep=60, num_inference_steps=25)
    images, masks = decode_joint(x)
    assert torch.allclose(x, x0, atol=1e-3)
    assert torch.equal(masks, mask)
    assert (images.int() - decode_joint(x0)[0].int()).abs().max() <= 1


def test_the_small_model_sees_a_patch_and_the_large_one_the_whole_image():
    model = DefectGen(load_defect_gen_config("tiny"), num_classes=1)
    assert model.small.mid_block is None
    assert not any("Attention" in type(m).__name__ for m in model.small.modules())
    assert any("Attention" in type(m).__name__ for m in model.large.modules())
    assert receptive_field(model.large, image_size=32) == 32
    assert receptive_field(model.small, image_size=32) < 20


def test_a_sample_depends_on_its_seed_not_on_its_batch(defect_gen_run):
    model, _, _ = load_defect_gen_model(defect_gen_run)
    alone_images, alone_masks = sample_pairs(model, torch.tensor([1]), [5], switch_timestep=60, num_inference_steps=10)
    batch_images, batch_masks = sample_pairs(
        model, torch.tensor([0, 1]), [9, 5], switch_timestep=60, num_inference_steps=10
    )
    assert (alone_images[0].int() - batch_images[1].int()).abs().max() <= 1  # float noise of batched convs
    assert alone_images.shape == (1, 3, 32, 32) and alone_masks.shape == (1, 32, 32)
    assert alone_masks.dtype == torch.int64 and 0 <= int(batch_masks.min()) and int(batch_masks.max()) <= 3


def test_generate_writes_pairs_and_the_manifest_contract(generated, defect_gen_run):
    manifest = json.loads((generated / "manifest.json").read_text())
    assert set(manifest) == CONTRACT_KEYS
    assert (manifest["schema"], manifest["kind"], manifest["checkpoint_step"]) == (1, "defect-gen", 4)
    assert manifest["checkpoint"] == str(load_checkpoint(defect_gen_run).path.resolve())
    assert manifest["classes"][0] == {"index": 0, "slug": "background", "labels": {"en": "background"}}
    assert [c["index"] for c in manifest["classes"]] == [0, 1, 2, 3]
    samples = manifest["samples"]
    assert [s["class"] for s in samples] == ["def-red-scratch"] * 2 + ["def-green-dent"] * 2 + ["def-blue-crack"] * 2
    assert [s["seed"] for s in samples] == list(range(7, 13))
    assert manifest["config"]["sampler"]["num_inference_steps"] == 10
    slugs = [c["slug"] for c in manifest["classes"]]
    for number, sample in enumerate(samples):
        assert set(sample) == SAMPLE_KEYS
        assert sample["image"] == f"images/{number:05d}.png" and sample["mask"] == f"masks/{number:05d}.png"
        with Image.open(generated / sample["image"]) as image, Image.open(generated / sample["mask"]) as mask:
            assert (image.mode, image.size) == ("RGB", (32, 32))
            assert (mask.mode, mask.size) == ("L", image.size)  # a valid class-index map of the image's size
            values = sorted(int(v) for v in np.unique(np.array(mask)))
        assert values[-1] < len(slugs)
        assert sample["classes_present"] == [slugs[v] for v in values if v > 0]


def test_generate_refuses_an_existing_output_and_a_bad_switch_timestep(generated, defect_gen_run, tmp_path, capsys):
    assert generate.main(["--checkpoint", str(defect_gen_run), "--out", str(generated), "--per-class", "1"]) == 2
    assert "already holds a manifest.json" in capsys.readouterr().err
    args = ["--checkpoint", str(defect_gen_run), "--out", str(tmp_path / "o"), "--per-class", "1", "--switch-at", "500"]
    assert generate.main(args) == 2
    assert capsys.readouterr().err.strip() == "error: sampler.switch_timestep must lie in [0, 100], got 500"
    assert generate.main(["--checkpoint", str(tmp_path), "--out", str(tmp_path / "p"), "--per-class", "1"]) == 2
    assert capsys.readouterr().err.strip() == f"error: no checkpoint at {tmp_path}"


def test_resume_continues_from_the_checkpoint_with_the_same_samples(defect_gen_run, export, tmp_path):
    model, checkpoint, _ = load_defect_gen_model(defect_gen_run)
    saved = checkpoint.state_dict()
    assert all(torch.equal(value, saved[name]) for name, value in model.state_dict().items())

    run = tmp_path / "run"
    args = ["--stage", "defect-gen", "--shards", str(export), "--out", str(run), "--few-shot", "2", *SETS]
    assert train.main([*args, "--steps", "2"]) == 0
    first = load_checkpoint(run)
    assert train.main([*args, "--steps", "4", "--resume"]) == 0
    resumed = load_checkpoint(run)
    assert resumed.step == 4 and [line["step"] for line in metrics_lines(run)] == [2, 4]
    assert resumed.meta["training_samples"] == first.meta["training_samples"]
    assert len(first.meta["training_samples"]) < 32  # few-shot kept a subset


def test_selection_by_class_set_few_shot_and_product(export):
    source = resolve_shards(str(export), "train")
    red = select_samples(source, SelectionConfig(classes=("def-red-scratch",)), few_shot_per_class=None)
    assert [c.slug for c in red.classes] == ["background", "def-red-scratch"]
    assert red.source_indices == [0, 1] and set(red.labels.values()) == {0}
    assert red.left_out["other_classes"] > 0  # samples that also show another class are left out
    few = select_samples(source, SelectionConfig(), few_shot_per_class=2)
    assert 2 <= len(few.keys) <= 6
    assert few.left_out["few_shot"] == 32 - len(few.keys)
    same_product = select_samples(source, SelectionConfig(product="prod-steel-plate"), few_shot_per_class=None)
    assert len(same_product.keys) == 32
    with pytest.raises(ShardError, match="no sample with a mask region of the chosen classes .*product prod-nope"):
        select_samples(source, SelectionConfig(product="prod-nope"), few_shot_per_class=None)
    with pytest.raises(ShardError, match="the shard json carries no domain"):
        select_samples(source, SelectionConfig(domain="dom-metal"), few_shot_per_class=None)
    with pytest.raises(ShardError, match="classes not in the manifest's class list: def-nope"):
        select_samples(source, SelectionConfig(classes=("def-nope",)), few_shot_per_class=None)


def test_a_sample_domain_is_read_from_the_json():
    assert sample_domain({"domain": "dom-metal"}) == "dom-metal"
    assert sample_domain({"domain": {"slug": "dom-metal", "labels": {}}}) == "dom-metal"
    assert sample_domain({"terms": {"domain": [{"slug": "dom-wood"}]}}) == "dom-wood"
    assert sample_domain({"terms": {"product": [{"slug": "prod-gear"}]}}) is None


def test_the_training_cli_keeps_defect_gen_flags_to_defect_gen(export, tmp_path, capsys):
    args = ["--shards", str(export), "--out", str(tmp_path / "o")]
    assert train.main(["--stage", "1", "--product", "prod-steel-plate", *args]) == 2
    assert capsys.readouterr().err.strip() == "error: only --stage defect-gen takes --product"
    assert train.main(["--stage", "defect-gen", "--config", "sd15", *args]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown defect-gen config preset 'sd15'; known: tiny, paper"
    assert train.main(["--stage", "defect-gen", "--classes", "def-nope", *args]) == 2
    assert "classes not in the manifest's class list: def-nope" in capsys.readouterr().err


def test_configs_validate_and_refuse_a_small_model_with_attention():
    assert load_defect_gen_config("paper").data.image_size == 256
    with pytest.raises(ConfigError, match="small must have no attention blocks and no middle block"):
        load_defect_gen_config("tiny", ['small.mid_block_type="UNetMidBlock2D"'])
    with pytest.raises(ConfigError, match="unknown config key 'sampler.switch'"):
        load_defect_gen_config("tiny", ["sampler.switch=3"])


def test_memorization_counts_copies_of_training_images():
    torch.manual_seed(0)
    train_features = torch.randn(10, 16, dtype=torch.float64)
    generated = torch.cat([train_features[:3], torch.randn(5, 16, dtype=torch.float64)])
    names = [f"g{i}" for i in range(8)]
    keys = [f"t{i}" for i in range(10)]
    result = memorization(
        generated, train_features, metric="euclidean", factor=0.5, generated_names=names, train_keys=keys
    )
    assert result["share_below_threshold"] == 3 / 8
    assert [s["nearest_train_sample"] for s in result["per_sample"][:3]] == ["t0", "t1", "t2"]
    assert result["nearest_train_distance"]["min"] == 0.0


def test_the_report_runs_with_the_local_extractor_and_says_why_fid_is_unavailable(generated, export, tmp_path):
    out = tmp_path / "report"
    args = ["--generated", str(generated), "--shards", str(export), "--report", str(out)]
    assert synthesis_report.main([*args, "--downstream-steps", "3", "--downstream-seeds", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["realism"]["inception"] == {
        "available": False,
        "reason": "no Inception weights file given (--inception PATH to the FID Inception weights)",
    }
    local = report["realism"]["local:imdd-tiny-clip"]
    assert (
        local["available"] and "random-init" in local["extractor"] and "not the Inception network" in local["extractor"]
    )
    assert math.isfinite(local["fid"]) and math.isfinite(local["kid_mean"])
    assert (local["real_images"], local["generated_images"]) == (12, 6)
    for space in ("local:imdd-tiny-clip", "pixels"):
        figures = report["memorization"][space]
        assert len(figures["per_sample"]) == 6 and 0.0 <= figures["share_below_threshold"] <= 1.0
    assert report["training_reference"] == "the generator's 32 training samples"
    downstream = report["downstream"]
    assert (downstream["train_real_images"], downstream["train_synthetic_images"]) == (32, 6)
    assert 0.0 <= downstream["miou_without_synthetic"] <= 1.0 and 0.0 <= downstream["miou_with_synthetic"] <= 1.0
    assert 0.0 <= report["masks"]["class_present_rate"] <= 1.0
    with Image.open(out / "report.png") as png:
        assert png.size[0] > 500

    missing = tmp_path / "nope.pth"
    assert synthesis_report.main([*args, "--inception", str(missing), "--downstream-steps", "0"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["realism"]["inception"]["reason"] == f"Inception weights file not found: {missing}"
    assert report["downstream"] is None


def test_fid_and_kid_are_zero_for_identical_sets_and_grow_with_a_shift():
    space = local_feature_space()
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    features = space.extract(images)
    same = fid_kid(features, features)
    shifted = fid_kid(features, space.extract(images // 2))
    assert abs(same["fid"]) < 1e-6 and shifted["fid"] > 100 * abs(same["fid"]) + 1e-3
    assert fid_kid(features[:1], features)["available"] is False


@pytest.mark.slow
def test_the_inception_path_extracts_2048_features_from_a_local_weights_file(tmp_path):
    feature_module = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    from unittest import mock

    # a randomly initialised network in the FID Inception's format stands in for the real weights file
    with (
        mock.patch.object(feature_module, "load_state_dict_from_url", return_value={}),
        mock.patch.object(feature_module.FeatureExtractorInceptionV3, "load_state_dict"),
    ):
        network = feature_module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception.pth"
    torch.save(network.state_dict(), weights)
    space, reason = inception_feature_space(str(weights))
    assert reason is None and space.comparable_with_published
    features = space.extract(torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8))
    assert features.shape == (3, 2048)
    assert fid_kid(features, features)["available"]


@pytest.mark.slow
def test_the_defect_gen_modules_import_without_django():
    modules = [
        "modeling.core.defect_gen.training",
        "modeling.core.defect_gen.generation",
        "modeling.core.defect_gen.quality",
        "modeling.generate",
        "modeling.synthesis_report",
    ]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        f"import sys\nfor name in {modules!r}:\n    __import__(name)\n"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')]\nprint('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
