"""The learned click segmenter as a segmentation backend (`learned`), registered by ModelingConfig.ready()
when SEGMENT_LEARNED_CHECKPOINT names a checkpoint of `python -m modeling.train --stage click`.

segmentation (a lower layer) knows only its backend interface; this adapter turns its Click objects
into the torch core's (x, y, positive) tuples. Without the setting there is no learned backend at
all: never a model with random weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segmentation.clicks import Click


class LearnedClickBackend:
    name = "learned"
    accepts_box = False

    def __init__(self, checkpoint: str | Path, *, device: str = "cpu"):
        from modeling.core.click_segmenter import ClickPredictor
        from modeling.core.click_training import load_click_model

        model, meta = load_click_model(checkpoint, device=device)
        self.predictor = ClickPredictor(model, device=device)
        self.checkpoint = meta["path"]
        self.description = (
            f"Learned (Defect-Click style), trained on {meta.get('examples', '?')} mask instances, "
            f"checkpoint {Path(meta['path']).parent.parent.name}/{Path(meta['path']).name}; image encoding cached."
        )

    def segment(self, image: np.ndarray, clicks: Sequence[Click], previous_mask: np.ndarray | None) -> np.ndarray:
        return self.predictor.predict(image, [(c.x, c.y, c.positive) for c in clicks], previous_mask)


def register_learned_backend(checkpoint: str | Path) -> LearnedClickBackend:
    """Load the checkpoint and register it, replacing an earlier `learned` backend."""
    from segmentation.backends import register, unregister

    backend = LearnedClickBackend(checkpoint)
    unregister(backend.name)
    return register(backend)
