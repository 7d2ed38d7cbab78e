"""SAM-family backends (Segment Anything, Kirillov et al. 2023; SAM 2, Ravi et al. 2024) run by
`transformers` from a local folder.

The folder is what `SamModel` / `Sam2Model` and their processors write with `save_pretrained`
(config.json, model.safetensors, processor_config.json), e.g. a copy of facebook/sam-vit-base or
facebook/sam2.1-hiera-tiny made where the weights may be downloaded. Nothing is downloaded here: the
platform registers a backend only when SEGMENT_SAM_PATH names such a folder (segmentation/apps.py),
and `sam_backend_from_folder` picks SAM or SAM 2 from the folder's config.json (`model_type`).

The image embedding (the image encoder, the dear part) is computed once per image and cached; each
click or box runs only the prompt encoder and mask decoder. Clicks are point prompts (label 1
positive, 0 negative), the box a box prompt; the previous mask is not fed back (the mask prompt
wants the model's own low-resolution logits, which a stateless request does not carry): the model
answers from all the clicks.
"""

from __future__ import annotations

import hashlib
import json
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .clicks import Box, Click


class SamBackendError(RuntimeError):
    """The SAM folder cannot be loaded: says which folder and why."""


def _config_of(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise SamBackendError(
            f"SEGMENT_SAM_PATH={path} has no config.json: give a folder written by SamModel/Sam2Model.save_pretrained "
            "and the processor's save_pretrained"
        ) from None
    except (OSError, ValueError) as error:
        raise SamBackendError(f"SEGMENT_SAM_PATH={path}: config.json cannot be read ({error})") from None


def sam_backend_from_folder(path: str | Path) -> _CachedEmbeddingBackend:
    """The backend for the model in `path`: SAM (`model_type` "sam") or SAM 2 ("sam2")."""
    path = Path(path)
    model_type = _config_of(path).get("model_type")
    backends = {"sam": SamBackend, "sam2": Sam2Backend}
    if model_type not in backends:
        raise SamBackendError(
            f"SEGMENT_SAM_PATH={path} holds a {model_type!r} model; the backends know {', '.join(sorted(backends))}"
        )
    return backends[model_type](path)


class _CachedEmbeddingBackend(ABC):
    """What SAM and SAM 2 share: loading from a local folder, the per-image embedding cache, and the
    prompt checks. A subclass names its transformers classes and says how an image is embedded and
    how prompts become a mask."""

    accepts_box = True
    model_class_name = ""
    processor_class_name = ""
    label = ""

    def __init__(self, path: str | Path, *, name: str = "sam", cache_size: int = 4):
        path = Path(path)
        _config_of(path)  # a clear error for a folder that is not a model's
        try:
            import torch
            import transformers
        except ImportError as error:
            raise SamBackendError(f"the SAM backends need torch and transformers ({error})") from None
        try:
            model_class = getattr(transformers, self.model_class_name)
            processor_class = getattr(transformers, self.processor_class_name)
            self.model = model_class.from_pretrained(path, local_files_only=True).eval()
            self.processor = processor_class.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as error:
            raise SamBackendError(f"cannot load {self.label} from {path}: {error}") from None
        self.torch = torch
        self.name = name
        self.description = (
            f"{self.label} ({path.name}, transformers): click and box prompts, image embedding cached per image."
        )
        self.path = path
        self.cache: OrderedDict[str, object] = OrderedDict()
        self.cache_size = cache_size
        self.encoder_runs = 0
        self.lock = threading.Lock()  # the cache is shared by a server's threads

    def embedding(self, image: np.ndarray):
        key = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + str(image.shape)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        # The processor hands the array to torch as is: give it a writable one.
        inputs = self.processor(images=image if image.flags.writeable else image.copy(), return_tensors="pt")
        with self.torch.inference_mode():
            entry = (self.model.get_image_embeddings(inputs["pixel_values"]), inputs)
        with self.lock:
            self.encoder_runs += 1
            self.cache[key] = entry
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return entry

    def segment(
        self,
        image: np.ndarray,
        clicks: Sequence[Click],
        previous_mask: np.ndarray | None,
        *,
        box: Box | None = None,
    ) -> np.ndarray:
        if not clicks and box is None:
            raise ValueError(f"{self.label} needs at least one click or a box")
        embedding, inputs = self.embedding(image)
        # Pixel centres, in the image's own frame; each model's processor maps them to its input frame.
        points = [[c.x + 0.5, c.y + 0.5] for c in clicks]
        labels = [1 if c.positive else 0 for c in clicks]
        corners = [box.x, box.y, box.x + box.width, box.y + box.height] if box is not None else None
        return self.mask_from_prompts(embedding, inputs, points, labels, corners)

    @abstractmethod
    def mask_from_prompts(self, embedding, inputs, points, labels, corners) -> np.ndarray:
        """The mask, in the image's frame, for point prompts (pixel centres, labels 1/0) and a box."""


class SamBackend(_CachedEmbeddingBackend):
    model_class_name = "SamModel"
    processor_class_name = "SamProcessor"
    label = "SAM"

    def mask_from_prompts(self, embedding, inputs, points, labels, corners) -> np.ndarray:
        original_sizes, reshaped_sizes = inputs["original_sizes"], inputs["reshaped_input_sizes"]
        height, width = (int(v) for v in original_sizes[0])
        new_height, new_width = (int(v) for v in reshaped_sizes[0])
        scale = np.array([new_width / width, new_height / height], dtype=np.float32)
        prompts = {}
        if points:
            prompts["input_points"] = self.torch.from_numpy((np.array(points, dtype=np.float32) * scale)[None, None])
            prompts["input_labels"] = self.torch.tensor([[labels]])
        if corners is not None:
            scaled = np.array(corners, dtype=np.float32) * np.tile(scale, 2)
            prompts["input_boxes"] = self.torch.from_numpy(scaled[None, None])
        with self.torch.inference_mode():
            output = self.model(image_embeddings=embedding, multimask_output=False, **prompts)
        masks = self.processor.image_processor.post_process_masks(output.pred_masks, original_sizes, reshaped_sizes)
        return masks[0][0, 0].numpy().astype(bool)


class Sam2Backend(_CachedEmbeddingBackend):
    model_class_name = "Sam2Model"
    processor_class_name = "Sam2Processor"
    label = "SAM 2"

    def mask_from_prompts(self, embedding, inputs, points, labels, corners) -> np.ndarray:
        prompts = {}
        if points:
            prompts["input_points"] = [[points]]
            prompts["input_labels"] = [[labels]]
        if corners is not None:
            prompts["input_boxes"] = [[corners]]
        # With original_sizes and no image, the processor only maps the prompts into the model's frame.
        encoded = self.processor(original_sizes=inputs["original_sizes"], return_tensors="pt", **prompts)
        arguments = {key: encoded[key] for key in ("input_points", "input_labels", "input_boxes") if key in encoded}
        with self.torch.inference_mode():
            output = self.model(image_embeddings=embedding, multimask_output=False, **arguments)
        masks = self.processor.post_process_masks(output.pred_masks, inputs["original_sizes"])
        return masks[0][0, 0].numpy().astype(bool)
