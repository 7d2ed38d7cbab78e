"""Training Defect-Gen from shards with the stage 1/2 Trainer, and loading what it saved.

The two U-Nets are trained jointly: every step draws one batch, one noise tensor and one timestep
per sample, and minimises the sum of both models' noise-prediction losses (one AdamW over both).
The run folder has the layout of stages 1 and 2: ``config.json``, ``metrics.jsonl`` (the same keys,
with "stage": "defect-gen" and loss, loss_large, loss_small) and ``checkpoints/step-XXXXXXXX/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from modeling.core.checkpoint import Checkpoint, find_checkpoint, load_checkpoint, load_weights
from modeling.core.dataset import ShardDataset, make_loader
from modeling.core.defect_gen.config import STAGE, DefectGenConfig, defect_gen_config_from_dict
from modeling.core.defect_gen.data import Selection, defect_gen_batches, select_samples
from modeling.core.defect_gen.models import DefectGen
from modeling.core.errors import CheckpointError
from modeling.core.shards import ClassInfo, resolve_shards
from modeling.core.trainer import Trainer, check_shards, setup_runtime


class DefectGenTrainer(Trainer):
    """The stage 1/2 Trainer (loop, logging, checkpoints, resume, DDP) over a DefectGen model, whose
    ``loss(batch, None)`` the Trainer's step calls for any stage but 1."""

    def use_implicit(self, step: int) -> bool:
        return False  # Defect-Gen has no implicit captioner


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
    out_dir = Path(out_dir)
    runtime = setup_runtime(device)
    source = resolve_shards(shards, split)
    check_shards(source)

    checkpoint = None
    if resume and find_checkpoint(out_dir / "checkpoints") is not None:
        checkpoint, saved_config = load_defect_gen_checkpoint(out_dir / "checkpoints")
        saved_config.train.steps = config.train.steps
        config = saved_config
        selection = selection_from_meta(checkpoint.meta)
    else:
        selection = select_samples(source, config.selection, few_shot_per_class=config.data.few_shot_per_class)
    config.validate()

    torch.manual_seed(config.train.seed + runtime.rank)
    model = DefectGen(config, num_classes=selection.num_classes).to(runtime.device)
    if config.train.gradient_checkpointing:
        model.large.enable_gradient_checkpointing()
        model.small.enable_gradient_checkpointing()
    meta = {
        "shards": source.manifest_url,
        "split": split,
        "dataset_version": source.manifest.get("dataset_version"),
        "vocabulary_version": source.manifest.get("vocabulary_version"),
        "weights": model.weights_in_use(),
        **selection.to_meta(),
    }
    trainer = DefectGenTrainer(
        stage=STAGE,  # type: ignore[arg-type]  # the Trainer writes it into metrics lines and checkpoints
        config=config,  # type: ignore[arg-type]
        model=model,
        runtime=runtime,
        out_dir=out_dir,
        classes=selection.classes,
        meta=meta,
    )
    trainer.seen_labels = set(range(selection.num_classes))  # every class of the set has training samples
    if checkpoint is not None:
        trainer.restore(checkpoint)
    if runtime.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))

    dataset = ShardDataset(
        source,
        config.data,
        train=True,
        seed=config.train.seed + 1000 * trainer.step,  # a resumed run reads a fresh, deterministic order
        rank=runtime.rank,
        world_size=runtime.world_size,
        keys=set(selection.keys),
    )
    loader = make_loader(dataset, batch_size=config.data.batch_size, num_workers=config.data.num_workers)
    batches = defect_gen_batches(iter(loader), selection, manifest_size=len(source.classes))
    metrics = trainer.run(batches, total_steps=config.train.steps)
    if runtime.distributed:
        dist.barrier()
        dist.destroy_process_group()
    folder = find_checkpoint(out_dir / "checkpoints")
    return {"step": trainer.step, "checkpoint": str(folder) if folder else None, "metrics": metrics}
