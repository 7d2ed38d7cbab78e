"""Peak memory of hostile input against a normal 512 px row (target <= 2x).

Each case runs in a fresh subprocess that first imports one normal row (so libraries, caches and
the database are warm), then runs the case once. Two figures per case: the peak of Python-traced
allocations (tracemalloc: numpy arrays, lists, bytes) and the growth of the process's peak RSS
(Pillow's own buffers included). Each hostile case is printed as a ratio to its baseline.

    COCO, normal row        a 512x512 image, one polygon annotation
    COCO, 20000 px polygon  the same image, its entry declaring 20000x20000 and a polygon over it
    COCO, 20000 px RLE      the same image, an RLE of size [20000, 20000] (before: 588 MB)
    mask_png, normal        an annotation save's 512x512 mask PNG, decoded to a region
    mask_png, 13000 px RGBA a 0.9 MB PNG that decodes to 676 MB (before: web worker +662 MB)
    mask_png, 20000 px bomb a PNG header claiming 400 megapixels (before: a 500)
"""

import base64
import io
import json
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 512
HUGE = 20_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CASES = {
    "coco-normal": ("COCO, normal 512 px row", None),
    "coco-polygon": ("COCO, 20000 px polygon", "coco-normal"),
    "coco-rle": ("COCO, 20000 px RLE", "coco-normal"),
    "png-normal": ("mask_png, normal 512 px", None),
    "png-rgba": ("mask_png, 13000 px RGBA", "png-normal"),
    "png-bomb": ("mask_png, 20000 px bomb", "png-normal"),
}


def run() -> None:
    results = {}
    for name, (title, baseline) in CASES.items():
        output = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_hostile", name], capture_output=True, text=True, check=True
        ).stdout
        traced, rss = json.loads(output.strip().splitlines()[-1])
        results[name] = (traced, rss)
        line = f"   {title:26s} traced peak {traced / 2**20:7.2f} MiB   RSS growth {rss / 2**20:7.2f} MiB"
        if baseline:
            base_traced, base_rss = results[baseline]
            line += f"   ratio {traced / base_traced:5.2f} traced, {rss / max(base_rss, 2**20):5.2f} RSS"
        print(line, flush=True)
    print("   (RSS ratios divide by at least 1 MiB: below that the growth is page-level noise; target <= 2x)")


def photo_png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def coco_folder(root: Path, case: str) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(photo_png(1 if case == "warm" else 2))
    image = {"id": 1, "file_name": "a.png", "width": SIZE, "height": SIZE}
    polygon = [[20.0, 20.0, 400.0, 30.0, 380.0, 300.0, 40.0, 280.0]]
    annotation = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": polygon}
    if case == "coco-polygon":
        image |= {"width": HUGE, "height": HUGE}
        annotation["segmentation"] = [[0.0, 0.0, float(HUGE), 0.0, float(HUGE), float(HUGE), 0.0, float(HUGE)]]
    elif case == "coco-rle":
        annotation["segmentation"] = {"size": [HUGE, HUGE], "counts": [0, HUGE * HUGE]}
    document = {"images": [image], "annotations": [annotation], "categories": [{"id": 1, "name": "scratch"}]}
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_default.json").write_text(json.dumps(document))
    return root


def coco_row(root: Path, case: str):
    from catalog import services
    from catalog.ingest import import_run

    source = services.source_for_import(name=f"bench {case}")
    job = services.import_job_create(
        format="coco",
        path=str(coco_folder(root / case, case)),
        source=source,
        created_by=None,
        restrict_to_import_roots=False,
    )
    job = import_run(job=job, workers=1)
    expected = (1, 0) if case in ("warm", "coco-normal") else (0, 1)
    assert (job.imported, job.rejected) == expected, (case, list(job.rows.values_list("reason", flat=True)))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_rgba_png(width: int, height: int) -> bytes:
    """A valid all-zero RGBA PNG, compressed row by row so building it needs no big buffer."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 4 * width)
    compressed = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", compressed) + png_chunk(b"IEND", b"")


def mask_png_payload(case: str) -> str:
    if case == "png-rgba":
        data = zero_rgba_png(13_000, 13_000)
    elif case == "png-bomb":
        header = struct.pack(">IIBBBBB", HUGE, HUGE, 8, 0, 0, 0, 0)
        data = PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        data += png_chunk(b"IEND", b"")
    else:
        mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
        mask[100:300, 50:400] = 255
        buffer = io.BytesIO()
        Image.fromarray(mask).save(buffer, "PNG")
        data = buffer.getvalue()
    return base64.b64encode(data).decode()


def mask_png_row(payload: str, case: str):
    from annotation.region_geometry import geometry_from_png

    try:
        geometry_from_png(payload, width=SIZE, height=SIZE)
        refused = False
    except ValueError:
        refused = True
    assert refused == (case not in ("warm", "png-normal")), case


def status_bytes(field: str) -> int:
    """VmRSS or VmHWM (the peak) of this process, from /proc/self/status (kB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0), so the next peak is
    # this case's own, not the warm-up's.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure(case: str) -> tuple[int, int]:
    from benchmarks.django_env import benchmark_database

    with tempfile.TemporaryDirectory(prefix="imdd-bench-hostile-") as tmp, benchmark_database():
        root = Path(tmp)
        if case.startswith("coco"):
            coco_row(root, "warm")
            run_case = lambda: coco_row(root, case)  # noqa: E731
        else:
            mask_png_row(mask_png_payload("png-normal"), "warm")
            payload = mask_png_payload(case)  # built before measuring: it is the request body
            run_case = lambda: mask_png_row(payload, case)  # noqa: E731
        reset_peak_rss()
        before = status_bytes("VmRSS")
        tracemalloc.start()
        run_case()
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return traced, max(0, status_bytes("VmHWM") - before)


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
