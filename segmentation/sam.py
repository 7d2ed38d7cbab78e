"""A SAM-family backend (Segment Anything, Kirillov et al. 2023) run by `transformers` from a local folder.

The folder is what `SamModel.save_pretrained` and `SamProcessor.save_pretrained` write (config.json,
model.safetensors, processor_config.json), e.g. a copy of facebook/sam-vit-base made where the
weights may be downloaded. Nothing is downloaded here: the platform registers this backend only
when SEGMENT_SAM_PATH names such a folder (segmentation/apps.py).

The image embedding (the ViT, the dear part) is computed once per image and cached; each click or
box runs only the prompt encoder and mask decoder. Clicks are SAM's point prompts (label 1 positive,
0 negative), the box its box prompt; the previous mask is not fed back (SAM's mask prompt wants its
own low-resolution logits, which a stateless request does not carry): SAM answers from all the clicks.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .clicks import Box, Click


class SamBackendError(RuntimeError):
    """The SAM folder cannot be loaded: says which folder and why."""


class SamBackend:
    accepts_box = True

    def __init__(self, path: str | Path, *, name: str = "sam", cache_size: int = 4):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise SamBackendError(
                f"SEGMENT_SAM_PATH={path} has no config.json: give a folder written by SamModel.save_pretrained "
                "and SamProcessor.save_pretrained"
            )
        try:
            import torch
            from transformers import SamModel, SamProcessor
        except ImportError as error:
            raise SamBackendError(f"the SAM backend needs torch and transformers ({error})") from None
        try:
            self.model = SamModel.from_pretrained(path, local_files_only=True).eval()
            self.processor = SamProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as error:
            raise SamBackendError(f"cannot load SAM from {path}: {error}") from None
        self.torch = torch
        self.name = name
        self.description = f"SAM ({path.name}, transformers): click and box prompts, image embedding cached per image."
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
            embedding = self.model.get_image_embeddings(inputs["pixel_values"])
        entry = (embedding, inputs["original_sizes"], inputs["reshaped_input_sizes"])
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
            raise ValueError("SAM needs at least one click or a box")
        embedding, original_sizes, reshaped_sizes = self.embedding(image)
        height, width = image.shape[:2]
        new_height, new_width = (int(v) for v in reshaped_sizes[0])
        scale = np.array([new_width / width, new_height / height], dtype=np.float32)
        prompts = {}
        if clicks:
            # Pixel centres, in the resized frame SAM's prompt encoder works in.
            points = (np.array([[c.x + 0.5, c.y + 0.5] for c in clicks], dtype=np.float32) * scale)[None, None]
            prompts["input_points"] = self.torch.from_numpy(points)
            prompts["input_labels"] = self.torch.tensor([[[1 if c.positive else 0 for c in clicks]]])
        if box is not None:
            corners = np.array([box.x, box.y, box.x + box.width, box.y + box.height], dtype=np.float32)
            prompts["input_boxes"] = self.torch.from_numpy((corners * np.tile(scale, 2))[None, None])
        with self.torch.inference_mode():
            output = self.model(image_embeddings=embedding, multimask_output=False, **prompts)
        masks = self.processor.image_processor.post_process_masks(output.pred_masks, original_sizes, reshaped_sizes)
        return masks[0][0, 0].numpy().astype(bool)
