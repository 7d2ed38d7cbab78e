"""Training Defect-Gen from shards with the stage 1/2 Trainer, and loading what it saved.

DefectGen keeps the Trainer's model contract (trainer.TrainableModel), so the plain Trainer runs it;
the run's setup and close are the shared runs.start_run / finish_run.

The two U-Nets are trained jointly: every step draws one batch, one noise tensor and one timestep
per sample, and minimises the sum of both models' noise-prediction losses (one AdamW over both).
The run folder has the layout of stages 1 and 2: ``config.json``, ``metrics.jsonl`` (the same keys,
with "stage": "defect-gen" and loss, loss_large, loss_small) and ``checkpoints/step-XXXXXXXX/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from modeling.core.checkpoint import Checkpoint, load_checkpoint, load_weights
from modeling.core.defect_gen.config import STAGE, DefectGenConfig, defect_gen_config_from_dict
from modeling.core.defect_gen.data import Selection, defect_gen_batches, select_samples
from modeling.core.defect_gen.models import DefectGen
from modeling.core.errors import CheckpointError
from modeling.core.runs import finish_run, start_run
from modeling.core.shards import ClassInfo
from modeling.core.trainer import Trainer


def load_defect_gen_checkpoint(path: str | Path) -> tuple[Checkpoint, DefectGenConfig]:
    """A Defect-Gen checkpoint (folder, run folder or its checkpoints/) and its config."""
    checkpoint = load_checkpoint(path)
    if checkpoint.meta.get("stage") != STAGE:
        raise CheckpointError(
            f"checkpoint {checkpoint.path} is from stage {checkpoint.meta.get('stage')}, expected {STAGE}"
        )
    return checkpoint, defect_gen_config_from_dict(checkpoint.meta["config"]).validate()


def checkpoint_classes(checkpoint: Checkpoint) -> list[ClassInfo]:
    """The generator's class list (index 0 background) as the checkpoint recorded it."""
    return [ClassInfo(index=c["index"], slug=c["slug"], labels=dict(c["labels"])) for c in checkpoint.meta["classes"]]


def load_defect_gen_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[DefectGen, Checkpoint, DefectGenConfig]:
    """The checkpoint's DefectGen, eval mode, on ``device``."""
    checkpoint, config = load_defect_gen_checkpoint(path)
    model = DefectGen(config, num_classes=len(checkpoint.meta["classes"]) - 1)
    load_weights(model, checkpoint.state_dict(), source=f"checkpoint {checkpoint.path}")
    return model.to(device).eval(), checkpoint, config


def selection_from_meta(meta: dict[str, Any]) -> Selection:
    """The training selection a checkpoint recorded, so that a resumed run trains on the same samples."""
    classes = [ClassInfo(index=c["index"], slug=c["slug"], labels=dict(c["labels"])) for c in meta["classes"]]
    return Selection(
        keys=list(meta["training_samples"]),
        labels={key: int(label) for key, label in meta["training_labels"].items()},
        classes=classes,
        source_indices=[int(meta["source_class_indices"][c.slug]) for c in classes],
        left_out=dict(meta.get("left_out_samples") or {}),
    )


def train_defect_gen(
    *,
    config: DefectGenConfig,
    shards: str | list[str],
    out_dir: str | Path,
    split: str | None = "train",
    resume: bool = False,
    device: str | None = None,
) -> dict[str, Any]:
    """Train both models from shards into out_dir; returns {"step", "checkpoint", "metrics"}.

    With ``resume``, the newest checkpoint in out_dir supplies the weights, optimizer, step, config
    and training samples (its ``train.steps`` is replaced by ``config.train.steps``).
    """
    start = start_run(
        config=config,
        shards=shards,
        out_dir=out_dir,
        split=split,
        resume=resume,
        device=device,
        load_saved=load_defect_gen_checkpoint,
    )
    config = start.config
    if start.checkpoint is not None:
        selection = selection_from_meta(start.checkpoint.meta)
    else:
        selection = select_samples(start.source, config.selection, few_shot_per_class=config.data.few_shot_per_class)
    model = DefectGen(config, num_classes=selection.num_classes).to(start.runtime.device)
    if config.train.gradient_checkpointing:
        model.large.enable_gradient_checkpointing()
        model.small.enable_gradient_checkpointing()
    meta = {**start.base_meta(), "weights": model.weights_in_use(), **selection.to_meta()}
    trainer = Trainer(
        stage=STAGE,
        config=config,  # type: ignore[arg-type]  # the Trainer reads only its data and train sections
        model=model,
        runtime=start.runtime,
        out_dir=start.out_dir,
        classes=selection.classes,
        meta=meta,
    )
    trainer.seen_labels = set(range(selection.num_classes))  # every class of the set has training samples
    manifest_size = len(start.source.classes)
    return finish_run(
        start,
        trainer,
        keys=set(selection.keys),
        with_masks=True,
        prepare=lambda batches: defect_gen_batches(batches, selection, manifest_size=manifest_size),
    )
