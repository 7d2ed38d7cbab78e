"""Inference: images and any list of category names -> masks, boxes, labels, scores per image.

    segmenter = DefectSegmenter.from_checkpoint("runs/stage2")
    result = segmenter.predict(Image.open("part.png"), ["scratch", "dent", "crack"])
    results = segmenter.predict_batch([Image.open(p) for p in paths], ["scratch", "dent"])  # one forward

The names are embedded with the CLIP text tower (cached per list), so they need not be classes the
model was trained on. Latency covers preprocessing, the model and post-processing; peak memory is
the CUDA allocator's peak on a GPU, the process's peak resident size on CPU.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from modeling.core.dataset import instance_boxes
from modeling.core.errors import ConfigError
from modeling.core.evaluation import load_segmenter
from modeling.core.segmenter import Segmentation, Segmenter


@dataclass
class Prediction:
    """Detections at the input image's size (H, W), highest score first.

    masks: (N, H, W) bool; boxes: (N, 4) float xyxy pixels; labels: N category names; scores: (N,).
    uncertainty: the mean over all queries of their normalised class entropy (Segmentation.class_entropy),
    0 sure .. 1 no idea: what an uncertainty-ordered annotation queue sorts by.
    latency_s: preprocessing, model and post-processing; for an image of a batch (predict_batch),
    the batch's time divided by its images.
    """

    masks: torch.Tensor
    boxes: torch.Tensor
    labels: list[str]
    scores: torch.Tensor
    latency_s: float
    peak_memory_bytes: int
    peak_memory_kind: str  # "cuda_allocated" or "process_rss"
    uncertainty: float = 0.0

    def to_json(self) -> dict:
        return {
            "detections": [
                {
                    "label": label,
                    "score": round(float(score), 5),
                    "box": [round(v, 2) for v in box.tolist()],
                    "mask_pixels": int(mask.sum()),
                }
                for label, score, box, mask in zip(self.labels, self.scores, self.boxes, self.masks, strict=True)
            ],
            "uncertainty": round(self.uncertainty, 5),
            "latency_s": round(self.latency_s, 5),
            "peak_memory_bytes": self.peak_memory_bytes,
            "peak_memory_kind": self.peak_memory_kind,
        }


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


class DefectSegmenter:
    def __init__(self, model: Segmenter, device: torch.device):
        self.model = model.eval()
        self.device = device
        self.image_size = model.config.data.image_size
        self._names: tuple[str, ...] = ()
        self._embeddings: torch.Tensor | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None) -> DefectSegmenter:
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model, _ = load_segmenter(path, device)
        return cls(model, device)

    def _class_embeddings(self, names: list[str]) -> torch.Tensor:
        if tuple(names) != self._names or self._embeddings is None:
            self._embeddings = self.model.embed_names(names).to(self.device)
            self._names = tuple(names)
        return self._embeddings

    def predict(
        self,
        image: Image.Image | np.ndarray,
        categories: list[str],
        *,
        score_threshold: float = 0.3,
        max_detections: int = 20,
    ) -> Prediction:
        """image: a PIL image or an (H, W, 3) uint8 array; categories: names such as "scratch"."""
        return self.predict_batch([image], categories, score_threshold=score_threshold, max_detections=max_detections)[
            0
        ]

    @torch.no_grad()
    def predict_batch(
        self,
        images: list[Image.Image | np.ndarray],
        categories: list[str],
        *,
        score_threshold: float = 0.3,
        max_detections: int = 20,
    ) -> list[Prediction]:
        """One Prediction per image, each what `predict` gives for that image alone, from one forward
        pass over all of them (on CPU the tiny model's per-call overhead is most of its cost).

        The images may differ in size: each is resized to the model's input, and its masks and boxes
        come back at its own size. Every image gets the same diffusion noise (shared_noise), so its
        result does not depend on the batch. latency_s is the batch's time divided by its images;
        peak memory is the batch's."""
        names = [name.strip() for name in categories if name.strip()]
        if not names:
            raise ConfigError("give at least one category name")
        if not images:
            return []
        images = [self._as_image(image) for image in images]
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            torch.cuda.synchronize(self.device)
        started = time.perf_counter()
        pixels = torch.stack([self._pixels(image) for image in images]).to(self.device)
        generator = torch.Generator(self.device).manual_seed(0)  # as Segmenter.segment, so results repeat
        output = self.model(pixels, self._class_embeddings(names), generator=generator, shared_noise=True)[-1]
        # Scores, labels and uncertainty at the model's input size, as evaluation scores them; only the
        # kept queries' mask logits are upsampled to each image's own size (upsampling all of them and
        # the per-class map cost more than the model on CPU), so boxes come out in its pixels.
        result = Segmentation.from_logits(output.class_logits, output.mask_logits, tuple(pixels.shape[-2:]))
        detections = [
            self._detections(output.mask_logits, result, row, image.size, score_threshold, max_detections)
            for row, image in enumerate(images)
        ]
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        latency = (time.perf_counter() - started) / len(images)
        if self.device.type == "cuda":
            peak, kind = torch.cuda.max_memory_allocated(self.device), "cuda_allocated"
        else:
            peak, kind = _peak_rss_bytes(), "process_rss"
        return [
            Prediction(
                masks=masks.cpu(),
                boxes=boxes.cpu(),
                labels=[names[i] for i in labels.tolist()],
                scores=scores.cpu(),
                latency_s=latency,
                peak_memory_bytes=int(peak),
                peak_memory_kind=kind,
                uncertainty=float(result.class_entropy[row].mean()),
            )
            for row, (masks, boxes, labels, scores) in enumerate(detections)
        ]

    @staticmethod
    def _as_image(image: Image.Image | np.ndarray) -> Image.Image:
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ConfigError(f"image array must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
            return Image.fromarray(image)
        return image

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        """(3, S, S) in [-1, 1] at the model's input size S."""
        resized = image.convert("RGB").resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)

    @staticmethod
    def _detections(
        mask_logits: torch.Tensor,
        result: Segmentation,
        row: int,
        size: tuple[int, int],
        score_threshold: float,
        max_detections: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image `row`'s kept queries, highest score first: masks (N, H, W) bool at its size (W, H),
        boxes (N, 4), label indices (N,), scores (N,)."""
        width, height = size
        on = (result.mask_probabilities[row] > 0.5).flatten(1).any(dim=1)
        keep = torch.nonzero(on & (result.scores[row] > score_threshold)).flatten()
        keep = keep[result.scores[row][keep].argsort(descending=True)][:max_detections]
        logits = mask_logits[row, keep].float()[None]
        if keep.numel():
            masks = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)[0] > 0
        else:
            masks = torch.zeros((0, height, width), dtype=torch.bool, device=logits.device)
        visible = masks.flatten(1).any(dim=1)  # a speck at the model's size may vanish at the image's
        masks, keep = masks[visible], keep[visible]
        return masks, instance_boxes(masks.cpu()), result.labels[row][keep], result.scores[row][keep]
