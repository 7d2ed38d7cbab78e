"""Defect-Gen, tiny config on CPU: what do the second (small) model and the switch cost?

Two figures, each against a baseline measured in this run on the same machine:
  - training: steps/s of the joint step (large + small model, one batch) vs the large model alone;
    the ratio is the share of single-model speed that training both jointly keeps;
  - sampling: pairs/s of the switch sampler (large for t >= u = 60, small below) vs the large model
    for every step (u = 0); above 1 means the switch also makes sampling cheaper.
Batches are random tensors in memory: this measures the models, not the shard pipeline.
"""

import os
import time

STEPS = int(os.environ.get("BENCH_DEFECT_GEN_STEPS", "20"))
SAMPLING_STEPS = int(os.environ.get("BENCH_DEFECT_GEN_SAMPLING_STEPS", "50"))
NUM_CLASSES = 3


def _batch(config, size: int):
    import torch

    image_size = config.data.image_size
    return {
        "pixel_values": torch.rand(size, 3, image_size, image_size) * 2 - 1,
        "mask": torch.randint(0, NUM_CLASSES + 1, (size, image_size, image_size)),
        "class_label": torch.randint(0, NUM_CLASSES, (size,)),
    }


def _large_only_loss(model, batch):
    """The large model's half of DefectGen.loss: the single-model baseline."""
    import torch
    import torch.nn.functional as F

    from modeling.core.defect_gen.models import encode_joint

    x = encode_joint(batch["pixel_values"], batch["mask"], NUM_CLASSES + 1)
    noise = torch.randn_like(x)
    timesteps = torch.randint(0, model.scheduler.config.num_train_timesteps, (len(x),))
    noisy = model.scheduler.add_noise(x, noise, timesteps)
    return F.mse_loss(model.large(noisy, timesteps, class_labels=batch["class_label"]).sample, noise)


def _training_rates(model, batch, steps: int, rounds: int = 4) -> tuple[float, float]:
    """Steps/s of (joint, large only), in alternating chunks so that load changes hit both alike."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    feeds = {"joint": lambda: model.loss(batch)["loss"], "large": lambda: _large_only_loss(model, batch)}
    seconds = dict.fromkeys(feeds, 0.0)
    for loss in feeds.values():  # warm-up
        loss().backward()
        optimizer.zero_grad(set_to_none=True)
    chunk = max(1, steps // rounds)
    for _ in range(rounds):
        for name, loss in feeds.items():
            started = time.perf_counter()
            for _ in range(chunk):
                loss().backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            seconds[name] += time.perf_counter() - started
    return chunk * rounds / seconds["joint"], chunk * rounds / seconds["large"]


def _sampling_rates(model, switch: int, pairs: int, rounds: int = 3) -> tuple[float, float]:
    """Pairs/s of (switch at u, large model alone), alternating rounds like the training figure."""
    import torch

    from modeling.core.defect_gen.sampler import switch_sample

    labels = torch.arange(pairs) % NUM_CLASSES
    switch_sample(model, labels[:2], switch_timestep=switch, num_inference_steps=2)  # warm-up
    seconds = {switch: 0.0, 0: 0.0}
    for _ in range(rounds):
        for u in seconds:
            started = time.perf_counter()
            switch_sample(model, labels, switch_timestep=u, num_inference_steps=SAMPLING_STEPS)
            seconds[u] += time.perf_counter() - started
    return rounds * pairs / seconds[switch], rounds * pairs / seconds[0]


def run() -> None:
    import torch

    from modeling.core.defect_gen.config import load_defect_gen_config
    from modeling.core.defect_gen.models import DefectGen

    config = load_defect_gen_config("tiny")
    torch.manual_seed(0)
    model = DefectGen(config, num_classes=NUM_CLASSES)
    batch = _batch(config, config.data.batch_size)
    size = config.data.image_size
    print(f"   torch threads {torch.get_num_threads()}, tiny config, {size} px, batch {config.data.batch_size}")
    model.train()
    joint, large = _training_rates(model, batch, STEPS)
    print(
        f"   training: joint (large + small) {joint:5.2f} steps/s | large alone {large:5.2f} steps/s | "
        f"ratio {joint / large:.2f}"
    )
    model.eval()
    pairs = config.data.batch_size
    switch = config.sampler.switch_timestep
    switched, large_only = _sampling_rates(model, switch, pairs)
    print(
        f"   sampling ({SAMPLING_STEPS} steps): switch at u={switch} {switched:5.2f} pairs/s | "
        f"large alone {large_only:5.2f} pairs/s | ratio {switched / large_only:.2f}"
    )
