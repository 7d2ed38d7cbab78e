"""GPU figures of the paper-size model, in one command (under 8 minutes on one GPU):

  1. Stage 1 training throughput, sd15 at 512 px, bf16 autocast: images/s of our Trainer's step
     against diffusers' own text-to-image training step (examples/text_to_image/train_text_to_image.py:
     VAE encode, noise, add_noise, text encoder, U-Net, MSE, backward, AdamW, LR step) on the same
     batch, with the same modules, measured alternately in the same run. Target: ratio >= 1.0.
  2. Stage 2 inference, sd15 at 512 px: latency (CUDA synchronised) and peak allocated memory per
     image through DefectSegmenter.predict, fp32 and bf16 autocast (paper: 0.35 s and 18.7 GB on an
     A100; target <= 0.1 s on an H100).

    python -m benchmarks gpu             # the GPU figures; on a machine without CUDA, the smoke path
    python -m benchmarks.gpu --smoke     # the smoke path: the same code, tiny config, CPU, seconds

Weights are random (allowed here: speed does not depend on them). The smoke path runs in CI
(tests/modeling/test_gpu_benchmark.py) so that the GPU command is known to work the day a GPU is lent.
Environment: BENCH_GPU_BATCH (8), BENCH_GPU_STEPS (20), BENCH_GPU_IMAGES (20).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any


def _config(smoke: bool, batch: int):
    from modeling.core.config import load_config

    overrides = [f"data.batch_size={batch}", "weights.allow_random_frozen=true", "captioner.implicit_fraction=0.5"]
    if smoke:
        return load_config("tiny", overrides + ["data.image_size=64"])
    return load_config("sd15", overrides)


def _batch(config, batch: int, device) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(0)
    size = config.data.image_size
    captions = [f"a close-up of a metal part with a scratch near the edge, sample {i}" for i in range(batch)]
    pixels = torch.rand((batch, 3, size, size), generator=generator) * 2 - 1
    return {"pixel_values": pixels.to(device), "caption": captions}


def diffusers_training_step(model, optimizer, scheduler, batch, autocast) -> None:
    """One step as diffusers' train_text_to_image.py takes it (its loop, our modules)."""
    import torch
    import torch.nn.functional as F

    with autocast:
        with torch.no_grad():
            latents = model.vae.encode(batch["pixel_values"]).latent_dist.sample() * model.vae.config.scaling_factor
            encoder_hidden_states = model.text_tower(model.text_tower.tokenize(batch["caption"])).hidden
        noise = torch.randn_like(latents)
        timesteps = torch.randint(
            0, model.scheduler.config.num_train_timesteps, (latents.shape[0],), device=latents.device
        )
        noisy = model.scheduler.add_noise(latents, noise, timesteps)
        prediction = model.unet(noisy, timesteps, encoder_hidden_states).sample
        loss = F.mse_loss(prediction.float(), noise.float(), reduction="mean")
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.unet.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stage_1_throughput(smoke: bool, device, batch: int, steps: int) -> dict[str, Any]:
    import tempfile

    import torch

    from modeling.core.trainer import Runtime, Trainer, build_model

    config = _config(smoke, batch)
    config.train.steps = 10**6
    config.train.gradient_checkpointing = False
    torch.manual_seed(0)
    model = build_model(1, config).to(device)
    data = _batch(config, batch, device)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(stage=1, config=config, model=model, runtime=Runtime(device=device), out_dir=out, classes=[])
        baseline_optimizer = torch.optim.AdamW(model.unet.parameters(), lr=1e-5)
        baseline_schedule = torch.optim.lr_scheduler.LambdaLR(baseline_optimizer, lambda step: 1.0)
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

        def ours():
            trainer.train_step(data)

        def theirs():
            model.train()
            model.set_frozen_eval()
            diffusers_training_step(model, baseline_optimizer, baseline_schedule, data, autocast)

        for _ in range(2 if smoke else 5):  # warm-up: kernels, allocator, cuDNN autotuning
            ours()
            theirs()
        seconds = {"ours": 0.0, "diffusers": 0.0}
        rounds = 2 if smoke else 4
        chunk = max(1, steps // rounds)
        for _ in range(rounds):  # alternate, so that a change in the machine's state hits both alike
            for name, step in (("ours", ours), ("diffusers", theirs)):
                _synchronize(device)
                started = time.perf_counter()
                for _ in range(chunk):
                    step()
                _synchronize(device)
                seconds[name] += time.perf_counter() - started
    images = chunk * rounds * batch
    ours_rate, theirs_rate = images / seconds["ours"], images / seconds["diffusers"]
    return {
        "preset": config.preset,
        "image_size": config.data.image_size,
        "batch": batch,
        "steps": chunk * rounds,
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "ours_images_per_s": round(ours_rate, 3),
        "diffusers_images_per_s": round(theirs_rate, 3),
        "ratio": round(ours_rate / theirs_rate, 3),
        "note": "ours also runs the implicit captioner (CLIP image tower + MLP) on half the steps",
    }


def stage_2_inference(smoke: bool, device, images: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from modeling.core.inference import DefectSegmenter
    from modeling.core.trainer import build_model

    config = _config(smoke, 1)
    torch.manual_seed(0)
    segmenter = DefectSegmenter(build_model(2, config).to(device).eval(), device)
    size = config.data.image_size
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(images)]
    names = ["scratch", "dent", "crack", "stain", "hole"]
    results = {}
    for precision in ("fp32", "bf16") if device.type == "cuda" else ("fp32",):
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        with autocast:
            for frame in frames[:3]:  # warm-up
                segmenter.predict(frame, names)
            predictions = [segmenter.predict(frame, names) for frame in frames]
        latencies = [p.latency_s for p in predictions]
        results[precision] = {
            "latency_s_median": round(statistics.median(latencies), 4),
            "latency_s_p90": round(sorted(latencies)[int(0.9 * (len(latencies) - 1))], 4),
            "peak_memory_gb": round(max(p.peak_memory_bytes for p in predictions) / 1e9, 3),
            "peak_memory_kind": predictions[-1].peak_memory_kind,
        }
    return {"preset": config.preset, "image_size": size, "images": images, **results}


def figures(*, smoke: bool) -> dict[str, Any]:
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    device = torch.device("cuda" if torch.cuda.is_available() and not smoke else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)
    batch = 2 if smoke else int(os.environ.get("BENCH_GPU_BATCH", "8"))
    steps = 2 if smoke else int(os.environ.get("BENCH_GPU_STEPS", "20"))
    images = 3 if smoke else int(os.environ.get("BENCH_GPU_IMAGES", "20"))
    started = time.perf_counter()
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (smoke path)",
        "stage_1_training": stage_1_throughput(smoke, device, batch, steps),
        "stage_2_inference": stage_2_inference(smoke, device, images),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def run() -> None:
    import torch

    smoke = not torch.cuda.is_available()
    if smoke:
        print("   no CUDA device: the smoke path (tiny config on the CPU); the GPU figures need a GPU")
    result = figures(smoke=smoke)
    training, inference = result["stage_1_training"], result["stage_2_inference"]
    print(f"   {result['device']}")
    print(
        f"   stage 1 {training['preset']} {training['image_size']} px, batch {training['batch']}, {training['precision']}: "
        f"{training['ours_images_per_s']} img/s vs diffusers' step {training['diffusers_images_per_s']} img/s, "
        f"ratio {training['ratio']}"
    )
    for precision in ("fp32", "bf16"):
        if precision in inference:
            figures_ = inference[precision]
            print(
                f"   stage 2 {inference['preset']} {inference['image_size']} px {precision}: latency median "
                f"{figures_['latency_s_median']} s (p90 {figures_['latency_s_p90']} s), peak {figures_['peak_memory_gb']} GB "
                f"({figures_['peak_memory_kind']})"
            )
    print("   " + json.dumps(result))


if __name__ == "__main__":
    if "--smoke" in sys.argv[1:]:
        print(json.dumps(figures(smoke=True)))
    else:
        run()
