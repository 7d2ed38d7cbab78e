"""A training run from shards, the part every trainer shares: ``start_run`` (runtime and DDP, CPU
threads, shards resolved and checked, the checkpoint to resume from, the config validated, seeds)
and ``finish_run`` (restore, config.json, the shard loader, the loop, DDP closed); and ``train``,
Stage 1 and 2's entry point (Defect-Gen's is defect_gen/training.py), which refuses to train over
randomly initialised frozen parts unless the config allows it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from modeling.core.caption_terms import read_caption_terms
from modeling.core.checkpoint import Checkpoint, find_checkpoint, load_checkpoint
from modeling.core.config import ModelConfig
from modeling.core.dataset import ShardDataset, make_loader, select_few_shot
from modeling.core.errors import ConfigError
from modeling.core.shards import ShardSource, resolve_shards
from modeling.core.trainer import (
    FROZEN_PARTS,
    Runtime,
    Trainer,
    build_model,
    check_shards,
    setup_runtime,
    weights_in_use,
)


def cpu_threads(config: ModelConfig, runtime: Runtime) -> int | None:
    """The torch intra-op threads for a CPU run; None on a GPU (torch's own choice is right there).

    ``train.cpu_threads`` when set. Otherwise one thread on a small machine (4 cores or fewer): each
    DataLoader worker and every other process competes for the same cores, and torch's threads spin
    while they wait, so on a loaded 2-core box 300 tiny steps took 31m45s with two threads and 71 s
    with one. On a larger machine the cores are shared out between the processes that read and train.
    """
    if runtime.device.type != "cpu":
        return None
    if config.train.cpu_threads is not None:
        return config.train.cpu_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores <= 4:
        return 1
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", runtime.world_size))
    return max(1, cores // (local_processes * (1 + config.data.num_workers)))


@dataclass
class RunStart:
    """What every training run (stages 1, 2, Defect-Gen) has settled before it builds its model.

    config: the config to train with (a resumed run's saved one, its train.steps replaced);
    checkpoint: the newest checkpoint of out_dir when resuming, else None."""

    runtime: Runtime
    source: ShardSource
    config: Any
    checkpoint: Checkpoint | None
    out_dir: Path
    split: str | None
    threads: int | None

    def base_meta(self) -> dict[str, Any]:
        """The facts every checkpoint of the run records about its data and machine."""
        return {
            "shards": self.source.manifest_url,
            "split": self.split,
            "dataset_version": self.source.manifest.get("dataset_version"),
            "vocabulary_version": self.source.manifest.get("vocabulary_version"),
            "cpu_threads": self.threads,
        }


def start_run(
    *,
    config: Any,
    shards: str | list[str],
    out_dir: str | Path,
    split: str | None,
    resume: bool,
    device: str | None,
    load_saved: Callable[[Path], tuple[Checkpoint, Any]],
) -> RunStart:
    """The setup every trainer shares: runtime (DDP when torchrun), CPU threads, shards resolved and
    checked, the checkpoint to resume from (``load_saved`` reads it and its config), the config
    validated, the RNG seeded per rank."""
    out_dir = Path(out_dir)
    runtime = setup_runtime(device)
    source = resolve_shards(shards, split)
    check_shards(source)
    checkpoint = None
    existing = find_checkpoint(out_dir / "checkpoints")
    if existing is not None and not resume:
        # A fresh run would overwrite the saved run's checkpoints and append to its metrics.
        raise ConfigError(
            f"{out_dir} already holds a run (checkpoint at step {load_checkpoint(existing).step}); "
            "pass --resume to continue it, or choose another --out"
        )
    if existing is not None:
        checkpoint, saved_config = load_saved(out_dir / "checkpoints")
        saved_config.train.steps = config.train.steps  # a resumed run may be extended
        refuse_other_config(out_dir, saved=saved_config, given=config)
        refuse_other_version(out_dir, saved=checkpoint.meta.get("dataset_version"), given=source)
        config = saved_config
    config.validate()
    threads = cpu_threads(config, runtime)
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(config.train.seed + runtime.rank)
    return RunStart(
        runtime=runtime,
        source=source,
        config=config,
        checkpoint=checkpoint,
        out_dir=out_dir,
        split=split,
        threads=threads,
    )


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def refuse_other_config(out_dir: Path, *, saved: Any, given: Any) -> None:
    """A resumed run continues with its saved config; refuse one that asks for something else rather
    than silently ignoring it (train.steps may change: that extends the run)."""
    saved_values, given_values = _flatten(saved.to_dict()), _flatten(given.to_dict())
    changed = [
        key
        for key in sorted(saved_values.keys() | given_values.keys())
        if saved_values.get(key) != given_values.get(key)
    ]
    if changed:
        shown = ", ".join(
            f"{key}: {json.dumps(saved_values.get(key))} saved, {json.dumps(given_values.get(key))} given"
            for key in changed
        )
        raise ConfigError(
            f"{out_dir} was trained with another config ({shown}); resume with the same config and --set values"
        )


def refuse_other_version(out_dir: Path, *, saved: dict[str, Any] | None, given: ShardSource) -> None:
    """A resumed run reads the dataset version it started on: other shards would mix two datasets in
    one run and rewrite what its checkpoints say they were trained on."""
    version = given.manifest.get("dataset_version")
    if saved and version and saved != version:
        raise ConfigError(
            f"{out_dir} was trained on dataset version {saved.get('name')}; these shards are of {version.get('name')}"
        )


def finish_run(
    start: RunStart,
    trainer: Trainer,
    *,
    keys: set[str] | None,
    with_masks: bool,
    min_component_pixels: int = 4,
    caption_terms: dict[str, list[str]] | None = None,
    prepare: Callable[[Iterator[dict[str, Any]]], Iterator[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Restore a resumed run, write config.json, stream the shards into the trainer until
    train.steps (or a stop request), close DDP. Returns {"step", "checkpoint", "metrics", "stopped"}
    (the CLI's last line).

    prepare: turns the loader's batches into what the model's training_loss takes (Defect-Gen)."""
    config, runtime, out_dir = start.config, start.runtime, start.out_dir
    if start.checkpoint is not None:
        trainer.restore(start.checkpoint)
    if runtime.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    dataset = ShardDataset(
        start.source,
        config.data,
        train=True,
        seed=config.train.seed + 1000 * trainer.step,  # a resumed run reads a fresh, deterministic order
        rank=runtime.rank,
        world_size=runtime.world_size,
        keys=keys,
        min_component_pixels=min_component_pixels,
        with_masks=with_masks,
        caption_terms=caption_terms,
    )
    loader = make_loader(dataset, batch_size=config.data.batch_size, num_workers=config.data.num_workers)
    batches: Iterator[dict[str, Any]] = iter(loader)
    if prepare is not None:
        batches = prepare(batches)
    metrics = trainer.run(batches, total_steps=config.train.steps)
    if runtime.distributed:
        dist.barrier()
        dist.destroy_process_group()
    folder = find_checkpoint(out_dir / "checkpoints")
    return {
        "step": trainer.step,
        "checkpoint": str(folder) if folder else None,
        "metrics": metrics,
        "stopped": trainer.stopped,
    }


def frozen_random_parts(config: ModelConfig, init_from: str | Path | None) -> list[str]:
    """The frozen parts (vae, text_tower, image_tower) a run would train over with random weights:
    from the config, or, for Stage 2 from a Stage 1 checkpoint, as that checkpoint recorded them."""
    if init_from is None:
        return config.random_frozen_parts()
    weights = load_checkpoint(init_from, stage=1).meta.get("weights", {})
    return [part for part in FROZEN_PARTS if (weights.get(part) or {}).get("weights", "random-init") == "random-init"]


def refuse_random_frozen(config: ModelConfig, init_from: str | Path | None) -> list[str]:
    """Raise unless the frozen parts are pretrained or the config allows random ones; returns those."""
    random_parts = frozen_random_parts(config, init_from)
    if random_parts and not config.weights.allow_random_frozen:
        raise ConfigError(
            f"config {config.preset!r} would train over randomly initialised frozen {', '.join(random_parts)}: "
            "give local weights (weights.stable_diffusion, clip.image_weights, vae.weights, clip.text_weights) "
            "or pass --allow-random-frozen"
        )
    return random_parts


def train(
    *,
    stage: int,
    config: ModelConfig,
    shards: str | list[str],
    out_dir: str | Path,
    split: str | None = "train",
    resume: bool = False,
    init_from: str | Path | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Train Stage 1 or 2 from shards into out_dir; returns {"step", "checkpoint", "metrics"}.

    With ``resume``, the newest checkpoint in out_dir (if any) supplies the weights, optimizer, step
    and config (its ``train.steps`` is replaced by ``config.train.steps``, so a run can be extended).
    """
    if stage not in (1, 2):
        raise ConfigError(f"--stage must be 1 or 2, got {stage}")
    start = start_run(
        config=config,
        shards=shards,
        out_dir=out_dir,
        split=split,
        resume=resume,
        device=device,
        load_saved=lambda path: _load_saved(path, stage),
    )
    config = start.config
    if start.checkpoint is not None:
        init_from = None  # the resumed weights already hold the backbone
    random_parts = refuse_random_frozen(config, init_from)
    model = build_model(stage, config, init_from=init_from, pretrained=start.checkpoint is None)
    model = model.to(start.runtime.device)
    meta = {**start.base_meta(), "weights": weights_in_use(model, init_from), "random_frozen": random_parts}
    if start.checkpoint is not None:
        meta = {**start.checkpoint.meta, **{k: v for k, v in meta.items() if k not in ("weights", "random_frozen")}}
    trainer = Trainer(
        stage=stage,
        config=config,
        model=model,
        runtime=start.runtime,
        out_dir=start.out_dir,
        classes=start.source.classes,
        meta=meta,
    )
    keys = None
    if config.data.few_shot_per_class is not None:
        keys = select_few_shot(start.source, config.data.few_shot_per_class)
    caption_terms = None
    if stage == 2 and config.data.caption_terms is not None:
        caption_terms = read_caption_terms(config.data.caption_terms)
    return finish_run(
        start,
        trainer,
        keys=keys,
        with_masks=stage != 1,
        min_component_pixels=config.mask_generator.min_component_pixels,
        caption_terms=caption_terms,
    )


def _load_saved(path: Path, stage: int) -> tuple[Checkpoint, ModelConfig]:
    checkpoint = load_checkpoint(path, stage=stage)
    return checkpoint, checkpoint.config
