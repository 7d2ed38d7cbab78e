"""Bad input never aborts a batch, never loses what was imported, and is reported row by row."""

import io
import json
import struct
import zlib
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from base.jobs import JobStatus
from catalog import ingest
from catalog.models import ImportJob, RowOutcome, Sample

from .helpers import outcomes, run_import

pytestmark = pytest.mark.django_db


def png_bytes(size=(64, 48), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(width=40_000, height=40_000) -> bytes:
    """A PNG whose header claims 1.6 gigapixels; the data never gets decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )


def write_manifest(folder, rows):
    (folder / "manifest.jsonl").write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows))


@pytest.fixture
def messy_folder(tmp_path):
    root = tmp_path / "incoming"
    root.mkdir()
    (root / "good.png").write_bytes(png_bytes(seed=1))
    (root / "good_copy.png").write_bytes(png_bytes(seed=1))
    (root / "truncated.png").write_bytes(png_bytes(seed=2)[:300])
    (root / "notes.png").write_text("this is a text file with a .png name")
    (root / "bomb.png").write_bytes(bomb_png())
    (root / "masked.png").write_bytes(png_bytes(seed=3))
    Image.new("L", (32, 32), 255).save(root / "masked_mask.png")  # image is 64x48
    (tmp_path / "secret.png").write_bytes(png_bytes(seed=4))
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    (root / "boxed.png").write_bytes(png_bytes(seed=5))
    (root / "empty.png").write_bytes(b"")
    write_manifest(
        root,
        [
            {"image": "good.png", "label": "scratch", "boxes": [{"bbox": [1, 2, 10, 10], "label": "scratch"}]},
            {"image": "good_copy.png"},
            {"image": "truncated.png"},
            {"image": "notes.png"},
            {"image": "bomb.png"},
            {"image": "masked.png", "mask": "masked_mask.png", "label": "stain"},
            {"image": "../secret.png"},
            {"image": "link.png"},
            {"image": "boxed.png", "boxes": [{"bbox": [50, 40, 30, 30], "label": "hole"}]},
            {"image": "missing.png"},
            {"image": "empty.png"},
            "{not json",
        ],
    )
    return root


def test_every_bad_row_is_rejected_with_its_reason_and_the_good_ones_are_imported(messy_folder):
    job = run_import("folder", messy_folder)

    assert job.status == JobStatus.SUCCEEDED
    rows = outcomes(job)
    assert rows["good.png"][0] == RowOutcome.IMPORTED
    assert rows["good_copy.png"] == (RowOutcome.DUPLICATE, "same bytes as good.png in this import")
    assert rows["truncated.png"][0] == RowOutcome.REJECTED and "truncated" in rows["truncated.png"][1]
    assert rows["notes.png"] == (RowOutcome.REJECTED, "not an image file (no known image format)")
    assert "decompression bomb" in rows["bomb.png"][1]
    assert rows["masked.png"][1] == "masked_mask.png of 'stain' is 32x32 but the image is 64x48"
    assert rows["../secret.png"] == (RowOutcome.REJECTED, "../secret.png lies outside the import root")
    assert rows["link.png"] == (RowOutcome.REJECTED, "link.png lies outside the import root")
    assert "lies outside the 64x48 image" in rows["boxed.png"][1]
    assert rows["missing.png"] == (RowOutcome.REJECTED, "image missing.png is missing")
    assert rows["empty.png"] == (RowOutcome.REJECTED, "empty.png is an empty file")
    assert rows["manifest.jsonl:12"][0] == RowOutcome.REJECTED and "not valid JSON" in rows["manifest.jsonl:12"][1]
    assert (job.imported, job.duplicates, job.rejected, job.total) == (1, 1, 10, 12)
    assert Sample.objects.count() == 1


def test_rerunning_a_messy_import_is_idempotent(messy_folder):
    run_import("folder", messy_folder)
    again = run_import("folder", messy_folder)

    assert (again.imported, again.duplicates, again.rejected) == (0, 2, 10)
    assert Sample.objects.count() == 1


def test_an_import_interrupted_mid_way_resumes_without_repeating_rows(tmp_path, monkeypatch):
    root = tmp_path / "many"
    root.mkdir()
    for number in range(5):
        (root / f"{number}.png").write_bytes(png_bytes(seed=10 + number))
    write_manifest(root, [{"image": f"{number}.png"} for number in range(5)])
    monkeypatch.setattr(ingest, "ROWS_PER_TRANSACTION", 2)
    real_rows = ingest._import_rows
    calls = []

    def batch_then_crash(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing catches it
        return real_rows(*args)

    with mock.patch.object(ingest, "_import_rows", batch_then_crash), pytest.raises(KeyboardInterrupt):
        run_import("folder", root)
    job = ImportJob.objects.get()
    assert (job.status, job.imported) == (JobStatus.RUNNING, 2)

    ingest.import_run(job=job)

    job.refresh_from_db()
    assert (job.status, job.imported, job.processed, job.total) == (JobStatus.SUCCEEDED, 5, 5, 5)
    assert job.rows.count() == 5
    assert Sample.objects.count() == 5


def test_an_unknown_layout_fails_the_job_with_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    job = run_import("magnetic-tile", tmp_path / "empty")

    assert job.status == JobStatus.FAILED
    assert job.error.endswith("holds no MT_<Class> folder")


def test_mvtec_defect_image_without_ground_truth_is_rejected(tmp_path):
    defect_dir = tmp_path / "widget" / "test" / "dent"
    defect_dir.mkdir(parents=True)
    (defect_dir / "000.png").write_bytes(png_bytes())

    job = run_import("mvtec", tmp_path)

    assert outcomes(job) == {
        "widget/test/dent/000.png": (
            RowOutcome.REJECTED,
            "ground-truth mask widget/ground_truth/dent/000_mask.png is missing",
        )
    }


def test_neu_det_xml_without_extension_finds_its_image_and_bad_xml_is_rejected(tmp_path):
    (tmp_path / "IMAGES").mkdir()
    (tmp_path / "ANNOTATIONS").mkdir()
    (tmp_path / "IMAGES" / "crazing_7.jpg").write_bytes(png_bytes((200, 200)))
    (tmp_path / "ANNOTATIONS" / "crazing_7.xml").write_text(
        "<annotation><filename>crazing_7</filename><object><name>crazing</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>200</xmax><ymax>100</ymax></bndbox></object></annotation>"
    )
    (tmp_path / "ANNOTATIONS" / "broken.xml").write_text("<annotation><filename>")

    job = run_import("neu-det", tmp_path)

    rows = outcomes(job)
    assert rows["IMAGES/crazing_7.jpg"][0] == RowOutcome.IMPORTED
    assert rows["ANNOTATIONS/broken.xml"][0] == RowOutcome.REJECTED
    assert "malformed" in rows["ANNOTATIONS/broken.xml"][1]
    region = Sample.objects.get().source_regions.get()
    assert region.bbox == [0, 0, 200, 100]


def test_neu_det_image_whose_xml_is_refused_is_not_imported_as_defect_free(tmp_path):
    """Every NEU-DET image shows a defect: with its boxes refused, importing the image alone would
    put a defect-free-looking sample in the catalog, and fixing the XML later would only find it a
    duplicate."""
    (tmp_path / "IMAGES").mkdir()
    (tmp_path / "ANNOTATIONS").mkdir()
    (tmp_path / "IMAGES" / "crazing_11.jpg").write_bytes(png_bytes((200, 200), seed=1))
    (tmp_path / "IMAGES" / "crazing_13.jpg").write_bytes(png_bytes((200, 200), seed=2))
    (tmp_path / "ANNOTATIONS" / "crazing_11.xml").write_text("<annotation><object><name>crazing</name>")
    (tmp_path / "ANNOTATIONS" / "crazing_13.xml").write_text(
        "<annotation><filename>crazing_13.jpg</filename><object><name></name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>10</ymax></bndbox></object></annotation>"
    )

    job = run_import("neu-det", tmp_path)

    rows = outcomes(job)
    assert rows["ANNOTATIONS/crazing_11.xml"][0] == RowOutcome.REJECTED
    assert rows["ANNOTATIONS/crazing_13.xml"][0] == RowOutcome.REJECTED
    assert "IMAGES/crazing_11.jpg" not in rows and "IMAGES/crazing_13.jpg" not in rows
    assert not Sample.objects.exists()


def test_index_masks_give_one_region_per_class_present(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes((40, 30)))
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[2:5, 3:9] = 1
    mask[20:25, 30:35] = 3
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    write_manifest(
        tmp_path,
        [{"image": "a.png", "mask": "a_mask.png", "mask_classes": {"1": "scratch", "2": "hole", "3": "stain"}}],
    )

    run_import("folder", tmp_path)

    regions = {r.label: (r.bbox, r.area) for r in Sample.objects.get().source_regions.all()}
    assert regions == {"scratch": ([3, 2, 6, 3], 18), "stain": ([30, 20, 5, 5], 25)}
