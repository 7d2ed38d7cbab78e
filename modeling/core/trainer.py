"""The training loop of every stage: a plain loop, single process or DDP under torchrun.

``Trainer`` runs any model that keeps ``TrainableModel`` over an iterator of batches (so the
benchmarks can feed it from in-memory tensors); runs.py sets a run up from shards around it
(``runs.train`` for stages 1 and 2). ``build_model`` makes the stage 1/2 models.

Outputs in ``out_dir``: ``metrics.jsonl`` (one JSON object per log step), ``config.json`` and
``checkpoints/`` (see checkpoint.py).

Stopping: SIGTERM (what the platform's cancel and torchrun send) or ``Trainer.request_stop()``
finishes the step in progress, logs it, saves a resumable checkpoint and returns from ``run()``
with ``trainer.stopped`` set, so a cancelled run loses at most one step.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from modeling.core.checkpoint import Checkpoint, load_checkpoint, load_weights, save_checkpoint
from modeling.core.config import ModelConfig
from modeling.core.errors import ConfigError
from modeling.core.latent_diffusion import LatentDiffusion
from modeling.core.pretrained import load_stable_diffusion
from modeling.core.segmenter import Segmenter
from modeling.core.shards import ClassInfo, ShardSource, check_reachable
from modeling.core.stopping import stop_on_sigterm


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
        self.stop_requested = False  # set by request_stop() (SIGTERM while run() runs)
        self.stopped = False  # run() returned early, on request, after saving a checkpoint
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

    # -- stopping early ----------------------------------------------------------------------
    def request_stop(self) -> None:
        """Finish the step in progress, save a resumable checkpoint and return from run()."""
        self.stop_requested = True

    def _agreed_stop(self) -> bool:
        """Whether to stop now; under DDP every rank stops at the same step or the next collective hangs."""
        if not self.runtime.distributed:
            return self.stop_requested
        flag = torch.tensor([int(self.stop_requested)], device=self.runtime.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    # -- the loop ---------------------------------------------------------------------------
    def run(self, batches: Iterator[dict[str, Any]], *, total_steps: int) -> dict[str, Any]:
        """Train from self.step to total_steps (or until a stop request); returns the last logged metrics."""
        metrics_path = self.out_dir / "metrics.jsonl"
        log_every, save_every = self.config.train.log_every, self.config.train.save_every
        sums: dict[str, float] = {}
        count, samples, data_wait = 0, 0, 0.0
        window_start = started = time.perf_counter()
        last: dict[str, Any] = {}
        with stop_on_sigterm(self.request_stop):
            while self.step < total_steps:
                fetch_start = time.perf_counter()
                batch = next(batches)
                data_wait += time.perf_counter() - fetch_start
                losses = self.train_step(batch)
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + value
                count += 1
                samples += len(batch["pixel_values"]) * self.runtime.world_size
                stopping = self._agreed_stop()
                if self.step % log_every == 0 or self.step == total_steps or stopping:
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
                if self.step % save_every == 0 or self.step == total_steps or stopping:
                    self.save(last)
                if stopping:
                    self.stopped = True
                    break
        return last


def check_shards(source: ShardSource) -> None:
    for url in source.urls:
        check_reachable(url)
