"""Where a checkpoint's files are, without torch: the web process checks that a checkpoint it is
asked to use is there (modeling.preannotation_services) without paying for importing torch.
The folder layout is described in modeling/core/checkpoint.py."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_NAME = "model.safetensors"
META_NAME = "checkpoint.json"
TRAINER_STATE_NAME = "optimizer.pt"


def find_checkpoint(path: str | Path) -> Path | None:
    """A checkpoint folder from itself, a run's out dir, or its checkpoints/ folder; None if there is none."""
    path = Path(path)
    if (path / META_NAME).is_file():
        return path
    for root in (path / "checkpoints", path):
        pointer = root / "latest"
        if pointer.is_file():
            folder = root / pointer.read_text().strip()
            if (folder / META_NAME).is_file():
                return folder
    return None


def checkpoint_missing(path: str | Path) -> str | None:
    """Why `path` is not a loadable checkpoint (no folder, no weights), or None when it is one.
    load_checkpoint raises the same reasons as CheckpointError."""
    folder = find_checkpoint(path)
    if folder is None:
        return f"no checkpoint at {path}"
    if not (folder / WEIGHTS_NAME).is_file():
        return f"checkpoint {folder} has no {WEIGHTS_NAME}"
    return None
