"""Import throughput: 900x900 PNGs into 512x512 assets, against a bare Pillow loop.

The baseline does only what cannot be avoided: read, decode, resize, encode one JPEG, one image
after another. The import also hashes (sha256 and pHash), makes a thumbnail, stores three files
and writes the database; it overlaps that work with decoding in its thread pool.
Target: >= 0.85 of the bare loop on one worker.
"""

import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

IMAGES = int(os.environ.get("BENCH_IMPORT_IMAGES", "200"))
SMALL_BATCH = 25  # the default IMPORT_BATCH_SIZE (256) imports the benchmark's images in one batch
SIZE = 900


def make_images(folder: Path, count: int) -> list[Path]:
    """Textured 900x900 PNGs that compress like real inspection photos (about 1 MB each)."""
    rng = np.random.default_rng(0)
    paths = []
    for number in range(count):
        coarse = rng.integers(60, 200, (30, 30, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((SIZE, SIZE), Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = np.clip(smooth + rng.integers(-6, 7, smooth.shape), 0, 255).astype(np.uint8)
        path = folder / f"{number:05d}.png"
        Image.fromarray(noisy).save(path)
        paths.append(path)
    (folder / "manifest.jsonl").write_text("\n".join(json.dumps({"image": p.name}) for p in paths))
    return paths


def bare_loop(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        image = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
        resized = image.resize((512, 512), Image.Resampling.BILINEAR, reducing_gap=2.0)
        buffer = io.BytesIO()
        resized.save(buffer, format="JPEG", quality=92)
    return time.perf_counter() - started


def platform_import(folder: Path, workers: int) -> float:
    from catalog import services
    from catalog.ingest import import_run
    from catalog.models import ImportRow, Sample

    ImportRow.objects.all().delete()
    Sample.objects.all().delete()
    source = services.source_for_import(name=f"bench-{workers}")
    job = services.import_job_create(
        format="folder", path=str(folder), source=source, created_by=None, restrict_to_import_roots=False
    )
    started = time.perf_counter()
    job = import_run(job=job, workers=workers)
    elapsed = time.perf_counter() - started
    assert job.imported == len(list(folder.glob("*.png"))), (job.imported, job.rejected, job.error)
    return elapsed


def run() -> None:
    from benchmarks.django_env import benchmark_database

    with tempfile.TemporaryDirectory(prefix="imdd-bench-images-") as tmp, benchmark_database():
        from django.db import connection

        folder = Path(tmp)
        paths = make_images(folder, IMAGES)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(f"   {IMAGES} PNGs of {SIZE}x{SIZE}, {megabytes:.0f} MB, database {connection.vendor}")
        bare_loop(paths[:10])  # warm the page cache and Pillow
        import catalog.ingest  # noqa: F401  (module loading is not import throughput)

        bare = bare_loop(paths)
        one_thread = platform_import(folder, workers=1)
        two_threads = platform_import(folder, workers=2)
        bare_rate = IMAGES / bare
        print(f"   bare Pillow loop        {bare_rate:7.1f} img/s")
        print(f"   import, 1 thread        {IMAGES / one_thread:7.1f} img/s   ratio {bare / one_thread:.2f}")
        print(
            f"   import, 2 threads       {IMAGES / two_threads:7.1f} img/s   ratio {bare / two_threads:.2f}"
            "   (one worker process; target >= 0.85)"
        )
        # What the batch chain costs: each batch runs the importer's discovery again to find its slice.
        from django.test import override_settings

        with override_settings(IMPORT_BATCH_SIZE=SMALL_BATCH):
            small_batches = platform_import(folder, workers=2)
        print(
            f"   import, 2 threads, batches of {SMALL_BATCH}: {IMAGES / small_batches:7.1f} img/s   "
            f"ratio to one batch {two_threads / small_batches:.2f}"
        )
