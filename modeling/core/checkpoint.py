"""Checkpoints: one folder per save, enough to resume a run exactly or to evaluate it later.

    <out>/checkpoints/step-00000100/
        model.safetensors    every weight of the model (frozen towers and VAE included)
        checkpoint.json      stage, step, resolved config, weights in use, classes, metrics
        optimizer.pt         optimizer + LR schedule state and RNG states (resume only)
    <out>/checkpoints/latest   the name of the newest complete folder

``latest`` is written after the folder is complete, so a crash mid-save leaves the previous one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from modeling.core.checkpoint_files import (  # noqa: F401 (find_checkpoint: imported from here too)
    META_NAME,
    TRAINER_STATE_NAME,
    WEIGHTS_NAME,
    checkpoint_missing,
    find_checkpoint,
)
from modeling.core.config import ModelConfig, config_from_dict
from modeling.core.errors import CheckpointError


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, Any]

    @property
    def stage(self) -> int | str:
        """1 or 2, or "defect-gen": as the trainer stored it."""
        return self.meta["stage"]

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    @property
    def config(self) -> ModelConfig:
        return config_from_dict(self.meta["config"])

    def state_dict(self, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        return load_file(self.path / WEIGHTS_NAME, device=str(device))

    def trainer_state(self) -> dict[str, Any] | None:
        path = self.path / TRAINER_STATE_NAME
        return torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None


def save_checkpoint(
    out_dir: Path,
    *,
    model: nn.Module,
    meta: dict[str, Any],
    trainer_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/checkpoints/step-XXXXXXXX`` and point ``latest`` at it. meta must hold stage and step."""
    root = Path(out_dir) / "checkpoints"
    folder = root / f"step-{int(meta['step']):08d}"
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, folder / WEIGHTS_NAME, metadata={"stage": str(meta["stage"]), "step": str(meta["step"])})
    if trainer_state is not None:
        torch.save(trainer_state, folder / TRAINER_STATE_NAME)
    # Both replaced whole, never written in place: a run resumed by a second worker may save the
    # same step again while an evaluation or the admin reads it.
    _replace_text(folder / META_NAME, json.dumps(meta, indent=2, sort_keys=True))
    _replace_text(root / "latest", folder.name + "\n")
    return folder


def _replace_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def load_checkpoint(path: str | Path, *, stage: int | str | None = None) -> Checkpoint:
    missing = checkpoint_missing(path)
    if missing is not None:
        raise CheckpointError(missing)
    folder = find_checkpoint(path)
    checkpoint = Checkpoint(path=folder, meta=json.loads((folder / META_NAME).read_text()))
    if stage is not None and str(checkpoint.stage) != str(stage):
        raise CheckpointError(f"checkpoint {folder} is from stage {checkpoint.stage}, expected stage {stage}")
    return checkpoint


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], *, source: str, prefix: str = "") -> None:
    """Load ``state`` (keys optionally under ``prefix``) into model strictly, with a readable error."""
    if prefix:
        state = {name[len(prefix) :]: value for name, value in state.items() if name.startswith(prefix)}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{source} does not fit this model ({len(result.missing_keys)} missing, "
            f"{len(result.unexpected_keys)} unexpected weights, e.g. "
            f"{(result.missing_keys + result.unexpected_keys)[:3]}); was it trained with another config?"
        )
