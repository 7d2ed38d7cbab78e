import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from modeling import evaluate, predict, train
from modeling.core.checkpoint import load_checkpoint
from modeling.core.config import load_config
from modeling.core.dataset import ShardDataset, collate
from modeling.core.shards import resolve_shards
from modeling.core.trainer import Runtime, Trainer, build_model
from tests.modeling.conftest import FAST
from tests.modeling.synthetic_shards import write_export

ROOT = Path(__file__).resolve().parents[2]


def metrics_lines(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_stage_1_trains_from_shards_and_logs_json_lines(trained_runs):
    lines = metrics_lines(trained_runs["stage1"])
    assert [line["step"] for line in lines] == [2, 4]
    assert {"step", "loss", "lr", "samples_per_s", "steps_per_s", "data_wait_fraction"} <= set(lines[-1])
    checkpoint = load_checkpoint(trained_runs["stage1"])
    assert (checkpoint.stage, checkpoint.step) == (1, 4)
    assert checkpoint.meta["weights"]["text_tower"] == {"model": "imdd-tiny-clip", "weights": "random-init"}
    assert checkpoint.meta["dataset_version"]["name"] == "v1"
    assert checkpoint.config.preset == "tiny"


def test_stage_2_starts_from_the_stage_1_backbone_and_records_what_it_trained_on(trained_runs):
    stage1 = load_file(load_checkpoint(trained_runs["stage1"]).path / "model.safetensors")
    checkpoint = load_checkpoint(trained_runs["stage2"])
    stage2 = checkpoint.state_dict()
    assert checkpoint.stage == 2
    for name in ("unet.conv_in.weight", "captioner.projection.0.weight"):
        assert torch.equal(stage2[f"backbone.{name}"], stage1[name])  # the frozen backbone did not move
    assert checkpoint.meta["weights"]["backbone"]["stage_1_checkpoint"].endswith("step-00000004")
    assert set(checkpoint.meta["trained_classes"]) <= {"def-red-scratch", "def-green-dent", "def-blue-crack"}
    assert {"class", "mask_bce", "dice", "grounding"} <= set(metrics_lines(trained_runs["stage2"])[-1])


def test_evaluation_writes_a_json_report_and_a_png(trained_runs, export, tmp_path):
    out = tmp_path / "eval"
    assert evaluate.main(["--checkpoint", str(trained_runs["stage2"]), "--shards", str(export), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 12 and report["split"] == "test"
    assert "def-yellow-stain" in report["held_out_classes"]  # no training sample has it
    assert set(report["segmentation"]["per_class_iou"]) == {
        "background",
        "def-red-scratch",
        "def-green-dent",
        "def-blue-crack",
        "def-yellow-stain",
    }
    for value in (report["classification"]["accuracy"], report["detection"]["map50"], report["segmentation"]["miou"]):
        assert 0.0 <= value <= 1.0
    with Image.open(out / "report.png") as png:
        assert png.size[0] > 500
    open_split = tmp_path / "open"
    assert (
        evaluate.main(
            [
                "--checkpoint",
                str(trained_runs["stage2"]),
                "--shards",
                str(export),
                "--split",
                "open",
                "--out",
                str(open_split),
            ]
        )
        == 0
    )
    report = json.loads((open_split / "report.json").read_text())
    assert report["open_vocabulary"]["classification"]["images"] == 8  # every open-split image is held out


def test_inference_returns_masks_boxes_labels_scores_latency_and_memory(trained_runs, export, tmp_path, capsys):
    image = tmp_path / "part.png"
    Image.new("RGB", (100, 80), (128, 128, 128)).save(image)
    args = ["--checkpoint", str(trained_runs["stage2"]), "--image", str(image), "--categories", "scratch, dent"]
    assert predict.main([*args, "--score-threshold", "0", "--out", str(tmp_path / "p.json")]) == 0
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["latency_s"] > 0 and result["peak_memory_bytes"] > 0
    for detection in result["detections"]:
        assert detection["label"] in ("scratch", "dent")
        x0, y0, x1, y1 = detection["box"]
        assert 0 <= x0 < x1 <= 100 and 0 <= y0 < y1 <= 80


def test_prediction_says_when_the_checkpoint_has_random_frozen_parts(trained_runs, tmp_path, capsys):
    image = tmp_path / "part.png"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(image)
    args = ["--checkpoint", str(trained_runs["stage2"]), "--image", str(image), "--categories", "scratch"]
    assert predict.main([*args, "--out", str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["random_frozen"] == ["vae", "text_tower", "image_tower"]
    assert "warning: randomly initialised frozen vae, text_tower, image_tower" in capsys.readouterr().err


def overfit(stage: int, export: Path, out: Path, steps: int) -> list[float]:
    """Train on one fixed batch of 8 samples; return the loss of every step."""
    torch.manual_seed(0)
    config = load_config("tiny", ["train.warmup_steps=1", "train.lr=0.002", f"train.steps={steps}"])
    source = resolve_shards(str(export), "train")
    samples = [s for _, s in zip(range(8), ShardDataset(source, config.data, train=False), strict=False)]
    batch = collate(samples)
    model = build_model(stage, config)
    trainer = Trainer(stage=stage, config=config, model=model, runtime=Runtime(), out_dir=out, classes=source.classes)
    return [trainer.train_step(batch)["loss"] for _ in range(steps)]


@pytest.mark.slow  # trains each stage for real (5 s each); the fast set keeps the resume and CLI tests
@pytest.mark.parametrize("stage", [1, 2])
def test_the_loss_falls_when_overfitting_eight_samples(stage, export, tmp_path):
    losses = overfit(stage, export, tmp_path, steps=25)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, losses


def test_resume_continues_at_the_saved_step_with_identical_weights(export, tmp_path):
    run = tmp_path / "run"
    args = ["--stage", "1", "--config", "tiny", "--shards", str(export), "--out", str(run)]
    args += [a for s in FAST for a in ("--set", s)]
    assert train.main([*args, "--steps", "4"]) == 0
    saved = load_checkpoint(run)
    assert saved.step == 4

    config = saved.config
    model = build_model(1, config)
    trainer = Trainer(stage=1, config=config, model=model, runtime=Runtime(), out_dir=run, classes=[])
    trainer.restore(saved)
    assert trainer.step == 4
    weights = saved.state_dict()
    assert all(torch.equal(value, weights[name]) for name, value in model.state_dict().items())
    saved_state = saved.trainer_state()["optimizer"]["state"]
    restored_state = trainer.optimizer.state_dict()["state"]
    assert restored_state.keys() == saved_state.keys()
    for index, moments in saved_state.items():
        assert all(torch.equal(restored_state[index][key], value) for key, value in moments.items())
    assert max(int(moments["step"]) for moments in saved_state.values()) == 4

    assert train.main([*args, "--steps", "6", "--resume"]) == 0
    assert [line["step"] for line in metrics_lines(run)] == [2, 4, 6]
    assert load_checkpoint(run).step == 6


def test_a_fresh_run_refuses_a_folder_that_already_holds_a_run(export, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--stage", "1", "--config", "tiny", "--shards", str(export), "--out", str(run), "--steps", "2"]
    args += [a for s in FAST for a in ("--set", s)]
    assert train.main(args) == 0
    saved = (load_checkpoint(run).path / "model.safetensors").read_bytes()
    capsys.readouterr()

    assert train.main(args) == 2  # without --resume: it would train from scratch over the saved run
    assert capsys.readouterr().err.strip() == (
        f"error: {run} already holds a run (checkpoint at step 2); pass --resume to continue it, or choose another --out"
    )
    assert (load_checkpoint(run).path / "model.safetensors").read_bytes() == saved
    assert [line["step"] for line in metrics_lines(run)] == [2]


def test_resume_refuses_a_config_other_than_the_saved_one(export, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--stage", "1", "--config", "tiny", "--shards", str(export), "--out", str(run)]
    args += [a for s in FAST for a in ("--set", s)]
    assert train.main([*args, "--steps", "2"]) == 0
    capsys.readouterr()

    assert train.main([*args, "--steps", "4", "--resume", "--set", "train.lr=0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {run} was trained with another config (train.lr: 0.001 saved, 0.5 given)")
    assert load_checkpoint(run).step == 2


def test_resume_refuses_shards_of_another_dataset_version(export, tmp_path, capsys):
    other = write_export(tmp_path / "other", version="v2")
    run = tmp_path / "run"
    args = ["--stage", "1", "--config", "tiny", "--out", str(run)] + [a for s in FAST for a in ("--set", s)]
    assert train.main([*args, "--shards", str(export), "--steps", "2"]) == 0
    capsys.readouterr()

    assert train.main([*args, "--shards", str(other), "--steps", "4", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {run} was trained on dataset version v1; these shards are of v2"
    assert load_checkpoint(run).step == 2


# The CLI's errors are checked in-process (main() returns the exit status `python -m` exits with):
# a fresh interpreter costs 10 s of imports, and test_no_django.py already runs the CLIs in one.
def test_a_bad_config_fails_with_a_clear_message(export, tmp_path, capsys):
    status = train.main(["--stage", "1", "--config", "enormous", "--shards", str(export), "--out", str(tmp_path)])
    assert status == 2
    assert capsys.readouterr().err.strip() == "error: unknown config preset 'enormous'; known: tiny, sd15, sd15-init"


def test_an_unreachable_shard_fails_with_a_clear_message(export, tmp_path, capsys):
    copy = tmp_path / "v1"
    copy.mkdir()
    (copy / "manifest.json").write_text(export.read_text())  # lists shards that are not there
    status = train.main(["--stage", "1", "--shards", str(copy / "manifest.json"), "--out", str(tmp_path / "o")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith(f"error: shard unreachable: {copy}/v1-train-000000.tar (no such file)")
    assert not (tmp_path / "o" / "checkpoints").exists()


@pytest.mark.slow
def test_torchrun_trains_with_two_ranks_and_only_rank_zero_writes(export, tmp_path):
    run = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    args = ["--stage", "1", "--config", "tiny", "--shards", str(export), "--out", str(run), "--steps", "2"]
    args += [a for s in FAST for a in ("--set", s)]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", "-m", "modeling.train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line["step"] for line in metrics_lines(run)] == [2]  # one writer, not two
    assert load_checkpoint(run).step == 2
