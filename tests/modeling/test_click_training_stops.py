"""Click training stops cleanly: SIGTERM (the platform's cancel) makes it finish its step, save a
resumable checkpoint and exit 143, as the diffusion trainer does; its time budget (``minutes``) ends it
with a checkpoint too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modeling import train
from modeling.core.checkpoint import load_checkpoint

from .sigterm import logged_steps, train_then_sigterm

# Tiny and fast; log every step, never save on schedule: any checkpoint is the one the stop wrote.
TINY = ["image_size=64", "crop_size=64", "source_size=64", "batch_size=2", "log_every=1", "checkpoint_every=100000"]


@pytest.fixture
def pairs(tmp_path) -> Path:
    """Two synthetic images with a bright square defect and its <stem>_mask.png."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for number in range(2):
        image = rng.integers(60, 100, (64, 64, 3), dtype=np.uint8)
        mask = np.zeros((64, 64), dtype=np.uint8)
        mask[20 + number * 8 : 36 + number * 8, 16:32] = 255
        image[mask > 0] = 220
        Image.fromarray(image).save(folder / f"part_{number}.png")
        Image.fromarray(mask).save(folder / f"part_{number}_mask.png")
    return folder


def arguments(pairs: Path, run: Path, *extra: str) -> list[str]:
    args = ["--stage", "click", "--config", "tiny", "--pairs", str(pairs), "--out", str(run), *extra]
    return args + [a for item in TINY for a in ("--set", item)]


@pytest.mark.slow  # a real subprocess: importing torch there takes most of its ~10 s
def test_sigterm_saves_a_resumable_checkpoint_and_exits_143(pairs, tmp_path):
    run = tmp_path / "run"
    returncode, stderr = train_then_sigterm(arguments(pairs, run, "--steps", "100000"), run, wait_s=120)

    assert returncode == train.STOPPED_EXIT_STATUS == 143, stderr[-2000:]
    assert "stopped on request at step" in stderr
    stopped_at = logged_steps(run)[-1]["step"]
    saved = load_checkpoint(run, stage="click")
    assert saved.step == stopped_at >= 2
    assert saved.trainer_state() is not None  # optimizer, schedule and RNG: resumable, not just weights

    assert train.main([*arguments(pairs, run, "--steps", str(stopped_at + 1)), "--resume"]) == 0
    assert [line["step"] for line in logged_steps(run)][-2:] == [stopped_at, stopped_at + 1]


def test_the_time_budget_ends_training_with_a_checkpoint(pairs, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(arguments(pairs, run, "--steps", "100000", "--set", "minutes=0.002")) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["out_of_time"] is True and not result["stopped"]
    assert 1 <= result["step"] < 100000
    assert load_checkpoint(run, stage="click").step == result["step"] == logged_steps(run)[-1]["step"]
