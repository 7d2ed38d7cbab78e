"""The sample pipeline: tar members -> decoded, augmented tensors -> batches.

Built from webdataset's tar iterators with our opener (``shards.open_url``), so local and S3
shards read the same way. Training reads forever: local shards of an export with a Parquet index
in a new permutation of the whole split each epoch, split between the processes (DDP ranks x
DataLoader workers; shard_locations.py says why); other shards streamed, the shard order reshuffled
each epoch and the samples through a shuffle buffer, split by shards between the processes, or by
samples when there are fewer shards than readers. Few-shot selection (N per class) is decided once, up front,
from the annotations alone, so every epoch and every rank sees the same subset.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy import ndimage
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torchvision.ops import masks_to_boxes
from webdataset.filters import shuffle as shuffle_stage
from webdataset.tariterators import group_by_keys, tar_file_expander

from modeling.core.caption_terms import annotation_terms_in_caption
from modeling.core.config import DataConfig
from modeling.core.errors import ShardError
from modeling.core.shard_locations import SampleLocations, sample_locations
from modeling.core.shards import ClassInfo, ShardSource, open_url

# The image member: its format's extension, or "image" in a schema-2 export of several formats.
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "image")


def iterate_raw_samples(urls: list[str]) -> Iterator[dict[str, Any]]:
    """Raw samples in tar order: {"__key__", "__url__", "jpg": bytes, "mask.png": bytes, "json": bytes, ...}."""
    streams = ({"url": url, "stream": open_url(url)} for url in urls)
    yield from group_by_keys(tar_file_expander(streams))


def sample_class_indices(annotation: dict[str, Any], classes: list[ClassInfo]) -> set[int]:
    """The manifest class indices a sample's regions carry (box-only regions are matched by term slug)."""
    by_slug = {c.slug: c.index for c in classes}
    indices = set()
    for region in annotation.get("regions") or []:
        index = region.get("class_index") or by_slug.get((region.get("term") or {}).get("slug"), 0)
        if index:
            indices.add(int(index))
    return indices


def select_few_shot(source: ShardSource, per_class: int) -> set[str]:
    """Keys of at most ``per_class`` samples per class, greedily in manifest order (deterministic).

    A sample is kept while any of its classes still has fewer than ``per_class`` samples; samples
    without any region are left out."""
    counts: dict[int, int] = {}
    keys = set()
    for raw in iterate_raw_samples(source.urls):
        annotation = json.loads(raw["json"]) if "json" in raw else {}
        indices = sample_class_indices(annotation, source.classes)
        if any(counts.get(i, 0) < per_class for i in indices):
            keys.add(raw["__key__"])
            for i in indices:
                counts[i] = counts.get(i, 0) + 1
    if not keys:
        raise ShardError(f"few-shot selection found no annotated sample in {source.manifest_url}")
    return keys


@dataclass
class Augmentation:
    """Joint image/mask augmentation: a random square-ish crop keeping >= min_scale of each side, and a flip."""

    hflip: bool = True
    min_scale: float = 0.8

    def crop_box(self, width: int, height: int, rng: random.Random) -> tuple[int, int, int, int]:
        crop_w = round(width * rng.uniform(self.min_scale, 1.0))
        crop_h = round(height * rng.uniform(self.min_scale, 1.0))
        left = rng.randint(0, width - crop_w)
        top = rng.randint(0, height - crop_h)
        return left, top, left + crop_w, top + crop_h


def _open_mask(raw: dict[str, Any], image_size: tuple[int, int]) -> Image.Image:
    """The sample's mask.png, refused unless it is 8-bit single-channel at the image's size."""
    key = raw["__key__"]
    mask = Image.open(io.BytesIO(raw["mask.png"]))
    if mask.mode not in ("L", "P"):
        raise ShardError(f"sample {key}: mask.png must be 8-bit single-channel, got mode {mask.mode}")
    if mask.size != image_size:
        raise ShardError(f"sample {key}: mask.png is {mask.size}, image is {image_size}")
    return mask


def decode_sample(
    raw: dict[str, Any],
    classes: list[ClassInfo],
    *,
    image_size: int,
    augmentation: Augmentation | None = None,
    rng: random.Random | None = None,
    min_component_pixels: int = 4,
    with_masks: bool = True,
    caption_terms: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """One raw shard sample -> tensors at image_size x image_size (S below); C = number of defect classes.

    with_masks=False (Stage 1, which trains on images and captions only) skips decoding mask.png,
    the dearest part of a sample after the image: mask is then all background and there are no
    instances.

    Instances follow one rule (``sample_instances``), used alike for Stage 2's targets, evaluation's
    ground truth and its detection boxes: each connected component of each class in mask.png, and
    each box-only region as its filled box, at S x S, dropping those under min_component_pixels.

    Returns:
        key: the sample key; caption: the English caption ("" if none)
        terms: the English labels of the caption's vocabulary terms (caption_terms.py)
        pixel_values: (3, S, S) float32 in [-1, 1]
        mask: (S, S) int64 manifest class indices (0 = background)
        pixel_truth: False when the sample has a box-only region (its pixels are unknown); schema 2
            writes mask.png for every sample, so the file's presence says nothing
        target_labels: (K,) int64 defect labels in [0, C), one per instance
        target_masks: (K, S, S) bool, one per instance
        boxes: (K, 4) float32 xyxy of the instances (pixel edges: a box ends after its last pixel);
        box_labels: (K,) int64, the same as target_labels
        image_label: the sample's defect type in [0, C), or -1 when it has none (a defect-free image)
    """
    key = raw["__key__"]
    image_ext = next((ext for ext in IMAGE_EXTENSIONS if ext in raw), None)
    if image_ext is None:
        raise ShardError(f"sample {key} in {raw.get('__url__')} has no image member")
    image = Image.open(io.BytesIO(raw[image_ext]))
    width, height = image.size
    mask = _open_mask(raw, image.size) if with_masks and "mask.png" in raw else None
    annotation = json.loads(raw["json"]) if "json" in raw else {}
    # schema 2: txt always there (empty without a caption); schema 1: absent without one
    caption = raw["txt"].decode("utf-8") if "txt" in raw else (annotation.get("captions") or {}).get("en") or ""
    if caption_terms is not None and key in caption_terms:
        terms = caption_terms[key]
    else:
        terms = annotation_terms_in_caption(annotation, caption)

    box = (0, 0, width, height)
    flip = False
    if augmentation is not None:
        rng = rng or random.Random()
        box = augmentation.crop_box(width, height, rng)
        flip = augmentation.hflip and rng.random() < 0.5
    # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale (DCT scaling) when the crop stays above the
    # output size: far cheaper than decoding 512 px to train at 64. Other formats ignore draft().
    crop_w, crop_h = box[2] - box[0], box[3] - box[1]
    image.draft("RGB", (math.ceil(width * image_size / crop_w), math.ceil(height * image_size / crop_h)))
    scale_x, scale_y = image.size[0] / width, image.size[1] / height
    image_box = (box[0] * scale_x, box[1] * scale_y, box[2] * scale_x, box[3] * scale_y)
    image = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR, box=image_box)
    if mask is not None:
        mask = mask.resize((image_size, image_size), Image.Resampling.NEAREST, box=box)
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mask is not None else None

    if mask is None:
        mask_array = np.zeros((image_size, image_size), dtype=np.int64)
    else:
        mask_array = np.asarray(mask, dtype=np.int64)
    if mask_array.max(initial=0) >= len(classes):
        raise ShardError(f"sample {key}: mask value {mask_array.max()} but the manifest lists {len(classes)} classes")
    pixel_values = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).contiguous()
    box_regions = _box_only_regions(annotation, classes)
    if with_masks:
        target_labels, target_masks = sample_instances(
            mask_array, box_regions, crop=box, size=image_size, flip=flip, min_pixels=min_component_pixels
        )
    else:
        target_labels, target_masks = (
            torch.zeros(0, dtype=torch.int64),
            torch.zeros((0, image_size, image_size), dtype=torch.bool),
        )
    return {
        "key": key,
        "caption": caption,
        "terms": terms,
        "pixel_values": pixel_values,
        "mask": torch.from_numpy(mask_array),
        "pixel_truth": not box_regions,
        "target_labels": target_labels,
        "target_masks": target_masks,
        "boxes": instance_boxes(target_masks),
        "box_labels": target_labels.clone(),
        "image_label": _image_label(annotation, classes, target_labels, target_masks),
    }


def sample_instances(
    mask: np.ndarray,
    box_regions: list[tuple[int, list[float]]],
    *,
    crop: tuple[int, int, int, int],
    size: int,
    flip: bool,
    min_pixels: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The instance rule: each connected component of each class in the class-index mask (S x S), then
    each box-only region (label, COCO xywh in original pixels) as its filled box in the same frame;
    instances of fewer than min_pixels pixels are dropped.

    Returns labels (K,) in [0, C) and masks (K, S, S) bool."""
    labels, masks = [], []
    for index in np.unique(mask):
        if index == 0:
            continue
        components, count = ndimage.label(mask == index)
        for component in range(1, count + 1):
            region = components == component
            if region.sum() >= min_pixels:
                labels.append(int(index) - 1)
                masks.append(region)
    left, top, right, bottom = crop
    scale_x, scale_y = size / (right - left), size / (bottom - top)
    centres = np.arange(size) + 0.5
    for label, (x, y, w, h) in box_regions:
        x0, x1 = (x - left) * scale_x, (x + w - left) * scale_x
        if flip:
            x0, x1 = size - x1, size - x0
        y0, y1 = (y - top) * scale_y, (y + h - top) * scale_y
        # the pixels whose centres the box covers: the box as a mask at this resolution
        region = ((centres >= y0) & (centres < y1))[:, None] & ((centres >= x0) & (centres < x1))[None, :]
        if region.sum() >= min_pixels:
            labels.append(label)
            masks.append(region)
    if not masks:
        return torch.zeros(0, dtype=torch.int64), torch.zeros((0, *mask.shape), dtype=torch.bool)
    return torch.tensor(labels, dtype=torch.int64), torch.from_numpy(np.stack(masks))


def instance_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(K, H, W) bool -> (K, 4) float32 xyxy around each mask, in pixel edges (x1 = last column + 1)."""
    if masks.shape[0] == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    boxes = masks_to_boxes(masks).float()
    boxes[:, 2:] += 1
    return boxes


def _box_only_regions(annotation: dict[str, Any], classes: list[ClassInfo]) -> list[tuple[int, list[float]]]:
    """(defect label, COCO xywh) of the regions that have a box and no mask (e.g. NEU-DET's)."""
    by_slug = {c.slug: c.index for c in classes}
    found = []
    for region in annotation.get("regions") or []:
        if region.get("rle") or region.get("class_index") or not region.get("bbox"):
            continue  # a region with a mask is in mask.png
        index = by_slug.get((region.get("term") or {}).get("slug"), 0)
        if index:
            found.append((index - 1, [float(v) for v in region["bbox"]]))
    return found


def _image_label(
    annotation: dict[str, Any], classes: list[ClassInfo], labels: torch.Tensor, masks: torch.Tensor
) -> int:
    """The image's defect class, by the rule predictions follow (Segmentation.image_classes): the
    class with the most instance pixels. Without instances: the defect type term when the annotation
    has no region at all (an image-level label only), else -1, a defect-free image."""
    if len(labels):
        area = torch.zeros(len(classes), dtype=torch.int64)
        area.scatter_add_(0, labels, masks.flatten(1).sum(1))
        return int(area.argmax())
    if annotation.get("regions"):
        return -1  # its regions vanish at this resolution: nothing a model could be scored on
    by_slug = {c.slug: c.index for c in classes}
    for term in (annotation.get("terms") or {}).get("defect_type") or []:
        if by_slug.get(term.get("slug"), 0) > 0:
            return by_slug[term["slug"]] - 1
    return -1


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the fixed-size tensors; keep per-sample lists for the variable-length ones."""
    batch: dict[str, Any] = {
        "pixel_values": torch.stack([s["pixel_values"] for s in samples]),
        "mask": torch.stack([s["mask"] for s in samples]),
        "image_label": torch.tensor([s["image_label"] for s in samples], dtype=torch.int64),
        "pixel_truth": torch.tensor([s["pixel_truth"] for s in samples], dtype=torch.bool),
    }
    for name in ("key", "caption", "terms", "target_labels", "target_masks", "boxes", "box_labels"):
        batch[name] = [s[name] for s in samples]
    return batch


class ShardDataset(IterableDataset):
    """Decoded samples from shards; forever and shuffled for training, one ordered pass otherwise.

    Args:
        source: the shards and class list.
        config: image size, augmentation, shuffle buffer.
        train: augment, shuffle and repeat.
        seed: the stream's seed (a resumed run passes a different one so it does not replay).
        rank, world_size: this process's place among DDP ranks.
        keys: keep only these sample keys (few-shot selection).
        with_masks: decode mask.png (Stage 2, evaluation); Stage 1 does not need it.
        caption_terms: key -> caption term labels from a caption-terms file (else from the sample json).
    """

    def __init__(
        self,
        source: ShardSource,
        config: DataConfig,
        *,
        train: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        keys: set[str] | None = None,
        min_component_pixels: int = 4,
        with_masks: bool = True,
        caption_terms: dict[str, list[str]] | None = None,
    ):
        super().__init__()
        self.source = source
        self.config = config
        self.train = train
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.keys = keys
        self.min_component_pixels = min_component_pixels
        self.with_masks = with_masks
        self.caption_terms = caption_terms
        self.augmentation = Augmentation(config.hflip, config.min_scale) if train else None

    def _reader(self) -> tuple[int, int]:
        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        return self.rank * workers + worker_id, self.world_size * workers

    def _locations(self) -> SampleLocations | None:
        """Where the samples lie (training reads them in a permutation of the split), or None."""
        if not self.train:
            return None
        if "_sample_locations" not in self.__dict__:
            locations = sample_locations(self.source)
            if locations is not None and self.keys is not None:
                locations = locations.only(self.keys)
            self._sample_locations = locations
        return self._sample_locations

    def _epoch(self, epoch: int) -> Iterator[dict[str, Any]]:
        reader, readers = self._reader()
        locations = self._locations()
        if locations is not None:  # every reader takes its part of the same permutation of the split
            order = np.random.default_rng([self.seed, epoch]).permutation(len(locations))
            yield from locations.read(order[reader::readers])
            return
        urls = list(self.source.urls)
        if self.train:
            random.Random(self.seed * 7919 + epoch).shuffle(urls)
        split_shards = len(urls) >= readers
        if split_shards:
            urls = urls[reader::readers]
        for position, raw in enumerate(iterate_raw_samples(urls)):
            if not split_shards and position % readers != reader:
                continue
            if self.keys is not None and raw["__key__"] not in self.keys:
                continue
            yield raw

    def __iter__(self) -> Iterator[dict[str, Any]]:
        reader, _ = self._reader()
        rng = random.Random(f"{self.seed}-{reader}")
        epoch = 0
        while True:
            raws = self._epoch(epoch)
            if self.train and self.config.shuffle_buffer > 1 and self._locations() is None:
                buffer = self.config.shuffle_buffer
                raws = shuffle_stage(bufsize=buffer, initial=buffer, rng=rng)(raws)
            produced = 0
            for raw in raws:
                produced += 1
                yield decode_sample(
                    raw,
                    self.source.classes,
                    image_size=self.config.image_size,
                    augmentation=self.augmentation,
                    rng=rng,
                    min_component_pixels=self.min_component_pixels,
                    with_masks=self.with_masks,
                    caption_terms=self.caption_terms,
                )
            if not self.train:
                return
            if produced == 0:
                raise ShardError(f"no samples for reader {reader} in {self.source.manifest_url}")
            epoch += 1


def _one_thread(_worker_id: int) -> None:
    # a worker decodes images with PIL and numpy; torch threads of its own would only compete with
    # the training process for the cores
    torch.set_num_threads(1)


def make_loader(dataset: ShardDataset, *, batch_size: int, num_workers: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
        worker_init_fn=_one_thread if num_workers > 0 else None,
    )
