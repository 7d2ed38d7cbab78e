"""Tiny-config training on CPU: is the shard pipeline fast enough to keep the model busy?

Three figures per stage, measured in this run on the same machine:
  - the data pipeline alone: decoded, augmented samples per second from the shards;
  - training steps per second fed from the shards (the real loop, DataLoader worker included);
  - training steps per second of the same model fed from batches already in memory (the baseline).
The ratio shards / in-memory is the target (>= 0.9, the pipeline must not be the bottleneck).
Shard images are 512x512 PNGs, as the platform's exported assets are.
"""

import itertools
import os
import tempfile
import time
from pathlib import Path

STEPS = int(os.environ.get("BENCH_TRAINING_STEPS", "30"))
SAMPLES = int(os.environ.get("BENCH_TRAINING_SAMPLES", "96"))
IMAGE_SIZE = 512


def _trainer(stage: int, source, out: Path):
    import torch

    from modeling.core.config import load_config
    from modeling.core.trainer import Runtime, Trainer, build_model

    config = load_config(
        "tiny", [f"train.steps={10 * STEPS}", f"train.log_every={10 * STEPS}", "train.save_every=1000000"]
    )
    torch.manual_seed(0)
    model = build_model(stage, config)
    trainer = Trainer(stage=stage, config=config, model=model, runtime=Runtime(), out_dir=out, classes=source.classes)
    return trainer, config


def _interleaved_steps_per_second(trainer, in_memory, from_shards, steps: int, rounds: int = 5):
    """Steps/s of both feeds, measured in alternating chunks so that a change in the machine's load
    (a shared CI box) hits both alike. Returns (in-memory, from-shards)."""
    for _ in range(3):  # warm-up: first-call allocations, worker start, shuffle buffer fill
        trainer.train_step(next(in_memory))
        trainer.train_step(next(from_shards))
    seconds = {"memory": 0.0, "shards": 0.0}
    chunk = max(1, steps // rounds)
    for _ in range(rounds):
        for name, batches in (("memory", in_memory), ("shards", from_shards)):
            started = time.perf_counter()
            for _ in range(chunk):
                trainer.train_step(next(batches))
            seconds[name] += time.perf_counter() - started
    return chunk * rounds / seconds["memory"], chunk * rounds / seconds["shards"]


def _pipeline_samples_per_second(source, config, samples: int, with_masks: bool) -> float:
    from modeling.core.dataset import ShardDataset, make_loader

    loader = make_loader(
        ShardDataset(source, config.data, train=True, with_masks=with_masks),
        batch_size=config.data.batch_size,
        num_workers=config.data.num_workers,
    )
    batches = iter(loader)
    next(batches)
    started = time.perf_counter()
    count = 0
    while count < samples:
        count += len(next(batches)["pixel_values"])
    return count / (time.perf_counter() - started)


def run() -> None:
    import torch

    from modeling.core.dataset import ShardDataset, make_loader
    from modeling.core.shards import resolve_shards
    from tests.modeling.synthetic_shards import write_export

    print(f"   torch threads {torch.get_num_threads()}, batch 8 at 64 px, {STEPS} timed steps per feed")
    for image_format in ("jpg", "png"):
        with tempfile.TemporaryDirectory(prefix="imdd-bench-training-") as tmp:
            manifest = write_export(
                Path(tmp),
                splits={"train": SAMPLES},
                image_size=IMAGE_SIZE,
                shard_size=32,
                max_shapes=2,
                image_format=image_format,
            )
            source = resolve_shards(str(manifest), "train")
            megabytes = sum(Path(u).stat().st_size for u in source.urls) / 1e6
            size = f"{IMAGE_SIZE}x{IMAGE_SIZE}"
            print(f"   {SAMPLES} {image_format.upper()} samples of {size}, {megabytes:.0f} MB of shards")
            for stage in (1, 2):
                trainer, config = _trainer(stage, source, Path(tmp) / f"stage{stage}")
                with_masks = stage != 1  # as the trainer reads: Stage 1 trains on images and captions only
                pipeline = _pipeline_samples_per_second(source, config, 4 * SAMPLES, with_masks)
                memory_loader = make_loader(
                    ShardDataset(source, config.data, train=True, with_masks=with_masks),
                    batch_size=config.data.batch_size,
                    num_workers=0,
                )
                in_memory = itertools.cycle(list(itertools.islice(iter(memory_loader), 4)))
                from_shards = iter(
                    make_loader(
                        ShardDataset(source, config.data, train=True, seed=1, with_masks=with_masks),
                        batch_size=config.data.batch_size,
                        num_workers=config.data.num_workers,
                    )
                )
                memory_rate, shards_rate = _interleaved_steps_per_second(trainer, in_memory, from_shards, STEPS)
                batch = config.data.batch_size
                print(
                    f"   {image_format} stage {stage}: pipeline alone {pipeline:6.1f} samples/s "
                    f"({config.data.num_workers} worker) | in-memory {memory_rate:5.2f} steps/s "
                    f"({memory_rate * batch:5.1f} samples/s) | from shards {shards_rate:5.2f} steps/s "
                    f"({shards_rate * batch:5.1f} samples/s) | ratio {shards_rate / memory_rate:.2f} (target >= 0.9)"
                )
