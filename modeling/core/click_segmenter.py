"""The learned interactive segmenter (Defect-Click / RITM style): clicks on an image in, a mask out.

The network is split in two so that an annotator's later clicks are cheap:

- ``encode(image)``: a small convolutional encoder of the RGB image alone, run once per image; its
  features (strides 2, 4, 8, ...) are cached by ``ClickPredictor``;
- ``decode(features, click_maps)``: the light head, run on every click. It encodes the three click
  channels (positive disks, negative disks, the previous mask), adds them to the image features at
  each stride, widens the receptive field with dilated residual blocks at the deepest stride and
  upsamples back (a U-Net decoder), giving logits at half the working resolution, then bilinear to full.

The image is resized to ``image_size`` (the working resolution) for both parts; the mask comes back
at the caller's size. After the first click ``ClickPredictor`` zooms in (click_zoom.py): it predicts
in a box around the previous mask and the clicks, resized to the working resolution, and pastes the
result back; the encoding is cached per (image, box). Clicks are plain ``(x, y, positive)`` tuples in the caller's pixels: this
module imports nothing of the platform. Pure torch + numpy + OpenCV.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from modeling.core.click_zoom import Box, crop_clicks, paste_back, zoom_box
from modeling.core.errors import ConfigError

ClickTuple = tuple[int, int, bool]  # (x column, y row, positive)


@dataclass(frozen=True)
class ClickModelConfig:
    preset: str = "tiny"
    image_size: int = 256  # working resolution: a 512 asset is resized to this
    widths: tuple[int, ...] = (16, 32, 64, 96)  # encoder channels at strides 2, 4, 8, 16
    head_dilations: tuple[int, ...] = (1, 2, 4)  # one residual block per entry at the deepest stride
    click_radius: int = 5  # click disks, in working-resolution pixels (RITM uses 5)
    # zoom-in (click_zoom.py): after the first click, predict again in a box around the mask and clicks
    zoom_in: bool = True
    zoom_first_click: bool = True  # the first click too: predict on the whole image, then again zoomed on that
    zoom_margin: float = 0.4  # the box grows by this share of its side on each side
    zoom_min_fraction: float = 0.2  # the box is at least this share of the image's side
    # Clicks are law: the returned mask holds every pixel within this many of the caller's pixels of
    # a click to that click (foreground for a positive one, background for a negative one), later
    # clicks winning; 0: only the clicked pixel itself.
    click_law_radius: int = 0
    # training
    steps: int = 2000
    batch_size: int = 8
    crop_size: int = 160  # training crops of the working-resolution image (the net is fully convolutional)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    max_iterative_clicks: int = 4  # clicks simulated (without gradient) before the trained one, 0..N
    random_first_click: float = 0.5  # share of first clicks at a random pixel of the instance, not its centre
    # One of LOSSES (click_training.loss_function). RITM's normalized focal loss plus Dice: 7.76 clicks
    # at NoC@85 on held-out real masks against 8.28 for BCE + Dice (docs/performance.md, clicks).
    loss: str = "nfl_dice"
    seed: int = 0
    log_every: int = 25
    checkpoint_every: int = 500
    threads: int = 1  # CPU threads when training on the CPU
    # The training step's arithmetic: "bf16" runs the convolutions in bfloat16 (torch.autocast; the
    # weights, the optimizer and the loss stay float32), "fp32" does not, "auto" picks bf16 where the
    # processor computes it natively (a CUDA GPU that supports it; a CPU with AVX-512 BF16 or AMX,
    # where a step takes about half the time) and fp32 elsewhere, where bf16 would be emulated and slow.
    # Inference is always float32: a checkpoint predicts the same whichever trained it.
    precision: str = "auto"
    minutes: float = 30.0  # training time budget: stop with a checkpoint after this long (0: no limit)
    # The budget's clock: "wall", or "cpu" (the process's CPU time, all its threads: on a shared
    # machine a run gets its minutes of computing, however long it waits for a core).
    budget_clock: str = "wall"
    source_size: int = 512  # examples are kept at this size; zoomed training crops are cut from it
    zoom_share: float = 0.7  # share of training examples that are zoomed crops around the instance


LOSSES = ("bce_dice", "nfl", "nfl_dice")
PRECISIONS = ("auto", "bf16", "fp32")

PRESETS: dict[str, ClickModelConfig] = {
    "tiny": ClickModelConfig(),
    # A paper-size model for a GPU: the full 512 asset, a wider and deeper encoder and head.
    "paper": ClickModelConfig(
        preset="paper",
        image_size=512,
        widths=(32, 64, 128, 256, 384),
        head_dilations=(1, 2, 4, 8, 1, 2, 4, 8),
        click_radius=5,
        steps=40000,
        batch_size=32,
        crop_size=320,
        lr=5e-4,
        max_iterative_clicks=6,
        zoom_share=0.5,  # not validated at this size: as it was
        checkpoint_every=2000,
        log_every=100,
        threads=0,
        minutes=0.0,
    ),
}


def load_click_config(name: str, overrides: Sequence[str] = ()) -> ClickModelConfig:
    """A preset by name, then ``key=value`` overrides; a dotted prefix (``model.image_size``, ``train.lr``)
    is accepted, as the admin asks for one, and ignored: the keys are unique."""
    if name not in PRESETS:
        raise ConfigError(f"unknown click-model preset {name!r}; presets: {', '.join(PRESETS)}")
    return apply_overrides(PRESETS[name], overrides)


def apply_overrides(config: ClickModelConfig, overrides: Sequence[str]) -> ClickModelConfig:
    known = {f.name: f for f in fields(ClickModelConfig)}
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip().split(".")[-1]
        if not sep or key not in known:
            raise ConfigError(f"bad click-model override {item!r}; keys: {', '.join(known)}")
        current = getattr(config, key)
        try:
            if isinstance(current, tuple):
                changes[key] = tuple(int(part) for part in value.strip("()[] ").split(",") if part.strip())
            elif isinstance(current, bool):
                changes[key] = value.lower() in ("1", "true", "yes")
            else:
                changes[key] = type(current)(value)
        except ValueError:
            raise ConfigError(f"click-model override {item!r}: {value!r} is not a {type(current).__name__}") from None
    return check_config(replace(config, **changes))


def check_config(config: ClickModelConfig) -> ClickModelConfig:
    _check_sizes(config)
    _check_zoom_and_clicks(config)
    _check_training(config)
    return config


def _check_sizes(config: ClickModelConfig) -> None:
    stride = 2 ** len(config.widths)
    if len(config.widths) < 3:
        raise ConfigError("widths needs at least three stages (strides 2, 4, 8)")
    if config.image_size % stride or config.crop_size % stride:
        raise ConfigError(f"image_size and crop_size must be multiples of {stride} (the encoder's stride)")
    if config.crop_size > config.image_size:
        raise ConfigError("crop_size cannot exceed image_size")
    if config.source_size < config.image_size:
        raise ConfigError(f"source_size ({config.source_size}) cannot be below image_size ({config.image_size})")


def _check_zoom_and_clicks(config: ClickModelConfig) -> None:
    if not 0 <= config.zoom_share <= 1:
        raise ConfigError(f"zoom_share must lie in [0, 1], got {config.zoom_share}")
    if config.zoom_margin < 0:
        raise ConfigError(f"zoom_margin cannot be negative, got {config.zoom_margin}")
    if not 0 < config.zoom_min_fraction <= 1:
        raise ConfigError(f"zoom_min_fraction must lie in (0, 1], got {config.zoom_min_fraction}")
    if config.click_law_radius < 0:
        raise ConfigError(f"click_law_radius cannot be negative, got {config.click_law_radius}")


def _check_training(config: ClickModelConfig) -> None:
    if config.loss not in LOSSES:
        raise ConfigError(f"unknown loss {config.loss!r}; losses: {', '.join(LOSSES)}")
    if config.precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")
    if config.budget_clock not in ("wall", "cpu"):
        raise ConfigError(f"budget_clock must be wall or cpu, got {config.budget_clock!r}")
    if config.minutes < 0:
        raise ConfigError(f"minutes cannot be negative (0 means no limit), got {config.minutes}")


def config_to_dict(config: ClickModelConfig) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(config).items()}


def config_from_dict(values: dict[str, Any]) -> ClickModelConfig:
    known = {f.name for f in fields(ClickModelConfig)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"click-model config has unknown keys {sorted(unknown)}")
    return check_config(ClickModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}))


def conv_bn(inputs: int, outputs: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.first = conv_bn(channels, channels, dilation=dilation)
        self.second = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.second(self.first(x)))


class ClickSegmenter(nn.Module):
    """encode(image) once per image; decode(features, click_maps) per click. See the module docstring."""

    def __init__(self, config: ClickModelConfig):
        super().__init__()
        self.config = config
        widths = config.widths
        self.encoder = nn.ModuleList()
        previous = 3
        for width in widths:
            self.encoder.append(nn.Sequential(conv_bn(previous, width, stride=2), ResidualBlock(width)))
            previous = width
        # Click maps reach every stride through their own strided convolutions (cheap: 3 channels in).
        self.click_encoder = nn.ModuleList()
        previous = 3
        for width in widths:
            self.click_encoder.append(conv_bn(previous, width, stride=2))
            previous = width
        deepest = widths[-1]
        self.context = nn.Sequential(*(ResidualBlock(deepest, d) for d in config.head_dilations))
        self.up = nn.ModuleList()
        for level in range(len(widths) - 1, 0, -1):
            self.up.append(conv_bn(widths[level] + widths[level - 1], widths[level - 1]))
        self.logits = nn.Conv2d(widths[0], 1, 1)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image (B, 3, S, S) in [-1, 1] -> features at strides 2, 4, 8, ..."""
        features, x = [], image
        for stage in self.encoder:
            x = stage(x)
            features.append(x)
        return features

    def decode(self, features: list[torch.Tensor], click_maps: torch.Tensor) -> torch.Tensor:
        """click_maps (B, 3, S, S): positive disks, negative disks, previous mask -> logits (B, 1, S, S)."""
        fused, x = [], click_maps
        for level, stage in enumerate(self.click_encoder):
            x = stage(x)
            fused.append(features[level] + x)
        x = self.context(fused[-1])
        for index, stage in enumerate(self.up):
            skip = fused[len(fused) - 2 - index]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = stage(torch.cat([x, skip], dim=1))
        return F.interpolate(self.logits(x), size=click_maps.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, image: torch.Tensor, click_maps: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(image), click_maps)


def image_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, size, size) float in [-1, 1]."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0).contiguous()


def click_maps(
    clicks: Sequence[ClickTuple],
    previous_mask: np.ndarray | None,
    *,
    size: int,
    source_shape: tuple[int, int],
    radius: int,
) -> np.ndarray:
    """(3, size, size) float32: positive disks, negative disks and the previous mask, on the working grid.

    clicks and previous_mask are in the caller's pixels (an image of source_shape = (H, W))."""
    height, width = source_shape
    maps = np.zeros((3, size, size), dtype=np.float32)
    for x, y, positive in clicks:
        centre = (int((x + 0.5) * size / width), int((y + 0.5) * size / height))
        cv2.circle(maps[0 if positive else 1], centre, radius, 1.0, -1)
    if previous_mask is not None:
        previous = previous_mask.astype(np.float32)
        if previous.shape != (size, size):
            previous = cv2.resize(previous, (size, size), interpolation=cv2.INTER_AREA)
        maps[2] = previous
    return maps


class ClickPredictor:
    """Runs a ClickSegmenter for an annotator: the image encoding is cached per image (by content),
    so every click after the first costs only the head. Safe to share between a server's threads
    (the cache is locked; two threads may encode the same new image once each)."""

    def __init__(self, model: ClickSegmenter, *, device: str | torch.device = "cpu", cache_size: int = 8):
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.size = model.config.image_size
        self.cache: OrderedDict[str, list[torch.Tensor]] = OrderedDict()
        self.cache_size = cache_size
        self.encoder_runs = 0  # how many images were encoded (tests and benchmarks read it)
        self.lock = threading.Lock()

    def features(self, image: np.ndarray, box: Box | None = None) -> list[torch.Tensor]:
        """The encoding of the image, or of its crop ``box`` resized to the working resolution; cached."""
        key = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + str(image.shape) + str(box)
        with self.lock:
            cached = self.cache.get(key)
            if cached is not None:
                self.cache.move_to_end(key)
                return cached
        view = image if box is None else image[box[1] : box[3], box[0] : box[2]]
        with torch.inference_mode():
            features = self.model.encode(image_tensor(np.ascontiguousarray(view), self.size).to(self.device))
        with self.lock:
            self.encoder_runs += 1
            self.cache[key] = features
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return features

    def zoom_box(self, image: np.ndarray, clicks: Sequence[ClickTuple], previous_mask: np.ndarray | None) -> Box | None:
        """The crop the next prediction is made in, or None for the whole image: the first click (no
        previous mask yet) and a model with zoom_in off see the whole image."""
        config = self.model.config
        if not config.zoom_in or previous_mask is None:
            return None
        box = zoom_box(
            previous_mask, clicks, image.shape[:2], margin=config.zoom_margin, min_fraction=config.zoom_min_fraction
        )
        return None if box == (0, 0, image.shape[1], image.shape[0]) else box

    def probabilities(
        self, image: np.ndarray, clicks: Sequence[ClickTuple], previous_mask: np.ndarray | None
    ) -> np.ndarray:
        """(H, W) float32 foreground probability at the image's own size. With a zoom box, pixels
        outside it keep the previous mask. With zoom_first_click, the first click's whole-image
        prediction is the previous mask of a second, zoomed one (twice the first click's cost)."""
        if not clicks:
            raise ValueError("at least one click is needed")
        whole = self.single_pass(image, clicks, previous_mask)
        config = self.model.config
        if previous_mask is None and config.zoom_in and config.zoom_first_click:
            first = whole >= 0.5
            for x, y, positive in clicks:
                first[y, x] = positive
            if first.any():
                return self.single_pass(image, clicks, first)
        return whole

    def single_pass(
        self, image: np.ndarray, clicks: Sequence[ClickTuple], previous_mask: np.ndarray | None
    ) -> np.ndarray:
        box = self.zoom_box(image, clicks, previous_mask)
        features = self.features(image, box)
        if box is None:
            view_clicks, view_previous, view_shape = list(clicks), previous_mask, image.shape[:2]
        else:
            x0, y0, x1, y1 = box
            view_clicks = crop_clicks(clicks, box)
            view_previous = previous_mask[y0:y1, x0:x1] if previous_mask is not None else None
            view_shape = (y1 - y0, x1 - x0)
        maps = click_maps(
            view_clicks, view_previous, size=self.size, source_shape=view_shape, radius=self.model.config.click_radius
        )
        with torch.inference_mode():
            logits = self.model.decode(features, torch.from_numpy(maps).unsqueeze(0).to(self.device))
        probability = torch.sigmoid(logits[0, 0]).float().cpu().numpy()
        if box is not None:
            assert previous_mask is not None
            return paste_back(probability, box, previous_mask.astype(np.float32))
        if probability.shape != image.shape[:2]:
            probability = cv2.resize(probability, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        return probability

    def predict(self, image: np.ndarray, clicks: Sequence[ClickTuple], previous_mask: np.ndarray | None) -> np.ndarray:
        """(H, W) bool; the clicks are law: the clicked pixels, and those within ``click_law_radius``
        of them, follow their clicks (the last click of a pixel wins)."""
        mask = self.probabilities(image, clicks, previous_mask) >= 0.5
        return apply_click_law(mask, clicks, self.model.config.click_law_radius)


def apply_click_law(mask: np.ndarray, clicks: Sequence[ClickTuple], radius: int) -> np.ndarray:
    """The (H, W) bool mask with the disk of ``radius`` around each click set to the click's sign, in
    click order: the annotator said so, whatever the model predicted there."""
    if radius == 0:
        for x, y, positive in clicks:
            mask[y, x] = positive
        return mask
    drawn = mask.astype(np.uint8)
    for x, y, positive in clicks:
        cv2.circle(drawn, (int(x), int(y)), radius, 1 if positive else 0, -1)
    return drawn.astype(bool)
