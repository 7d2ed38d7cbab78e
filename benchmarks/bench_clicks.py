"""Click-assisted segmentation: NoC@85 / NoC@90 of every backend on held-out real masks, the
latency of first and later clicks, and the endpoint's latency on 512x512 images, single-threaded.

Protocol (Xu et al. 2016, as RITM and SimpleClick report it): every 8-connected instance of
at least 16 pixels in the real ground-truth masks of ../shared/data/real (MVTec AD and Magnetic
Tile; NEU-DET has boxes only), on the 512x512 asset the platform stores (the same letterbox resize,
the mask resized alongside and thresholded at half). The first click is the instance's interior
point farthest from its boundary; each next one the centre of the largest error region, positive on
missed foreground, negative on wrongly added background; NoC@85 counts clicks until IoU >= 0.85,
20 when never reached. The baseline, measured in the same run, is a brush: a disk of radius 8
added (positive) or erased (negative) at each click, which is what an annotator gets without the
backend.

Split by image (a hash of its path, so it never changes): 40% of the images are held out and every
backend is scored on their instances only. The learned backend is trained here, on the CPU with the
preset's `threads` (one; `BENCH_CLICKS_SET="threads=2"` on a quiet two-core machine), on the other
60% (`BENCH_CLICKS_STEPS`, default the tiny preset's), or loaded from
`BENCH_CLICKS_CHECKPOINT` (a checkpoint trained on that same split); `BENCH_CLICKS_MINUTES` caps its
training time (default the preset's), `BENCH_CLICKS_SET="key=value ..."` overrides other config keys. A SAM backend joins when
`SEGMENT_SAM_PATH` names a local folder. The held-out images are never trained on.

`BENCH_CLICKS_VALIDATE=1` is for choosing between variants without looking at the held-out set: it
leaves the held-out images out entirely, carves a validation split out of the training images (1 in
4, by another fixed hash of the path), trains on the rest and scores the brush and the learned model
on the validation instances only (no GrabCut, no endpoint). `BENCH_CLICKS_SCORE_WITH="a=1 b=2; c=3"`
scores the learned checkpoint once more per `;`-separated set of inference-time overrides (e.g.
`click_law_radius=4`), so inference variants share one training run.
"""

import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/OpenCV start their thread pools

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
if not REAL.is_dir():
    REAL = Path(os.environ.get("IMDD_REAL_DATA", "/work/shared/data/real"))
MAX_CLICKS = 20
MIN_INSTANCE_PIXELS = 16
BRUSH_RADIUS = 8
LATENCY_IMAGES = int(os.environ.get("BENCH_CLICKS_LATENCY_IMAGES", "12"))


def image_mask_pairs() -> list[tuple[str, Path, Path, int]]:
    """(dataset, image, mask, threshold) for every real image with a pixel mask."""
    pairs = []
    for image in sorted((REAL / "mvtec_ad").glob("*/test/*/*.png")):
        if image.parent.name != "good":
            mask = image.parents[2] / "ground_truth" / image.parent.name / f"{image.stem}_mask.png"
            pairs.append(("mvtec_ad", image, mask, 1))
    for image in sorted((REAL / "magnetic_tile").glob("MT_*/Imgs/*.jpg")):
        if image.parents[1].name != "MT_Free":  # defect-free tiles: empty masks
            pairs.append(("magnetic_tile", image, image.with_suffix(".png"), 128))  # anti-aliased masks
    return pairs


def asset_and_instances(image_path: Path, mask_path: Path, threshold: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The 512x512 asset exactly as the import stores it, and the mask's instances on that grid."""
    from catalog.images import letterbox_geometry, prepare_image

    prepared = prepare_image(image_path.read_bytes(), max_pixels=10**9)
    asset = np.asarray(Image.open(io.BytesIO(prepared.asset)).convert("RGB"))
    original = np.asarray(Image.open(mask_path).convert("L")) >= threshold
    _, new_w, new_h, offset_x, offset_y = letterbox_geometry(prepared.width, prepared.height, 512)
    resized = Image.fromarray(original.astype(np.uint8) * 255).resize((new_w, new_h), Image.Resampling.BILINEAR)
    truth = np.zeros((512, 512), dtype=np.uint8)
    truth[offset_y : offset_y + new_h, offset_x : offset_x + new_w] = np.asarray(resized) >= 128
    count, labels, stats, _ = cv2.connectedComponentsWithStats(truth, connectivity=8)
    instances = [labels == i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= MIN_INSTANCE_PIXELS]
    return asset, instances


def brush(image: np.ndarray, clicks, previous: np.ndarray | None) -> np.ndarray:
    mask = np.zeros(image.shape[:2], dtype=np.uint8) if previous is None else previous.astype(np.uint8)
    for click in clicks if previous is None else clicks[-1:]:
        cv2.circle(mask, (click.x, click.y), BRUSH_RADIUS, 1 if click.positive else 0, -1)
    return mask.astype(bool)


def held_out(image_path: Path) -> bool:
    """The fixed split by image: 2 in 5 images, by a hash of the path under the real-data folder."""
    digest = hashlib.blake2b(str(image_path.relative_to(REAL)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 5 < 2


def validation(image_path: Path) -> bool:
    """The validation split inside the training images (BENCH_CLICKS_VALIDATE): 1 in 4, by a second hash."""
    key = "validation:" + str(image_path.relative_to(REAL))
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % 4 == 0


def noc_figures(name: str, segment, cases) -> dict:
    from segmentation.evaluation import simulate_clicks

    noc85, noc90, never, first_ms, later_ms = [], [], [], [], []
    started = time.perf_counter()
    for image, truth in cases:

        def timed(clicks, previous, image=image):
            begun = time.perf_counter()
            mask = segment(image, clicks, previous)
            (first_ms if previous is None else later_ms).append((time.perf_counter() - begun) * 1000)
            return mask

        run = simulate_clicks(timed, truth, max_clicks=MAX_CLICKS, stop_at=0.90)
        noc85.append(run.clicks_to_reach(0.85, MAX_CLICKS))
        noc90.append(run.clicks_to_reach(0.90, MAX_CLICKS))
        never.append(max(run.ious) < 0.85)
    noc85, noc90, failed = np.array(noc85), np.array(noc90), float(np.mean(never))
    later = f"p50 {np.percentile(later_ms, 50):.0f} / p95 {np.percentile(later_ms, 95):.0f} ms" if later_ms else "none"
    print(
        f"   {name:9s} NoC@85 {noc85.mean():5.2f}  NoC@90 {noc90.mean():5.2f}  never reached 85%: {failed:.0%}  "
        f"first click p50 {np.percentile(first_ms, 50):.0f} / p95 {np.percentile(first_ms, 95):.0f} ms, "
        f"later clicks {later}  ({len(noc85)} instances, {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return {"noc85": noc85, "noc90": noc90, "never": failed}


def learned_checkpoint(train_cases) -> str:
    """BENCH_CLICKS_CHECKPOINT, or a tiny click model trained now on the training images' instances."""
    given = os.environ.get("BENCH_CLICKS_CHECKPOINT")
    if given:
        print(f"   learned: checkpoint {given} (BENCH_CLICKS_CHECKPOINT)", flush=True)
        return given
    import torch

    from modeling.core.click_segmenter import load_click_config
    from modeling.core.click_training import examples_from_arrays, train_click_model
    from segmentation.evaluation import ProtocolClicks

    torch.set_num_threads(1)
    steps, minutes = os.environ.get("BENCH_CLICKS_STEPS"), os.environ.get("BENCH_CLICKS_MINUTES")
    overrides = ([f"steps={steps}"] if steps else []) + ([f"minutes={minutes}"] if minutes else [])
    overrides += [o for o in os.environ.get("BENCH_CLICKS_SET", "").split() if o]  # e.g. "zoom_margin=0.5"
    config = load_click_config("tiny", overrides)
    examples = []
    for index, (asset, truths) in enumerate(train_cases):
        examples += examples_from_arrays(f"train-{index}", asset, np.logical_or.reduce(truths), config.source_size)
    out_dir = Path(tempfile.mkdtemp(prefix="bench-clicks-"))
    begun = time.perf_counter()
    result = train_click_model(
        config=config, examples=examples, out_dir=out_dir, simulator=ProtocolClicks(), device="cpu"
    )
    torch.set_num_threads(1)  # the backends are scored on one thread, whatever the training used
    print(
        f"   learned: trained {result['step']} steps on {len(examples)} instances of {len(train_cases)} images, "
        f"{config.threads} CPU thread(s), {result['precision']}, {(time.perf_counter() - begun) / 60:.1f} min"
        f"{' (time budget reached)' if result.get('out_of_time') else ''} (train IoU {result['metrics'].get('train_iou')}, "
        f"predicting {result['metrics'].get('predict_iou')}); "
        f"checkpoint {result['checkpoint']}",
        flush=True,
    )
    return result["checkpoint"]


def endpoint_latency(pairs) -> None:
    """Server time of POST /api/annotation/segment/ (Django test client, SQLite), replaying the
    simulated clicks of the first MVTec AD images with their previous masks, as the work page does."""
    from benchmarks.django_env import benchmark_database

    with benchmark_database():
        from django.test import Client
        from django.test.utils import setup_test_environment

        from accounts.models import User
        from catalog import services
        from catalog.ingest import import_run
        from catalog.models import Sample
        from catalog.rle import mask_to_rle, rle_to_mask
        from segmentation.evaluation import simulate_clicks

        setup_test_environment()
        source = services.source_for_import(name="bench")
        job = services.import_job_create(
            format="mvtec", path=str(REAL / "mvtec_ad"), source=source, created_by=None, restrict_to_import_roots=False
        )
        import_run(job=job)
        client = Client()
        client.force_login(User.objects.create_superuser("bench", "bench@example.com", "x"))
        times = []
        mvtec = [p for p in pairs if p[0] == "mvtec_ad"][:LATENCY_IMAGES]
        for _, image_path, mask_path, threshold in mvtec:
            sample = Sample.objects.get(external_id=str(image_path.relative_to(REAL / "mvtec_ad")))
            _, instances = asset_and_instances(image_path, mask_path, threshold)

            def post(clicks, previous, sample_id=sample.pk):
                body = {"sample": sample_id, "clicks": [{"x": c.x, "y": c.y, "positive": c.positive} for c in clicks]}
                if previous is not None:
                    body["previous_mask"] = mask_to_rle(previous)
                begun = time.perf_counter()
                response = client.post("/api/annotation/segment/", body, content_type="application/json")
                times.append((time.perf_counter() - begun) * 1000)
                assert response.status_code == 200, response.content
                return rle_to_mask(response.json()["mask"])

            for truth in instances:
                simulate_clicks(post, truth, max_clicks=10, stop_at=0.90)
        print(
            f"   endpoint server time, 512x512, one thread ({len(times)} requests on {len(mvtec)} MVTec AD images): "
            f"p50 {np.percentile(times, 50):.0f} ms, p95 {np.percentile(times, 95):.0f} ms   (target p50 <= 300 ms)",
            flush=True,
        )


def scored_with(checkpoint: str, overrides: list[str]):
    """The learned backend's segment function with inference-time config overrides (BENCH_CLICKS_SCORE_WITH)."""
    from modeling.core.click_segmenter import ClickPredictor, apply_overrides
    from modeling.core.click_training import load_click_model

    model, _ = load_click_model(checkpoint)
    model.config = apply_overrides(model.config, overrides)
    predictor = ClickPredictor(model)
    return lambda image, clicks, previous: predictor.predict(image, [(c.x, c.y, c.positive) for c in clicks], previous)


def run() -> None:
    cv2.setNumThreads(1)
    from modeling.click_backend import LearnedClickBackend
    from segmentation.backends import known_backends

    validating = os.environ.get("BENCH_CLICKS_VALIDATE", "") not in ("", "0")
    pairs = image_mask_pairs()
    held, train_cases, per_dataset = [], [], {}
    for dataset, image_path, mask_path, threshold in pairs:
        if validating and held_out(image_path):
            continue  # the test set stays unseen while variants are chosen
        asset, instances = asset_and_instances(image_path, mask_path, threshold)
        if not instances:
            continue
        if validation(image_path) if validating else held_out(image_path):
            held += [(asset, truth) for truth in instances]
            per_dataset[dataset] = per_dataset.get(dataset, 0) + len(instances)
        else:
            train_cases.append((asset, instances))
    print(
        f"   {'validation (training images only)' if validating else 'held out'}: {len(held)} instances ({', '.join(f'{k} {v}' for k, v in per_dataset.items())}); "
        f"training: {sum(len(t) for _, t in train_cases)} instances of {len(train_cases)} other images; "
        f"max {MAX_CLICKS} clicks",
        flush=True,
    )
    checkpoint = learned_checkpoint(train_cases)
    backends = {} if validating else dict(known_backends())
    backends["learned"] = LearnedClickBackend(checkpoint)
    sam_path = os.environ.get("SEGMENT_SAM_PATH")
    if sam_path and "sam" not in backends:
        from segmentation.sam import sam_backend_from_folder

        backends["sam"] = sam_backend_from_folder(sam_path)
    baseline = noc_figures(f"brush r{BRUSH_RADIUS}", brush, held)
    results = {name: noc_figures(name, backend.segment, held) for name, backend in sorted(backends.items())}
    for variant in os.environ.get("BENCH_CLICKS_SCORE_WITH", "").split(";"):
        if variant.strip():
            results[f"learned {variant.strip()}"] = noc_figures(
                f"learned {variant.strip()}", scored_with(checkpoint, variant.split()), held
            )
    for name, figures in results.items():
        print(
            f"   {name} needs {figures['noc85'].mean() / baseline['noc85'].mean():.2f}x the brush's clicks for 85% IoU "
            f"({baseline['noc85'].mean():.2f} -> {figures['noc85'].mean():.2f})",
            flush=True,
        )
    if "learned" in results and "grabcut" in results:
        print(
            f"   learned vs grabcut NoC@85: {results['learned']['noc85'].mean():.2f} vs "
            f"{results['grabcut']['noc85'].mean():.2f} (target <= 8)",
            flush=True,
        )
    if not validating:
        endpoint_latency(pairs)
