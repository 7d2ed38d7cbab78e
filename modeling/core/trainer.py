"""The training loop for both stages: a plain loop, single process or DDP under torchrun.

``train()`` resolves the shards, builds (or resumes) the model, and runs ``Trainer`` over the
shard loader. ``Trainer`` itself only needs an iterator of batches, so the benchmark can feed the
same model from in-memory tensors.

Outputs in ``out_dir``: ``metrics.jsonl`` (one JSON object per log step), ``config.json`` and
``checkpoints/`` (see checkpoint.py).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from modeling.core.caption_terms import read_caption_terms
from modeling.core.checkpoint import Checkpoint, find_checkpoint, load_checkpoint, load_weights, save_checkpoint
from modeling.core.config import ModelConfig
from modeling.core.dataset import ShardDataset, make_loader, select_few_shot
from modeling.core.errors import ConfigError
from modeling.core.latent_diffusion import LatentDiffusion
from modeling.core.pretrained import load_stable_diffusion
from modeling.core.segmenter import Segmenter
from modeling.core.shards import ClassInfo, ShardSource, check_reachable, resolve_shards


@dataclass
class Runtime:
    """Where this process runs: its DDP rank (0 of 1 without torchrun) and device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_runtime(device: str | None = None) -> Runtime:
    """Join the process group only when torchrun started several processes (WORLD_SIZE > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    runtime = Runtime(rank=rank, world_size=world_size, local_rank=local_rank, device=torch.device(device))
    if runtime.device.type == "cuda":
        torch.cuda.set_device(runtime.device)
    if runtime.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if runtime.device.type == "cuda" else "gloo")
    return runtime


FROZEN_PARTS = ("vae", "text_tower", "image_tower")


def build_model(
    stage: int, config: ModelConfig, *, init_from: str | Path | None = None, pretrained: bool = False
) -> nn.Module:
    """Stage 1: LatentDiffusion. Stage 2: Segmenter over a backbone loaded from a Stage 1 checkpoint
    (``init_from``), or a fresh one when none is given.

    pretrained: a fresh model (a new run, not a checkpoint about to be loaded) takes the U-Net, VAE
    and text encoder of ``weights.stable_diffusion`` when the config names one."""
    if stage not in (1, 2):
        raise ConfigError(f"--stage must be 1 or 2, got {stage}")
    backbone = LatentDiffusion(config)
    if init_from is not None and stage == 2:
        checkpoint = load_checkpoint(init_from, stage=1)
        load_weights(backbone, checkpoint.state_dict(), source=f"stage 1 checkpoint {checkpoint.path}")
    elif pretrained and config.weights.stable_diffusion is not None:
        load_stable_diffusion(backbone, config.weights.stable_diffusion)
    return backbone if stage == 1 else Segmenter(config, backbone)


def weights_in_use(model: nn.Module, init_from: str | Path | None) -> dict[str, Any]:
    backbone = model.backbone if isinstance(model, Segmenter) else model
    weights: dict[str, Any] = dict(backbone.weights_in_use())
    if init_from is not None:
        checkpoint = load_checkpoint(init_from, stage=1)
        # the frozen parts are the Stage 1 run's: what it recorded is what this run has
        weights.update(
            {part: value for part, value in checkpoint.meta.get("weights", {}).items() if part in FROZEN_PARTS}
        )
        weights["backbone"] = {"stage_1_checkpoint": str(checkpoint.path.resolve())}
        weights["unet"] = {"model": "UNet2DConditionModel", "weights": "stage 1 checkpoint"}
    return weights


def lr_factor(step: int, config: ModelConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak at the last step."""
    warmup = config.train.warmup_steps
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, config.train.steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class TrainableModel(Protocol):
    """What the Trainer needs of a model: the contract Stage 1 (LatentDiffusion), Stage 2 (Segmenter)
    and Defect-Gen (DefectGen) all keep. The Trainer knows nothing else of them.

    - ``training_loss(batch, step=..., class_embeddings=...)``: the named losses of one batch, the
      total under "loss" (the one backpropagated; the others are logged). ``step`` lets a model make
      per-step choices that must agree on every DDP rank (Stage 1: text or implicit caption);
      ``class_embeddings`` is (C, E) for the manifest's defect classes in Stage 2, None otherwise.
      Every parameter that requires grad must be reachable from "loss" on every step, or the model
      must say so by keeping some steps idle (Stage 1's captioner: ``find_unused_parameters``).
    - ``set_frozen_eval()``: put the frozen parts in eval mode (called after ``train()`` every step).
    - ``state_dict()`` / ``load_state_dict()``: everything a checkpoint saves and restores.
    """

    def training_loss(
        self, batch: dict[str, Any], *, step: int, class_embeddings: torch.Tensor | None
    ) -> dict[str, torch.Tensor]: ...

    def set_frozen_eval(self) -> None: ...


class _StepModule(nn.Module):
    """The loss of one batch as a forward(), which is what DistributedDataParallel synchronises."""

    def __init__(self, model: nn.Module, class_embeddings: torch.Tensor | None):
        super().__init__()
        self.model = model
        self.class_embeddings = class_embeddings

    def forward(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        return self.model.training_loss(batch, step=step, class_embeddings=self.class_embeddings)


class Trainer:
    """Optimises a model one batch at a time, logs JSON lines, saves checkpoints.

    The model keeps the TrainableModel contract above; the stage only names the run in metrics
    lines and checkpoints, and decides whether class embeddings are computed (stage 2).

    Args:
        stage: 1, 2 or "defect-gen".
        model: a TrainableModel on runtime.device: LatentDiffusion, Segmenter or DefectGen.
        classes: the manifest classes (stage 2 trains on classes[1:]; recorded in checkpoints).
        meta: extra facts for every checkpoint (shards, dataset version, weights in use).
    """

    def __init__(
        self,
        *,
        stage: int | str,
        config: ModelConfig,
        model: nn.Module,
        runtime: Runtime,
        out_dir: Path,
        classes: list[ClassInfo],
        meta: dict[str, Any] | None = None,
    ):
        self.stage = stage
        self.config = config
        self.model = model
        self.runtime = runtime
        self.out_dir = Path(out_dir)
        self.classes = classes
        self.meta = meta or {}
        self.step = 0
        self.seen_labels: set[int] = set()  # stage 2: defect labels that had a training target
        if config.train.gradient_checkpointing and stage == 1:
            model.unet.enable_gradient_checkpointing()
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=config.train.lr, weight_decay=config.train.weight_decay)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(step, config))
        class_embeddings = None
        if stage == 2:
            class_embeddings = model.embed_names([c.name for c in classes[1:]]).to(runtime.device)
        self.step_module: nn.Module = _StepModule(model, class_embeddings)
        if runtime.distributed:
            self.step_module = DistributedDataParallel(
                self.step_module,
                device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None,
                find_unused_parameters=stage == 1,  # the captioner is idle on text-conditioned steps
                broadcast_buffers=False,
            )
        self.autocast = torch.autocast(
            device_type=runtime.device.type,
            dtype=torch.bfloat16,
            enabled=runtime.device.type == "cuda" and config.train.mixed_precision == "bf16",
        )

    # -- state ------------------------------------------------------------------------------
    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue exactly where ``checkpoint`` stopped: weights, optimizer, schedule, RNG, step."""
        load_weights(self.model, checkpoint.state_dict(self.runtime.device), source=f"checkpoint {checkpoint.path}")
        state = checkpoint.trainer_state()
        if state is None:
            raise ConfigError(f"checkpoint {checkpoint.path} has no optimizer state to resume from")
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng_cpu"])
        slugs = [c.slug for c in self.classes]
        self.seen_labels = {slugs.index(s) - 1 for s in checkpoint.meta.get("trained_classes", []) if s in slugs}
        if self.runtime.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.runtime.device)
        self.step = checkpoint.step

    def save(self, metrics: dict[str, Any] | None = None) -> Path | None:
        if not self.runtime.is_main:
            return None
        meta = {
            **self.meta,
            "stage": self.stage,
            "step": self.step,
            "config": self.config.to_dict(),
            "classes": [{"index": c.index, "slug": c.slug, "labels": c.labels} for c in self.classes],
            # the classes the mask generator saw as targets; evaluation treats the others as held out
            "trained_classes": [self.classes[label + 1].slug for label in sorted(self.seen_labels)],
            "metrics": metrics or {},
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "torch_version": torch.__version__,
        }
        trainer_state = {
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.runtime.device) if self.runtime.device.type == "cuda" else None,
        }
        return save_checkpoint(self.out_dir, model=self.model, meta=meta, trainer_state=trainer_state)

    # -- one step ---------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.model.train()
        self.model.set_frozen_eval()
        batch = dict(batch, pixel_values=batch["pixel_values"].to(self.runtime.device, non_blocking=True))
        if self.stage == 2:
            self.seen_labels.update(int(label) for labels in batch["target_labels"] for label in labels)
        with self.autocast:
            losses = self.step_module(batch, self.step)
        losses["loss"].backward()
        if self.config.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.config.train.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()
        self.step += 1
        return {name: float(value.detach()) for name, value in losses.items()}

    # -- the loop ---------------------------------------------------------------------------
    def run(self, batches: Iterator[dict[str, Any]], *, total_steps: int) -> dict[str, Any]:
        """Train from self.step to total_steps; returns the last logged metrics."""
        metrics_path = self.out_dir / "metrics.jsonl"
        log_every, save_every = self.config.train.log_every, self.config.train.save_every
        sums: dict[str, float] = {}
        count, samples, data_wait = 0, 0, 0.0
        window_start = started = time.perf_counter()
        last: dict[str, Any] = {}
        while self.step < total_steps:
            fetch_start = time.perf_counter()
            batch = next(batches)
            data_wait += time.perf_counter() - fetch_start
            losses = self.train_step(batch)
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value
            count += 1
            samples += len(batch["pixel_values"]) * self.runtime.world_size
            if self.step % log_every == 0 or self.step == total_steps:
                elapsed = time.perf_counter() - window_start
                last = {
                    "step": self.step,
                    "stage": self.stage,
                    **{name: round(total / count, 6) for name, total in sums.items()},
                    "lr": self.schedule.get_last_lr()[0],
                    "samples_per_s": round(samples / elapsed, 3),
                    "steps_per_s": round(count / elapsed, 4),
                    "data_wait_fraction": round(data_wait / elapsed, 4),
                    "elapsed_s": round(time.perf_counter() - started, 3),
                    "time": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                if self.runtime.is_main:
                    with metrics_path.open("a") as log:
                        log.write(json.dumps(last) + "\n")
                sums, count, samples, data_wait = {}, 0, 0, 0.0
                window_start = time.perf_counter()
            if self.step % save_every == 0 or self.step == total_steps:
                self.save(last)
        return last


def check_shards(source: ShardSource) -> None:
    for url in source.urls:
        check_reachable(url)


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
    if resume and find_checkpoint(out_dir / "checkpoints") is not None:
        checkpoint, saved_config = load_saved(out_dir / "checkpoints")
        saved_config.train.steps = config.train.steps  # a resumed run may be extended
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
    train.steps, close DDP. Returns {"step", "checkpoint", "metrics"} (the CLI's last line).

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
    return {"step": trainer.step, "checkpoint": str(folder) if folder else None, "metrics": metrics}


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
