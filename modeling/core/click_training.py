"""Training the learned click segmenter with iteratively simulated clicks (RITM, Sofiiuk et al. 2022).

Each step takes a batch of (image, instance mask) crops, places a first click, lets the model
predict without gradient for 0..max_iterative_clicks rounds (a number drawn per sample), each round
adding the click a careful annotator makes next (the error-region protocol of the benchmark), and
then trains on the last state: the clicks so far plus the previous prediction. So the model learns to correct its own
mistakes, as it must at annotation time.

The click protocol is not defined here: the caller passes a ``ClickSimulator`` (the platform
passes segmentation.evaluation's, the one the benchmark and the tests use), so the model is
trained and scored with one definition of "the next click". This module imports no Django.

Examples come from a dataset version's shards (``examples_from_shards``) or from a folder of
image + ``<stem>_mask.png`` pairs (``examples_from_pairs``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from modeling.core.checkpoint import find_checkpoint, load_checkpoint, load_weights, save_checkpoint
from modeling.core.click_segmenter import (
    LOSSES,
    ClickModelConfig,
    ClickSegmenter,
    ClickTuple,
    click_maps,
    config_from_dict,
    config_to_dict,
)
from modeling.core.click_zoom import zoom_box
from modeling.core.errors import CheckpointError, ConfigError, ShardError
from modeling.core.stopping import stop_on_sigterm

STAGE = "click"
# What a checkpoint saved before a key existed did, where that differs from the key's default today:
# it never saw a zoomed crop (predict on the whole image, no zoomed training examples), predicted
# the first click once, kept only the clicked pixel, trained on BCE + Dice.
BEFORE_THE_KEY_EXISTED: dict[str, Any] = {
    "zoom_in": False,
    "zoom_first_click": False,
    "zoom_share": 0.0,
    "click_law_radius": 0,
    "loss": "bce_dice",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MIN_INSTANCE_PIXELS = 4  # at the working resolution
WARMUP_SHARE = 0.05  # of the steps or of the time budget, whichever ends first


class ClickSimulator(Protocol):
    def first_click(self, truth: np.ndarray) -> tuple[int, int]:
        """(x, y) of the first (positive) click on a non-empty (H, W) bool mask."""

    def next_click(self, prediction: np.ndarray, truth: np.ndarray) -> ClickTuple:
        """The next click given the current prediction; raises ValueError when they are equal."""


@dataclass(frozen=True)
class ClickExample:
    key: str  # where it came from: sample key or file name, and the instance number
    image: np.ndarray  # (S, S, 3) uint8 RGB at the working resolution
    mask: np.ndarray  # (S, S) bool: one instance


def instances_of(mask: np.ndarray, min_pixels: int = MIN_INSTANCE_PIXELS) -> list[np.ndarray]:
    """The 8-connected components of a bool mask with at least min_pixels pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [labels == i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_pixels]


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) >= 0.5
    return image, mask


def examples_from_arrays(key: str, image: np.ndarray, mask: np.ndarray, size: int) -> list[ClickExample]:
    """One example per instance of `mask` (H, W bool) on `image` (H, W, 3 uint8), at size x size."""
    if image.shape[:2] != mask.shape:
        raise ShardError(f"{key}: mask is {mask.shape[::-1]}, image is {image.shape[1::-1]}")
    small_image, small_mask = resize_pair(image, mask, size)
    return [
        ClickExample(key=f"{key}#{number}", image=small_image, mask=instance)
        for number, instance in enumerate(instances_of(small_mask))
    ]


def examples_from_pairs(folder: str | Path, *, size: int, threshold: int = 128) -> list[ClickExample]:
    """Every ``<stem>_mask.png`` in the folder tree beside an image ``<stem>.<png|jpg|...>``; a mask
    pixel is foreground at or above `threshold`. A mask without its image is an error, not a skip."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ShardError(f"{folder} is not a folder of image + <stem>_mask.png pairs")
    examples: list[ClickExample] = []
    masks = sorted(folder.rglob("*_mask.png"))
    if not masks:
        raise ShardError(f"no <stem>_mask.png files under {folder}")
    for mask_path in masks:
        stem = mask_path.name[: -len("_mask.png")]
        image_path = next(
            (mask_path.with_name(stem + s) for s in IMAGE_SUFFIXES if mask_path.with_name(stem + s).is_file()), None
        )
        if image_path is None:
            raise ShardError(f"{mask_path} has no image {stem}.<{'|'.join(s[1:] for s in IMAGE_SUFFIXES)}> beside it")
        image = np.asarray(Image.open(image_path).convert("RGB"))
        mask = np.asarray(Image.open(mask_path).convert("L")) >= threshold
        examples += examples_from_arrays(str(image_path.relative_to(folder)), image, mask, size)
    return examples


def examples_from_shards(spec: str, *, split: str | None, size: int) -> tuple[list[ClickExample], dict[str, int]]:
    """Every mask instance of a dataset version's shards. Box-only regions have no pixels to learn
    from and are counted, not used. Returns the examples and {"samples", "box_only_samples"}."""
    from modeling.core.dataset import decode_sample, iterate_raw_samples
    from modeling.core.shards import resolve_shards

    source = resolve_shards(spec, split)
    examples: list[ClickExample] = []
    counts = {"samples": 0, "box_only_samples": 0}
    for raw in iterate_raw_samples(source.urls):
        sample = decode_sample(raw, source.classes, image_size=size, with_masks=True)
        counts["samples"] += 1
        if not sample["pixel_truth"]:
            counts["box_only_samples"] += 1
            continue
        image = ((sample["pixel_values"].permute(1, 2, 0).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
        for number, mask in enumerate(sample["target_masks"].numpy()):
            examples.append(ClickExample(key=f"{sample['key']}#{number}", image=image, mask=mask))
    return examples, counts


def normalized_focal_loss(logits: torch.Tensor, truth: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """RITM's normalized focal loss: focal weights (1 - p_t)^gamma rescaled to sum to one per image, so
    the few pixels still wrong (a small defect's edge, the region a click just corrected) carry the
    loss once the easy background is learned, at any stage of training. The rescaling is not
    differentiated (RITM's detach_delimeter)."""
    probability = torch.sigmoid(logits)
    p_true = torch.where(truth > 0.5, probability, 1 - probability)
    weight = (1 - p_true) ** gamma
    weight = weight / (weight.sum(dim=(1, 2, 3), keepdim=True).detach() + 1e-8)
    log_p = F.logsigmoid(torch.where(truth > 0.5, logits, -logits))
    return -(weight * log_p).sum(dim=(1, 2, 3)).mean()


def soft_dice_loss(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    probability = torch.sigmoid(logits)
    intersection = (probability * truth).sum(dim=(1, 2, 3))
    dice = 1 - (2 * intersection + 1) / (probability.sum(dim=(1, 2, 3)) + truth.sum(dim=(1, 2, 3)) + 1)
    return dice.mean()


def loss_function(logits: torch.Tensor, truth: torch.Tensor, kind: str = "bce_dice") -> torch.Tensor:
    """logits, truth (B, 1, S, S). ``bce_dice``: binary cross-entropy plus soft Dice (Dice keeps thin and
    small defects from being drowned by background); ``nfl``: the normalized focal loss alone;
    ``nfl_dice``: both of those."""
    if kind == "bce_dice":
        return F.binary_cross_entropy_with_logits(logits, truth) + soft_dice_loss(logits, truth)
    if kind == "nfl":
        return normalized_focal_loss(logits, truth)
    if kind == "nfl_dice":
        return normalized_focal_loss(logits, truth) + soft_dice_loss(logits, truth)
    raise ConfigError(f"unknown click-model loss {kind!r}; losses: {', '.join(LOSSES)}")


def example_view(
    example: ClickExample, config: ClickModelConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The example at the working resolution: the whole image, or (a share ``zoom_share``, and always
    when the instance vanishes at the working resolution) a zoomed crop around the instance as the
    predictor's zoom-in makes one, its margin and position jittered because at annotation time the box
    frames an imperfect prediction."""
    size = config.image_size
    if rng.random() >= config.zoom_share:
        image, mask = resize_pair(example.image, example.mask, size)
        if mask.any():
            return image, mask
    margin = config.zoom_margin * rng.uniform(0.5, 2.0)
    x0, y0, x1, y1 = zoom_box(
        example.mask, [], example.mask.shape, margin=margin, min_fraction=config.zoom_min_fraction, grid=1
    )
    side_x, side_y = x1 - x0, y1 - y0
    height, width = example.mask.shape
    for _ in range(4):  # a shifted box, unless the shift pushes the instance out of it
        left = int(np.clip(x0 + rng.integers(-side_x // 8, side_x // 8 + 1), 0, width - side_x))
        top = int(np.clip(y0 + rng.integers(-side_y // 8, side_y // 8 + 1), 0, height - side_y))
        if example.mask[top : top + side_y, left : left + side_x].any():
            x0, y0 = left, top
            break
    crop_mask = example.mask[y0 : y0 + side_y, x0 : x0 + side_x]
    image, mask = resize_pair(example.image[y0 : y0 + side_y, x0 : x0 + side_x], crop_mask, size)
    if not mask.any():  # thinner than a pixel even zoomed: keep its pixels
        mask = cv2.resize(crop_mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    return image, mask


def augmented_crop(
    image: np.ndarray, mask: np.ndarray, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random rotation by 90 degrees, flip, mild brightness/contrast change, and a crop holding the
    instance's centre (surfaces have no up or left)."""
    turns = int(rng.integers(4))
    image, mask = np.rot90(image, turns), np.rot90(mask, turns)
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    size = image.shape[0]
    if crop < size:
        rows, cols = np.nonzero(mask)
        pick = int(rng.integers(len(rows)))
        cy, cx = int(rows[pick]), int(cols[pick])
        top = int(np.clip(cy - rng.integers(crop // 4, 3 * crop // 4 + 1), 0, size - crop))
        left = int(np.clip(cx - rng.integers(crop // 4, 3 * crop // 4 + 1), 0, size - crop))
        image, mask = image[top : top + crop, left : left + crop], mask[top : top + crop, left : left + crop]
    gain, offset = rng.uniform(0.8, 1.2), rng.uniform(-20, 20)
    image = np.clip(image.astype(np.float32) * gain + offset, 0, 255)
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def encode_for_simulation(model: ClickSegmenter, images: torch.Tensor) -> list[torch.Tensor]:
    """The batch's image features for the simulated rounds: encoded once, in eval mode and without
    gradient, because the encoder sees only the image and every round of a step shares it."""
    model.eval()
    with torch.no_grad():
        features = model.encode(images)
    model.train()
    return features


def simulate_round(
    model: ClickSegmenter,
    features: list[torch.Tensor],
    truths: list[np.ndarray],
    clicks: list[list[ClickTuple]],
    previous: list[np.ndarray | None],
    simulator: ClickSimulator,
    radius: int,
) -> list[np.ndarray | None]:
    """Predict with the decoder alone (on ``encode_for_simulation``'s features), without gradient, and
    add each sample's next click; returns the new previous masks."""
    size = truths[0].shape[-1]
    maps = torch.from_numpy(
        np.stack(
            [
                click_maps(c, p, size=size, source_shape=(size, size), radius=radius)
                for c, p in zip(clicks, previous, strict=True)
            ]
        )
    ).to(features[0].device)
    if features[0].is_contiguous(memory_format=torch.channels_last):
        maps = maps.contiguous(memory_format=torch.channels_last)
    model.eval()
    with torch.no_grad():
        predictions = (model.decode(features, maps)[:, 0] > 0).cpu().numpy()
    model.train()
    for index, prediction in enumerate(predictions):
        try:
            clicks[index].append(simulator.next_click(prediction, truths[index]))
        except ValueError:  # perfect already: nothing to click, keep the state
            continue
    return list(predictions)


def _check_examples(examples: list[ClickExample], config: ClickModelConfig) -> None:
    if not examples:
        raise ShardError("no mask instances to train the click segmenter on")
    for example in examples:
        if example.image.shape[:2] != (config.source_size, config.source_size):
            raise ConfigError(
                f"example {example.key} is {example.image.shape[:2]}; examples must be at source_size "
                f"{config.source_size} (the model works at {config.image_size}, zoomed crops are cut from source_size)"
            )


def _resume(
    out_dir: Path,
    config: ClickModelConfig,
    model: ClickSegmenter,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
    device: torch.device,
) -> tuple[int, float]:
    """Weights, optimizer, schedule and random states from the newest checkpoint, which must have been
    trained with the same config (but for steps and minutes); returns its step and the seconds trained."""
    checkpoint = load_checkpoint(out_dir / "checkpoints", stage=STAGE)
    saved = config_from_dict(BEFORE_THE_KEY_EXISTED | checkpoint.meta["config"])
    budget_keys = {"steps": 0, "minutes": 0, "budget_clock": "wall"}
    if config_to_dict(saved) | budget_keys != config_to_dict(config) | budget_keys:
        raise ConfigError(f"{checkpoint.path} was trained with another config; resume with the same one")
    load_weights(model, checkpoint.state_dict(device), source=str(checkpoint.path))
    state = checkpoint.trainer_state()
    if state is None:
        raise CheckpointError(f"{checkpoint.path} has no optimizer state to resume from")
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    return checkpoint.step, float(state.get("elapsed_s", 0.0))


def _first_clicks(
    truths: list[np.ndarray], config: ClickModelConfig, simulator: ClickSimulator, rng: np.random.Generator
) -> list[list[ClickTuple]]:
    """One positive click per instance: a random pixel of it (a share random_first_click) or its centre."""
    clicks: list[list[ClickTuple]] = []
    for truth in truths:
        if rng.random() < config.random_first_click:
            rows, cols = np.nonzero(truth)
            pick = int(rng.integers(len(rows)))
            clicks.append([(int(cols[pick]), int(rows[pick]), True)])
        else:
            clicks.append([(*simulator.first_click(truth), True)])
    return clicks


def _clicked_batch(
    model: ClickSegmenter,
    examples: list[ClickExample],
    config: ClickModelConfig,
    simulator: ClickSimulator,
    rng: np.random.Generator,
    *,
    device: torch.device,
    memory_format: torch.memory_format,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[list[ClickTuple]]]:
    """A training batch as the annotator's next click sees it: augmented crops, a first click, then
    0..max_iterative_clicks clicks simulated on the model's own predictions (without gradient).
    Returns images, click maps, truths (B, 1, S, S) and the clicks."""
    batch = [examples[int(i)] for i in rng.integers(len(examples), size=config.batch_size)]
    crops = [augmented_crop(*example_view(example, config, rng), config.crop_size, rng) for example in batch]
    images = (
        torch.from_numpy(np.stack([c[0] for c in crops]) / 127.5 - 1.0)
        .permute(0, 3, 1, 2)
        .float()
        .to(device)
        .contiguous(memory_format=memory_format)
    )
    truths = [c[1] for c in crops]
    clicks = _first_clicks(truths, config, simulator, rng)
    previous: list[np.ndarray | None] = [None] * len(truths)
    # Each sample its own number of rounds, so a batch mixes first clicks and later ones as the
    # running statistics of BatchNorm (used at prediction) do. With one number per batch, every
    # batch was all first clicks or all later ones and its batch statistics told the network which:
    # it learned to lean on them, segmented well in training, and at annotation time (running
    # statistics) answered every first click with a blob the size of the click.
    rounds = rng.integers(config.max_iterative_clicks + 1, size=len(truths))
    if rounds.any():
        features = encode_for_simulation(model, images)
        for number in range(int(rounds.max())):
            going_on = np.flatnonzero(rounds > number)  # the others keep their clicks and previous mask
            rows = torch.from_numpy(going_on).to(device)
            answers = simulate_round(
                model,
                [feature.index_select(0, rows) for feature in features],
                [truths[i] for i in going_on],
                [clicks[i] for i in going_on],  # the same lists: the next clicks are added to them
                [previous[i] for i in going_on],
                simulator,
                config.click_radius,
            )
            for i, answer in zip(going_on, answers, strict=True):
                previous[i] = answer
    size = config.crop_size
    maps = np.stack(
        [
            click_maps(c, p, size=size, source_shape=(size, size), radius=config.click_radius)
            for c, p in zip(clicks, previous, strict=True)
        ]
    )
    truth_tensor = torch.from_numpy(np.stack(truths)).float().unsqueeze(1).to(device)
    return images, torch.from_numpy(maps).to(device).contiguous(memory_format=memory_format), truth_tensor, clicks


def _mean_iou(logits: torch.Tensor, truth: torch.Tensor) -> float:
    with torch.no_grad():
        predicted, wanted = logits > 0, truth > 0
        union = (predicted | wanted).sum(dim=(1, 2, 3)).clamp(min=1)
        return float(((predicted & wanted).sum(dim=(1, 2, 3)) / union).mean())


def _prediction_iou(model: ClickSegmenter, images: torch.Tensor, maps: torch.Tensor, truth: torch.Tensor) -> float:
    """The mean IoU on the batch as the model predicts at annotation time: eval mode (BatchNorm's
    running statistics, not the batch's) and float32. Logged beside train_iou, the training forward's:
    far below it, the model learned something from its batches that a prediction does not have."""
    model.eval()
    with torch.no_grad():
        iou = _mean_iou(model(images.float(), maps.float()), truth)
    model.train()
    return iou


class _TimeBudget:
    """Seconds trained, earlier runs of a resumed training included, against config.minutes (0: none),
    on the clock config.budget_clock names: the wall clock, or the process's CPU time."""

    def __init__(self, minutes: float, clock: str = "wall"):
        self.seconds = minutes * 60
        self.clock = time.perf_counter if clock == "wall" else time.process_time
        self.before = 0.0  # trained by earlier runs
        self.started = self.clock()  # this run's start

    def start(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.before + self.clock() - self.started

    def share_spent(self) -> float:
        return self.elapsed() / self.seconds if self.seconds > 0 else 0.0

    def spent(self) -> bool:
        return self.seconds > 0 and self.elapsed() >= self.seconds


def _learning_rate_factor(step: int, *, steps: int, budget: _TimeBudget) -> float:
    """A linear warm-up over the first WARMUP_SHARE of the run, then a cosine, both following whichever
    ends first, the steps or the time budget: a run cut by its budget still ends annealed instead of
    at a high learning rate, and a short budget is not spent mostly warming up (a warm-up of a share
    of the steps took more than half of an 8-minute run of 8000 steps)."""
    progress = min(1.0, max(step / max(1, steps), budget.share_spent()))
    if progress < WARMUP_SHARE:
        return max(progress, 1 / max(1, steps)) / WARMUP_SHARE
    return 0.5 * (1 + math.cos(math.pi * (progress - WARMUP_SHARE) / (1 - WARMUP_SHARE)))


def training_precision(config: ClickModelConfig, device: torch.device) -> str:
    """ "bf16" or "fp32": config.precision, with "auto" resolved for this device (click_segmenter.py)."""
    if config.precision != "auto":
        return config.precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    # torch's own probes of the processor (private, hence the fallback): AMX tiles or AVX-512 BF16.
    native = [
        getattr(torch.cpu, probe, lambda: False) for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    ]
    return "bf16" if device.type == "cpu" and any(probe() for probe in native) else "fp32"


def train_click_model(
    *,
    config: ClickModelConfig,
    examples: list[ClickExample],
    out_dir: str | Path,
    simulator: ClickSimulator,
    device: str | None = None,
    resume: bool = False,
    data_counts: dict[str, int] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train until config.steps, writing metrics.jsonl, config.json and checkpoints/ under out_dir.
    Returns {"step", "checkpoint", "metrics"} like the other stages."""
    _check_examples(examples, config)
    out_dir = Path(out_dir)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu" and config.threads > 0:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = ClickSegmenter(config).to(device)
    # Channels-last convolutions are a third faster on one CPU thread (oneDNN); the weights and the
    # predictions are the same, so checkpoints do not depend on it.
    memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    precision = training_precision(config, device)
    # The simulated rounds and the trained forward pass run under it; the loss is taken in float32.
    autocast = partial(torch.autocast, device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    budget = _TimeBudget(config.minutes, config.budget_clock)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(_learning_rate_factor, steps=config.steps, budget=budget)
    )
    step = 0
    rng = np.random.default_rng(config.seed)
    if resume and find_checkpoint(out_dir / "checkpoints") is not None:
        step, budget.before = _resume(out_dir, config, model, optimizer, schedule, rng, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(
        json.dumps({"stage": STAGE, "model": config_to_dict(config), "train": {"steps": config.steps}}, indent=2)
    )
    metrics_file = (out_dir / "metrics.jsonl").open("a")
    running: dict[str, list[float]] = {"loss": [], "iou": [], "clicks": []}
    last: dict[str, Any] = {}
    budget.start()
    stop = {"requested": False}  # set by SIGTERM (stop_on_sigterm) while the loop runs

    def save(step: int) -> Path:
        meta = {
            "stage": STAGE,
            "step": step,
            "config": config_to_dict(config),
            "examples": len(examples),
            "precision": precision,
            "data": data_counts or {},
            "metrics": last,
        }
        trainer_state = {
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "elapsed_s": budget.elapsed(),
        }
        return save_checkpoint(out_dir, model=model, meta=meta, trainer_state=trainer_state)

    model.train()
    stopped = out_of_time = False
    with stop_on_sigterm(lambda: stop.update(requested=True)):
        while step < config.steps and not (stopped or out_of_time):
            with autocast():
                images, maps, truth_tensor, clicks = _clicked_batch(
                    model, examples, config, simulator, rng, device=device, memory_format=memory_format
                )
                logits = model(images, maps).float()
            loss = loss_function(logits, truth_tensor, config.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            stopped = stop["requested"]
            out_of_time = budget.spent()
            running["loss"].append(float(loss.detach()))
            running["iou"].append(_mean_iou(logits, truth_tensor))
            running["clicks"].append(float(np.mean([len(c) for c in clicks])))
            if step % config.log_every == 0 or step == config.steps or stopped or out_of_time:
                last = {
                    "step": step,
                    "loss": round(float(np.mean(running["loss"])), 5),
                    "train_iou": round(float(np.mean(running["iou"])), 4),
                    "predict_iou": round(_prediction_iou(model, images, maps, truth_tensor), 4),
                    "clicks": round(float(np.mean(running["clicks"])), 2),
                    "lr": schedule.get_last_lr()[0],
                    "seconds": round(budget.elapsed(), 1),
                }
                running = {key: [] for key in running}
                metrics_file.write(json.dumps(last) + "\n")
                metrics_file.flush()
                if log is not None:
                    log(json.dumps(last))
            if step % config.checkpoint_every == 0 or step == config.steps or stopped or out_of_time:
                save(step)
    metrics_file.close()
    folder = find_checkpoint(out_dir / "checkpoints")
    result = {
        "step": step,
        "checkpoint": str(folder) if folder else None,
        "metrics": last,
        "stopped": stopped,
        "precision": precision,
    }
    if out_of_time and not stopped:
        result["out_of_time"] = True  # the time budget (config.minutes) ended it, with a checkpoint
    return result


def load_click_model(path: str | Path, *, device: str | torch.device = "cpu") -> tuple[ClickSegmenter, dict[str, Any]]:
    """The trained segmenter of a click checkpoint (a checkpoint folder or a run folder) and its meta."""
    checkpoint = load_checkpoint(path, stage=STAGE)
    # A checkpoint saved before a key existed behaves as it did then (e.g. it never saw a zoomed crop,
    # so it predicts on the whole image), unless its own config says otherwise.
    model = ClickSegmenter(config_from_dict(BEFORE_THE_KEY_EXISTED | checkpoint.meta["config"]))
    load_weights(model, checkpoint.state_dict(device), source=str(checkpoint.path))
    return model.eval().to(device), checkpoint.meta | {"path": str(checkpoint.path)}
