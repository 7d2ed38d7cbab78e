"""The learned click segmenter of the torch core: it learns real masks from simulated clicks, its image
encoding is cached across clicks, the click protocol it trains with is deterministic, and the CLI
trains it from a folder of pairs or from shards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling.core.click_segmenter import ClickPredictor, ClickSegmenter, load_click_config
from modeling.core.click_training import examples_from_pairs, examples_from_shards, load_click_model
from modeling.core.errors import CheckpointError, ConfigError
from modeling.train import main
from segmentation.clicks import Click
from segmentation.evaluation import ProtocolClicks, iou, next_click, simulate_clicks

# Small enough to overfit three masks in seconds on one thread. STEPS is the least that still learns
# with a margin (the training is seeded): at 128 px, 100 steps reach ~0.86 IoU after ten clicks
# against the 0.75 asserted; 200 steps doubled the slowest fast test for no extra assertion.
SMALL = ["image_size=128", "crop_size=128", "batch_size=4", "log_every=20", "checkpoint_every=1000"]
STEPS = 100


@pytest.fixture
def pairs(real_data, tmp_path) -> Path:
    """Three real MVTec AD bottle defects, as image + <stem>_mask.png pairs."""
    bottle = real_data / "mvtec_ad" / "bottle"
    folder = tmp_path / "pairs"
    folder.mkdir()
    for number in ("000", "001", "002"):
        shutil.copy(bottle / "test" / "broken_large" / f"{number}.png", folder / f"broken_{number}.png")
        shutil.copy(
            bottle / "ground_truth" / "broken_large" / f"{number}_mask.png", folder / f"broken_{number}_mask.png"
        )
    return folder


def ious_by_click(predictor: ClickPredictor, image: np.ndarray, truth: np.ndarray, clicks: int) -> list[float]:
    run = simulate_clicks(
        lambda c, previous: predictor.predict(image, [(k.x, k.y, k.positive) for k in c], previous),
        truth,
        max_clicks=clicks,
    )
    return run.ious + [run.ious[-1]] * (clicks - len(run.ious))  # a run that reached 100% stops early


@pytest.mark.slow  # trains on the real masks: the slowest test of the fast set (23 s in CI)
def test_the_segmenter_learns_real_masks_and_improves_with_clicks(pairs, tmp_path):
    out = tmp_path / "run"
    assert main(["--stage", "click", "--pairs", str(pairs), "--out", str(out), "--steps", str(STEPS)]
                + [arg for item in SMALL for arg in ("--set", item)]) == 0  # fmt: skip
    model, meta = load_click_model(out)
    assert meta["stage"] == "click" and meta["step"] == STEPS and meta["examples"] >= 3
    trained = ClickPredictor(model)
    torch.manual_seed(0)  # the untrained baseline must not depend on which tests ran before in this process
    untrained = ClickPredictor(ClickSegmenter(model.config))
    examples = examples_from_pairs(pairs, size=128)
    # Ten clicks, not five: the second click costs this small model a little IoU (0.00-0.03) before
    # later ones win it back, and CPU training is not bit-for-bit repeatable, so five clicks gained
    # between -0.003 and +0.03 over the first in four runs; ten gained +0.014 to +0.049.
    trained_runs = [ious_by_click(trained, e.image, e.mask, 10) for e in examples]
    untrained_runs = [ious_by_click(untrained, e.image, e.mask, 10) for e in examples]
    first, tenth = np.mean([r[0] for r in trained_runs]), np.mean([r[-1] for r in trained_runs])
    assert tenth > first, trained_runs  # more clicks, better masks
    assert tenth >= 0.75, trained_runs
    assert tenth > np.mean([r[-1] for r in untrained_runs]) + 0.2, (trained_runs, untrained_runs)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["train_iou"] > lines[0]["train_iou"]
    # as it predicts (running statistics) it segments its last batch about as well as in training
    assert lines[-1]["predict_iou"] > lines[-1]["train_iou"] - 0.15, lines[-1]
    assert json.loads((out / "config.json").read_text())["train"]["steps"] == STEPS


def test_later_clicks_reuse_the_cached_image_encoding(real_data):
    torch.manual_seed(0)
    # Without zoom-in every click sees the whole image (zoomed crops: tests/modeling/test_click_zoom.py).
    model = ClickSegmenter(load_click_config("tiny", ["image_size=128", "crop_size=128", "zoom_in=false"]))
    predictor = ClickPredictor(model)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    first = predictor.predict(image, [(100, 100, True)], None)
    second = predictor.predict(image, [(100, 100, True), (300, 300, False)], first)
    assert predictor.encoder_runs == 1
    predictor.predict(other, [(10, 10, True)], None)
    assert predictor.encoder_runs == 2
    # The cached features give exactly what a fresh predictor computes from scratch.
    fresh = ClickPredictor(model).predict(image, [(100, 100, True), (300, 300, False)], first)
    assert np.array_equal(second, fresh)
    assert first.shape == (512, 512) and first.dtype == bool and first[100, 100]


def test_the_click_protocol_is_deterministic(real_data):
    from PIL import Image

    truth = np.asarray(Image.open(real_data / "mvtec_ad/bottle/ground_truth/broken_large/000_mask.png")) > 0

    def brush(clicks, previous):
        mask = np.zeros(truth.shape, dtype=bool) if previous is None else previous.copy()
        for click in clicks[-1:] if previous is not None else clicks:
            mask[max(0, click.y - 20) : click.y + 20, max(0, click.x - 20) : click.x + 20] = click.positive
        return mask

    seen: list[list[list[Click]]] = [[], []]
    for record in seen:
        simulate_clicks(lambda c, p, record=record: record.append(list(c)) or brush(c, p), truth, max_clicks=8)
    assert seen[0] == seen[1] and len(seen[0]) == 8
    # The trainer's adapter is the same protocol: the same first click and the same next clicks.
    protocol = ProtocolClicks()
    assert (*protocol.first_click(truth), True) == tuple(vars(seen[0][0][0]).values())
    prediction = brush(seen[0][2], None)
    expected = next_click(prediction, truth)
    assert protocol.next_click(prediction, truth) == (expected.x, expected.y, expected.positive)
    assert iou(truth, truth) == 1.0


def test_trains_from_a_dataset_versions_shards(export, tmp_path):
    examples, counts = examples_from_shards(str(export), split="train", size=64)
    assert counts["samples"] == 32 and len(examples) >= 32
    assert all(e.image.shape == (64, 64, 3) and e.mask.any() for e in examples)
    out = tmp_path / "run"
    overrides = ["image_size=64", "crop_size=64", "batch_size=2", "log_every=2", "checkpoint_every=2"]
    args = ["--stage", "click", "--shards", str(export), "--out", str(out), "--steps", "4"]
    assert main(args + [arg for item in overrides for arg in ("--set", item)]) == 0
    assert main(args[:-1] + ["6", "--resume"] + [arg for item in overrides for arg in ("--set", item)]) == 0
    _, meta = load_click_model(out)
    assert meta["step"] == 6
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [2, 4, 6]


def test_bad_input_is_refused_with_a_message(pairs, tmp_path, capsys):
    out = str(tmp_path / "run")
    both = ["--stage", "click", "--pairs", str(pairs), "--shards", str(pairs), "--out", out]
    assert main(both) == 2
    assert "--shards or --pairs" in capsys.readouterr().err
    assert main(["--stage", "click", "--pairs", str(pairs), "--out", out, "--few-shot", "3"]) == 2
    assert "does not take --few-shot" in capsys.readouterr().err
    assert main(["--stage", "1", "--pairs", str(pairs), "--out", out]) == 2
    with pytest.raises(ConfigError, match="unknown click-model preset"):
        load_click_config("huge")
    with pytest.raises(ConfigError, match="multiples of 16"):
        load_click_config("tiny", ["image_size=100"])
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_click_model(tmp_path)
    (pairs / "broken_000.png").unlink()
    assert main(["--stage", "click", "--pairs", str(pairs), "--out", out]) == 2
    assert "has no image broken_000" in capsys.readouterr().err
