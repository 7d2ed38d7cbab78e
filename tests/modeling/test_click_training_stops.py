"""Click training stops cleanly: SIGTERM (the platform's cancel) makes it finish its step, save a
resumable checkpoint and exit 143, as the diffusion trainer does; its time budget (``minutes``) ends it
with a checkpoint too, on the wall clock or the CPU clock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modeling import train
from modeling.core.checkpoint import load_checkpoint
from modeling.core.click_segmenter import load_click_config
from modeling.core.click_training import _learning_rate_factor, _TimeBudget
from modeling.core.errors import ConfigError

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


def test_the_cpu_clock_counts_computing_not_waiting():
    wall, cpu = _TimeBudget(1.0, "wall"), _TimeBudget(1.0, "cpu")
    time.sleep(0.2)  # waiting for a core, as a run on a shared machine does
    assert wall.elapsed() >= 0.2
    assert cpu.elapsed() < 0.1


def test_an_unknown_budget_clock_is_refused_by_name():
    with pytest.raises(ConfigError, match="budget_clock"):
        load_click_config("tiny", ["budget_clock=sundial"])


def test_a_short_time_budget_is_not_spent_warming_up():
    budget = _TimeBudget(1.0, "wall")
    budget.before = 6.0  # a tenth of the minute trained, in only 10 of 8000 steps
    assert _learning_rate_factor(10, steps=8000, budget=budget) > 0.95
    budget.before = 60.0
    assert _learning_rate_factor(10, steps=8000, budget=budget) == pytest.approx(0.0, abs=1e-6)


def test_without_a_time_budget_the_schedule_follows_the_steps():
    budget = _TimeBudget(0.0, "wall")
    factors = [_learning_rate_factor(step, steps=100, budget=budget) for step in range(100)]
    assert factors[0] < factors[4] <= 1.0 == max(factors)  # warm-up over the first twentieth
    assert factors[5:] == sorted(factors[5:], reverse=True) and factors[-1] < 0.01  # then annealed
