"""Does Stage 2's caption grounding learn on real captions? Terms against tokens, held-out classes
against chance.

Trains the tiny Stage 2 twice from the same initialisation on the train split of a real export
(the platform's export of the real subsets: MVTec AD bottle, Magnetic Tile, NEU-DET), once
grounding on the captions' vocabulary terms (the default), once on every caption token (the old
way, the baseline), with the samples of the held-out classes left out of training. Prints the
grounding loss against chance (what it is when the queries cannot tell the captions apart: ln of
the batch size over the captions naming the same terms) over training, then evaluates both on the
test split: held-out-class grounding (is the true class name the best match of the image's
queries?) against a random ranking of the names.

    BENCH_GROUNDING_SHARDS=/exports/real/v1 python -m benchmarks grounding

Make the export with the platform (import the three subsets, caption, verify, publish,
`manage.py export_version N --format webdataset --to DIR`); tests/modeling/real_export.py does the
same in the tests. Environment: BENCH_GROUNDING_STEPS (600), BENCH_GROUNDING_SIZE (32),
BENCH_GROUNDING_HELD_OUT (def-crack,def-contamination), BENCH_GROUNDING_WEIGHT (the preset's grounding weight).
"""

import json
import os
import tempfile
import time
from pathlib import Path

STEPS = int(os.environ.get("BENCH_GROUNDING_STEPS", "600"))
SIZE = int(os.environ.get("BENCH_GROUNDING_SIZE", "32"))
HELD_OUT = os.environ.get("BENCH_GROUNDING_HELD_OUT", "def-crack,def-contamination").split(",")
WEIGHT = os.environ.get("BENCH_GROUNDING_WEIGHT")  # mask_generator.grounding_weight; unset: the preset's
BATCH = 8


def _train(mode: str, source, keys, out: Path):
    import torch

    from modeling.core.config import load_config
    from modeling.core.dataset import ShardDataset, make_loader
    from modeling.core.trainer import Runtime, Trainer, build_model

    config = load_config(
        "tiny",
        [
            f"mask_generator.grounding_on={mode}",
            f"data.image_size={SIZE}",
            f"data.batch_size={BATCH}",
            "data.num_workers=0",
            f"train.steps={STEPS}",
            f"train.log_every={STEPS}",
            f"train.save_every={STEPS}",
            *([f"mask_generator.grounding_weight={WEIGHT}"] if WEIGHT else []),
        ],
    )
    torch.manual_seed(0)
    model = build_model(2, config)
    trainer = Trainer(stage=2, config=config, model=model, runtime=Runtime(), out_dir=out, classes=source.classes)
    batches = iter(
        make_loader(ShardDataset(source, config.data, train=True, keys=keys), batch_size=BATCH, num_workers=0)
    )
    curve, window = [], []
    every = max(1, STEPS // 6)
    started = time.perf_counter()
    for step in range(1, STEPS + 1):
        losses = trainer.train_step(next(batches))
        window.append((losses["grounding"], losses["grounding_chance"]))
        # Six windows; the last takes the remainder (2000 steps: 1666-2000), never a window of two
        # steps, whose mean would be read as "the last loss". Each window: (step, loss, chance).
        if step == STEPS or (step % every == 0 and STEPS - step >= every):
            curve.append((step, *(sum(column) / len(window) for column in zip(*window, strict=True))))
            window = []
    trainer.save()
    return curve, time.perf_counter() - started


def run() -> None:
    import torch

    from modeling.core.dataset import iterate_raw_samples, sample_class_indices
    from modeling.core.evaluation import evaluate
    from modeling.core.shards import resolve_shards

    torch.set_num_threads(1)
    shards = os.environ.get("BENCH_GROUNDING_SHARDS")
    if not shards:
        print("   skipped: set BENCH_GROUNDING_SHARDS to an export of the real subsets (see the docstring)")
        return
    source = resolve_shards(shards, "train")
    held_out = {c.index for c in source.classes if c.slug in HELD_OUT}
    keys = set()
    for raw in iterate_raw_samples(source.urls):
        annotation = json.loads(raw["json"]) if "json" in raw else {}
        if not sample_class_indices(annotation, source.classes) & held_out:
            keys.add(raw["__key__"])
    weight = WEIGHT or "the preset's"
    print(
        f"   {len(keys)} training samples without {', '.join(HELD_OUT)}; {STEPS} steps at {SIZE} px, grounding weight {weight}"
    )
    print(f"   chance: ln({BATCH} / the batch's captions naming the same terms as the image's), a mean over the window")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("tokens", "terms"):
            out = Path(folder) / mode
            curve, seconds = _train(mode, source, keys, out)
            report = evaluate(checkpoint=out, shards=shards, out_dir=out / "eval", split="test", held_out=HELD_OUT)
            results[mode] = report
            figures = ", ".join(f"{step}: {loss:.3f} / {chance:.3f}" for step, loss, chance in curve)
            print(f"   grounding on {mode}: loss / chance by step {figures} ({seconds:.0f} s)")
            print(f"      last / chance = {curve[-1][1] / curve[-1][2]:.2f}")
            for name, grounding in (
                ("all classes", report["grounding"]),
                ("held-out", report["open_vocabulary"]["grounding"]),
            ):
                if grounding and grounding["images"]:
                    print(
                        f"      {name}: top-1 {grounding['top1']:.3f} vs random {grounding['random_top1']:.3f}, "
                        f"MRR {grounding['mean_reciprocal_rank']:.3f} vs random {grounding['random_mean_reciprocal_rank']:.3f} "
                        f"({grounding['images']} images)"
                    )
