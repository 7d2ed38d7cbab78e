"""The click trainer's simulated rounds (the image encoded once per batch), its losses, and the clicks
being law in the returned mask. Tiny configs, one torch thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling.core.checkpoint import save_checkpoint
from modeling.core.click_segmenter import (
    ClickPredictor,
    ClickSegmenter,
    click_maps,
    config_to_dict,
    load_click_config,
)
from modeling.core.click_training import (
    ClickExample,
    _clicked_batch,
    encode_for_simulation,
    load_click_model,
    loss_function,
    normalized_focal_loss,
    simulate_round,
    train_click_model,
    training_precision,
)
from modeling.core.errors import ConfigError
from segmentation.evaluation import ProtocolClicks

TINY = ["image_size=64", "crop_size=64", "source_size=64", "widths=8,8,8"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def disk_truths(count: int, size: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:size, :size]
    truths = []
    for _ in range(count):
        cx, cy, r = rng.integers(16, 48), rng.integers(16, 48), rng.integers(5, 12)
        truths.append((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)
    return truths


def test_simulated_rounds_on_the_cached_encoding_give_the_clicks_of_the_whole_model():
    torch.manual_seed(0)
    model = ClickSegmenter(load_click_config("tiny", TINY)).train()
    images = torch.rand(4, 3, 64, 64) * 2 - 1
    truths = disk_truths(4)
    simulator = ProtocolClicks()
    first = [[(*simulator.first_click(t), True)] for t in truths]

    # the old path: the whole model (encoder and decoder) for every round
    old_clicks = [list(c) for c in first]
    old_previous: list = [None] * 4
    for _ in range(3):
        maps = torch.from_numpy(
            np.stack(
                [
                    click_maps(c, p, size=64, source_shape=(64, 64), radius=5)
                    for c, p in zip(old_clicks, old_previous, strict=True)
                ]
            )
        )
        model.eval()
        with torch.no_grad():
            old_previous = list((model(images, maps)[:, 0] > 0).numpy())
        model.train()
        for index, prediction in enumerate(old_previous):
            try:
                old_clicks[index].append(simulator.next_click(prediction, truths[index]))
            except ValueError:
                continue

    new_clicks = [list(c) for c in first]
    new_previous: list = [None] * 4
    features = encode_for_simulation(model, images)
    for _ in range(3):
        new_previous = simulate_round(model, features, truths, new_clicks, new_previous, simulator, 5)

    assert new_clicks == old_clicks
    assert all(np.array_equal(a, b) for a, b in zip(new_previous, old_previous, strict=True))
    assert model.training  # left in training mode for the step that follows


def test_a_training_batch_mixes_first_clicks_and_later_ones():
    """BatchNorm normalizes a training batch by its own statistics and a prediction by running ones,
    the mixture of every batch. A batch of first clicks only (one round count per batch) told the
    network its state through its statistics: it predicted well in training and a click-sized blob
    at annotation time. Each sample draws its own number of simulated rounds."""
    config = load_click_config("tiny", TINY + ["batch_size=8", "max_iterative_clicks=4"])
    torch.manual_seed(0)
    model = ClickSegmenter(config).train()
    rng = np.random.default_rng(0)
    image = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    examples = [ClickExample(key=str(i), image=image, mask=truth) for i, truth in enumerate(disk_truths(8))]
    click_counts = []
    for _ in range(3):
        *_, clicks = _clicked_batch(
            model,
            examples,
            config,
            ProtocolClicks(),
            rng,
            device=torch.device("cpu"),
            memory_format=torch.contiguous_format,
        )
        click_counts.append(sorted(len(c) for c in clicks))

    assert all(len(set(counts)) > 1 for counts in click_counts), click_counts
    assert all(1 <= count <= 5 for counts in click_counts for count in counts)


def predictor_with(click_law_radius: int) -> ClickPredictor:
    torch.manual_seed(0)
    config = load_click_config("tiny", TINY + ["zoom_in=false", f"click_law_radius={click_law_radius}"])
    return ClickPredictor(ClickSegmenter(config))


def test_a_positive_and_a_negative_click_are_law_within_their_radius():
    image = np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    clicks = [(40, 40, True), (90, 90, False)]
    yy, xx = np.mgrid[:128, :128]
    near_positive = (xx - 40) ** 2 + (yy - 40) ** 2 <= 16
    near_negative = (xx - 90) ** 2 + (yy - 90) ** 2 <= 16
    # a previous mask that says the opposite of both clicks around them
    previous = near_negative | ~near_positive

    mask = predictor_with(4).predict(image, clicks, previous)

    assert mask[near_positive].all()
    assert not mask[near_negative].any()


def test_a_later_click_overrules_an_earlier_one_where_their_disks_meet():
    image = np.zeros((128, 128, 3), dtype=np.uint8)
    mask = predictor_with(4).predict(image, [(60, 60, True), (63, 60, False)], None)
    assert not mask[60, 63] and not mask[60, 61]  # the negative click came last
    assert mask[60, 57]  # beyond the negative disk, the positive one holds


def test_with_radius_zero_only_the_clicked_pixels_are_law():
    image = np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    predictor = predictor_with(0)
    free = predictor.probabilities(image, [(40, 40, True), (90, 90, False)], None) >= 0.5
    mask = predictor.predict(image, [(40, 40, True), (90, 90, False)], None)
    free[40, 40], free[90, 90] = True, False
    assert np.array_equal(mask, free)


def test_a_checkpoint_saved_before_the_click_law_and_loss_keys_keeps_its_behaviour(tmp_path):
    config = load_click_config("tiny", TINY + ["click_law_radius=3", "loss=nfl"])
    old_keys = {k: v for k, v in config_to_dict(config).items() if k not in ("click_law_radius", "loss")}
    for name, saved in (("old", old_keys), ("new", config_to_dict(config))):
        save_checkpoint(
            tmp_path / name, model=ClickSegmenter(config), meta={"stage": "click", "step": 1, "config": saved}
        )

    old = load_click_model(tmp_path / "old")[0].config
    new = load_click_model(tmp_path / "new")[0].config
    assert (old.click_law_radius, old.loss) == (0, "bce_dice")
    assert (new.click_law_radius, new.loss) == (3, "nfl")


def test_the_normalized_focal_loss_weighs_the_wrong_pixels():
    truth = torch.zeros(1, 1, 8, 8)
    truth[..., :2, :2] = 1
    right = torch.where(truth > 0, 6.0, -6.0)
    one_wrong = right.clone()
    one_wrong[..., 0, 0] = -6.0  # a missed foreground pixel
    assert normalized_focal_loss(right, truth) < normalized_focal_loss(one_wrong, truth)
    # nearly all the weight goes to the one wrong pixel: the loss is close to its log-loss
    assert normalized_focal_loss(one_wrong, truth).item() == pytest.approx(6.0, abs=0.1)
    for kind in ("bce_dice", "nfl", "nfl_dice"):
        assert torch.isfinite(loss_function(one_wrong, truth, kind))


@pytest.mark.parametrize(
    ("override", "message"), [("loss=hinge", "unknown loss"), ("click_law_radius=-1", "click_law_radius")]
)
def test_bad_loss_or_click_law_settings_are_refused_by_name(override, message):
    with pytest.raises(ConfigError, match=message):
        load_click_config("tiny", [override])


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ConfigError, match="precision must be one of auto, bf16, fp32, got 'fp16'"):
        load_click_config("tiny", ["precision=fp16"])


@pytest.mark.parametrize(
    ("setting", "amx", "avx512_bf16", "expected"),
    [
        ("auto", False, False, "fp32"),  # bf16 would be emulated: slower than float32
        ("auto", True, False, "bf16"),
        ("auto", False, True, "bf16"),
        ("bf16", False, False, "bf16"),  # asked for by name: as asked
        ("fp32", True, True, "fp32"),
    ],
)
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it(monkeypatch, setting, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    config = load_click_config("tiny", [f"precision={setting}"])
    assert training_precision(config, torch.device("cpu")) == expected


def test_bf16_training_computes_in_bf16_and_keeps_float32_weights(tmp_path):
    rng = np.random.default_rng(0)
    examples = [
        ClickExample(key=f"disk#{i}", image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), mask=truth)
        for i, truth in enumerate(disk_truths(6))
    ]
    losses = {}
    for precision in ("fp32", "bf16"):
        config = load_click_config("tiny", TINY + ["steps=1", "minutes=0", "log_every=1", f"precision={precision}"])
        result = train_click_model(
            config=config, examples=examples, out_dir=tmp_path / precision, simulator=ProtocolClicks(), device="cpu"
        )
        assert result["precision"] == precision
        losses[precision] = result["metrics"]["loss"]
        model, meta = load_click_model(result["checkpoint"])
        assert meta["precision"] == precision
        assert {p.dtype for p in model.parameters()} == {torch.float32}
    # Same seed, same batch: the losses differ only by bfloat16's rounding, which shows it was used.
    assert losses["bf16"] != losses["fp32"]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)
