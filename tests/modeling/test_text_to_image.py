"""Text-to-image generation from a Stage 1 checkpoint (classifier-free guidance, DDIM / DPM-Solver++)
and its synthesis report."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from modeling import generate, synthesis_report
from modeling.core.config import load_config
from modeling.core.latent_diffusion import LatentDiffusion
from modeling.core.text_to_image import load_stage_1, sample_images

PROMPTS = ["a red scratch on a grey steel plate", "a blue crack on a grey steel plate", "a green dent"]


@pytest.fixture(scope="module")
def generated(trained_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("t2i") / "out"
    prompts = out.parent / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n\n")
    args = ["--stage", "1", "--checkpoint", str(trained_runs["stage1"]), "--prompts", str(prompts), "--out", str(out)]
    assert generate.main([*args, "--per-prompt", "2", "--steps", "8", "--batch-size", "4", "--seed", "5"]) == 0
    return out


def test_generation_writes_one_image_per_prompt_and_seed_and_a_manifest_last(generated):
    manifest = json.loads((generated / "manifest.json").read_text())
    assert manifest["kind"] == "text-to-image" and manifest["schema"] == 1
    assert [s["prompt"] for s in manifest["samples"]] == [p for p in PROMPTS for _ in range(2)]
    assert [s["seed"] for s in manifest["samples"]] == list(range(5, 11))
    assert manifest["sampler"] == {"name": "ddim", "steps": 8, "guidance": 7.5}
    assert manifest["random_frozen"] == ["vae", "text_tower", "image_tower"]  # tiny: labelled as random
    for sample in manifest["samples"]:
        with Image.open(generated / sample["image"]) as image:
            assert image.size == (64, 64) and image.mode == "RGB"


def test_an_image_depends_on_its_seed_alone_and_guidance_changes_it(trained_runs):
    model, _ = load_stage_1(trained_runs["stage1"], "cpu")
    alone = sample_images(model, [PROMPTS[1]], [6], steps=6)
    in_a_batch = sample_images(model, [PROMPTS[0], PROMPTS[1]], [5, 6], steps=6)
    # The same seed gives the same image alone or in a batch, up to float rounding: the CPU kernels
    # may sum in another order for another batch size (a grey level or two, never a different image).
    batch_rounding = _max_difference(alone[0], in_a_batch[1])
    assert batch_rounding <= 2
    unguided = sample_images(model, [PROMPTS[1]], [6], steps=6, guidance=1.0)
    assert _max_difference(alone[0], unguided[0]) > max(batch_rounding, 2) * 4
    solver = sample_images(model, [PROMPTS[1]], [6], steps=6, sampler="dpm-solver")
    assert solver.shape == alone.shape and solver.dtype == torch.uint8


def _max_difference(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((a.int() - b.int()).abs().max())


def test_prompts_can_come_from_the_shards_captions(trained_runs, export, tmp_path, capsys):
    out = tmp_path / "from-shards"
    args = ["--stage", "1", "--checkpoint", str(trained_runs["stage1"]), "--from-shards", str(export)]
    assert generate.main([*args, "--split", "test", "--limit", "3", "--steps", "4", "--out", str(out)]) == 0
    samples = json.loads((out / "manifest.json").read_text())["samples"]
    assert len(samples) == 3 and all(s["source_key"] and "grey steel plate" in s["prompt"] for s in samples)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["samples"] == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "500"], "error: --steps must lie in [1, 100] (the checkpoint's training timesteps), got 500"),
        (["--sampler", "euler"], "error: --sampler must be one of ddim, dpm-solver, got 'euler'"),
        (["--guidance", "0.5"], "error: --guidance must be at least 1 (1 = no guidance), got 0.5"),
        (["--per-class", "3"], "error: --per-class, --switch-at and --inference-steps are Defect-Gen's"),
    ],
)
def test_bad_generation_options_are_one_line(trained_runs, tmp_path, capsys, extra, message):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a crack\n")
    args = ["--stage", "1", "--checkpoint", str(trained_runs["stage1"]), "--prompts", str(prompts)]
    assert generate.main([*args, "--out", str(tmp_path / "o"), *extra]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_the_report_scores_what_it_can_and_says_why_not_the_rest(generated, export, tmp_path):
    report_dir = tmp_path / "report"
    assert (
        synthesis_report.main(["--generated", str(generated), "--shards", str(export), "--report", str(report_dir)])
        == 0
    )
    report = json.loads((report_dir / "report.json").read_text())
    assert report["realism"]["inception"] == {
        "available": False,
        "reason": "no Inception weights file given (--inception PATH to the FID Inception weights)",
    }
    assert report["inception_score"]["available"] is False
    assert "no CLIP weights" in report["clip_score"]["reason"]
    local = report["realism"]["local:imdd-tiny-clip"]
    assert local["available"] and local["fid"] >= 0 and local["generated_images"] == 6 and local["real_images"] == 12
    assert report["random_frozen"] == ["vae", "text_tower", "image_tower"]
    with Image.open(report_dir / "report.png") as png:
        assert png.size[0] > 500


def test_caption_dropout_empties_the_configured_share_of_captions():
    model = LatentDiffusion(load_config("tiny", ["diffusion.caption_dropout=0.3"]))
    captions = [f"caption {i}" for i in range(2000)]
    dropped = model.drop_captions(captions, generator=torch.Generator().manual_seed(0))
    share = np.mean([c == "" for c in dropped])
    assert 0.27 < share < 0.33  # binomial(2000, 0.3): 5 standard deviations either side
    assert all(d in ("", c) for c, d in zip(captions, dropped, strict=True))
    model.config.diffusion.caption_dropout = 0.0
    assert model.drop_captions(captions) == captions
