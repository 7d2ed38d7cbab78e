"""Pre-annotation throughput with the tiny Stage 2 model on CPU, against the bare model.

The figures are measured in this run on the same images, one torch thread:
  - the bare forward pass: Segmenter.segment on images already decoded, resized and in memory,
    one image at a time (what the model alone costs, as the issue defines the baseline);
  - the bare batched forward pass: the same, PREANNOTATION_MODEL_BATCH_SIZE images per call (what
    the model alone costs as the job calls it: the job's ceiling);
  - pre-annotation: the platform's job (preannotation_run) over the same images as samples of a
    source: reading each original from the media storage, the model (predict_batch), masks to RLE,
    the prediction rows, the job's item rows and counters.
The ratio pre-annotation / bare (one at a time) is the target (>= 0.8: the platform's share of the
time is small); the ratio against the bare batched pass says how much of the batched model's speed
the job keeps.
The job runs at its default score threshold (0.3); the figure prints how many regions per sample
it stored, each upsampled to the original's size, encoded and written. The rounds alternate the three, each round on fresh samples (a job predicts a sample once), so a
change in the machine's load hits both alike. Images are 512x512 PNGs, as exported assets are.

BENCH_PREANNOTATE_SAMPLES (default 96) samples in BENCH_PREANNOTATE_ROUNDS (default 3) rounds.
"""

import io
import os
import tempfile
import time
from pathlib import Path

SAMPLES = int(os.environ.get("BENCH_PREANNOTATE_SAMPLES", "96"))
ROUNDS = int(os.environ.get("BENCH_PREANNOTATE_ROUNDS", "3"))
IMAGE_SIZE = 512
FAST = ["train.log_every=10", "train.save_every=10", "train.warmup_steps=1", "data.num_workers=0"]


def _tiny_stage2(root: Path) -> Path:
    """A Stage 2 checkpoint of the tiny config on a synthetic export: Stage 1 for 2 steps, Stage 2 for
    20, enough that it proposes a few regions per image above the default score threshold (after 2
    steps it proposes none, and the benchmark would not pay for regions)."""
    from modeling import train
    from tests.modeling.synthetic_shards import write_export

    export = write_export(root / "export", max_shapes=2)
    common = ["--config", "tiny", "--shards", str(export)] + [a for s in FAST for a in ("--set", s)]
    assert train.main(["--stage", "1", "--out", str(root / "stage1"), "--steps", "2", *common]) == 0
    stage2 = ["--stage", "2", "--out", str(root / "stage2"), "--init", str(root / "stage1"), "--steps", "20"]
    assert train.main([*stage2, *common]) == 0
    return root / "stage2"


def _images(count: int, seed: int):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for _ in range(count):
        pixels = rng.integers(90, 160, size=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        x, y = rng.integers(40, IMAGE_SIZE - 140, size=2)
        pixels[y : y + 12, x : x + 100] = (220, 30, 30)
        yield Image.fromarray(pixels)


def _samples(source, images) -> list:
    """Samples of `source` whose originals are these images (PNG in the media storage)."""
    import hashlib

    from django.core.files.base import ContentFile

    from catalog.dedup import dedup_scope_for
    from catalog.models import Sample

    samples = []
    for index, image in enumerate(images):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        sample = Sample(
            source=source,
            dedup_scope_id=dedup_scope_for(source),
            external_id=f"bench/{source.pk}/{index}.png",
            sha256=digest,
            phash="0" * 16,
            width=IMAGE_SIZE,
            height=IMAGE_SIZE,
            original_format="PNG",
            asset=f"assets/{digest}.jpg",
            thumbnail=f"thumbnails/{digest}.jpg",
        )
        sample.original.save(f"{digest}.png", ContentFile(data), save=False)
        sample.save()
        samples.append(sample)
    return samples


def _bare_seconds(segmenter, images, names: list[str], batch: int = 1) -> float:
    """Seconds for Segmenter.segment over the images, `batch` at a time, once they are tensors."""
    import numpy as np
    import torch
    from PIL import Image

    size = segmenter.image_size
    tensors = [
        torch.from_numpy(
            np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 127.5
            - 1.0
        ).permute(2, 0, 1)[None]
        for image in images
    ]
    batches = [torch.cat(tensors[start : start + batch]) for start in range(0, len(tensors), batch)]
    embeddings = segmenter._class_embeddings(names)
    started = time.perf_counter()
    for pixels in batches:
        segmenter.model.segment(pixels, embeddings)
    return time.perf_counter() - started


def run() -> None:
    import torch

    from .django_env import benchmark_database

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="imdd-bench-preannotate-") as tmp, benchmark_database():
        from annotation.services import annotations_enqueue
        from catalog.models import Sample, Source
        from modeling.core.inference import DefectSegmenter
        from modeling.models import ModelCheckpoint, RunKind, TrainingRun
        from modeling.preannotation_services import preannotation_request, preannotation_run
        from releases.models import DatasetVersion, Export
        from tests.annotation.factories import make_term
        from tests.modeling.synthetic_shards import CLASSES
        from vocabulary.models import Facet

        checkpoint_path = _tiny_stage2(Path(tmp))
        for cls in CLASSES[:3]:
            make_term(Facet.DEFECT_TYPE, cls.slug, label=cls.en)
        version = DatasetVersion.objects.create(number=1, title="bench")
        export = Export.objects.create(
            version=version,
            target=tmp,
            classes=[{"index": i, "slug": cls.slug} for i, cls in enumerate(CLASSES[:3], start=1)],
        )
        run_row = TrainingRun.objects.create(kind=RunKind.STAGE_2, dataset_version=version, export=export)
        checkpoint = ModelCheckpoint.objects.create(run=run_row, step=20, stage="2", path=str(checkpoint_path))
        segmenter = DefectSegmenter.from_checkpoint(checkpoint_path, "cpu")
        names = [cls.en for cls in CLASSES[:3]]
        per_round = max(1, SAMPLES // ROUNDS)
        print(f"   torch threads 1, tiny model at {segmenter.image_size} px, {IMAGE_SIZE}x{IMAGE_SIZE} PNG originals")
        print(f"   {ROUNDS} rounds of {per_round} samples")

        from django.conf import settings

        model_batch = settings.PREANNOTATION_MODEL_BATCH_SIZE
        print(f"   the job's forward batches: {model_batch} images (PREANNOTATION_MODEL_BATCH_SIZE)")
        warm = list(_images(model_batch, seed=99))
        _bare_seconds(segmenter, warm, names)  # first-call allocations
        _bare_seconds(segmenter, warm, names, model_batch)
        bare_total = batched_total = job_total = 0.0
        for round_index in range(ROUNDS):
            images = list(_images(per_round, seed=round_index))
            source = Source.objects.create(name=f"bench round {round_index}")
            samples = _samples(source, images)
            annotations_enqueue(samples=Sample.objects.filter(pk__in=[s.pk for s in samples]), by=None)

            bare_total += _bare_seconds(segmenter, images, names)
            batched_total += _bare_seconds(segmenter, images, names, model_batch)
            job = preannotation_request(checkpoint=checkpoint, source=source, requester=None, enqueue=False)
            started = time.perf_counter()
            job = preannotation_run(job=job, predictor=segmenter)
            job_total += time.perf_counter() - started
            assert job.predicted == per_round, (job.status, job.error, job.predicted)

        count = per_round * ROUNDS
        bare_rate, batched_rate, job_rate = count / bare_total, count / batched_total, count / job_total
        from annotation.models import PredictedRegion

        print(
            f"   {PredictedRegion.objects.count() / count:.1f} regions stored per sample (score threshold {job.score_threshold})"
        )
        print(f"   bare forward pass, one image a call    {bare_rate:8.1f} samples/s")
        print(f"   bare forward pass, {model_batch:2d} images a call  {batched_rate:8.1f} samples/s")
        print(f"   pre-annotation job                     {job_rate:8.1f} samples/s")
        print(f"   ratio job / bare, one image a call     {job_rate / bare_rate:8.2f}   (target >= 0.8)")
        print(f"   ratio job / bare, {model_batch:2d} images a call   {job_rate / batched_rate:8.2f}")
