"""Hostile and malformed input: each bad row is rejected with a reason naming what is wrong, the
other rows are imported, and no row can make the importer decode a mask larger than its image."""

import json
import tracemalloc

import numpy as np
import pytest

from accounts.roles import Role
from base.jobs import JobStatus
from catalog.ingest import import_run
from catalog.models import ImportJob, RowOutcome, Sample

from .helpers import outcomes, run_import
from .test_import_bad_input import png_bytes

pytestmark = pytest.mark.django_db


def write_images(folder, names, size=(64, 48)):
    for number, name in enumerate(names):
        (folder / name).write_bytes(png_bytes(size, seed=500 + number))


MANIFEST_CASES = {
    # row -> what its rejection must say
    json.dumps({"image": 12345}): "'image' must be a string, not a number",
    json.dumps({"image": ["list.png"]}): "'image' must be a string, not a list",
    json.dumps({"image": "label.png", "mask": "m.png", "label": 5}): "'label' must be a string, not a number",
    json.dumps({"image": "boxes.png", "boxes": {"bbox": [1, 2, 3, 4]}}): "'boxes' must be a list",
    json.dumps({"image": "classes.png", "mask": "m.png", "mask_classes": ["scratch"]}): "'mask_classes' must be an",
    json.dumps({"image": "key.png", "mask": "m.png", "mask_classes": {"x": "scratch"}}): "keys are class indices",
    json.dumps({"image": "strbox.png", "boxes": [{"bbox": ["1", 2, 3, 4], "label": "a"}]}): "four numbers",
    '{"image": "nanbox.png", "boxes": [{"bbox": [NaN, 2, 3, 4], "label": "a"}]}': "four numbers",
    json.dumps({"image": "text.png", "text": {"en": "x"}}): "'text' must be a string, not an object",
    json.dumps({"image": "nul.png", "text": "bad\x00text"}): "text holds a NUL byte",
    json.dumps({"image": "long.png", "boxes": [{"bbox": [1, 2, 3, 4], "label": "x" * 300}]}): "300 characters long",
    json.dumps({"image": "threshold.png", "mask": "m.png", "label": "a", "mask_threshold": "high"}): "mask_threshold",
    json.dumps({"image": "product.png", "product": "p" * 201}): "product is 201 characters long (at most 200)",
    json.dumps({"image": "nolabel.png", "boxes": [{"bbox": [1, 2, 3, 4], "label": 7}]}): "box 1 needs a 'label'",
    json.dumps({"image": "dupindex.png", "mask": "m.png", "mask_classes": {"1": "a", "01": "b"}}): "index 1 twice",
}
GOOD_ROWS = [
    json.dumps({"image": "good1.png"}),
    json.dumps({"image": "good2.png", "boxes": [{"bbox": [1, 2, 3, 4], "label": "scratch"}]}),
    json.dumps({"image": "good3.png", "mask": "m.png", "label": "stain"}),
]


def hostile_folder(root):
    names = [f"good{n}.png" for n in (1, 2, 3)]
    for row in MANIFEST_CASES:
        image = json.loads(row.replace("NaN", "0")).get("image")
        if isinstance(image, str):
            names.append(image)
    write_images(root, names)
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[5:9, 5:9] = 1
    from PIL import Image

    Image.fromarray(mask).save(root / "m.png")
    lines = [GOOD_ROWS[0], *MANIFEST_CASES, GOOD_ROWS[1], GOOD_ROWS[2]]
    (root / "manifest.jsonl").write_text("\n".join(lines))
    return lines


def test_wrong_types_in_a_manifest_cost_their_row_only(tmp_path):
    lines = hostile_folder(tmp_path)

    job = run_import("folder", tmp_path)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.imported, job.rejected, job.total) == (3, len(MANIFEST_CASES), len(lines))
    rejected = [row.reason for row in job.rows.filter(outcome=RowOutcome.REJECTED).order_by("id")]
    for reason, (row, expected) in zip(rejected, MANIFEST_CASES.items(), strict=True):
        assert expected in reason, (row, reason)
    assert rejected[0] == "manifest.jsonl:2: 'image' must be a string, not a number"
    assert sorted(Sample.objects.values_list("external_id", flat=True)) == ["good1.png", "good2.png", "good3.png"]


def test_an_api_job_over_a_hostile_manifest_finishes_with_a_reason_per_row(tmp_path, client_for, settings):
    settings.IMPORT_ROOTS = [tmp_path]
    hostile_folder(tmp_path)
    api = client_for(Role.DATA_MANAGER)
    created = api.post("/api/import-jobs/", {"format": "folder", "path": str(tmp_path), "source": "x"}, format="json")
    assert created.status_code == 201, created.content

    import_run(job=ImportJob.objects.get(pk=created.json()["id"]))  # the tasks' batches, without a broker

    job = api.get(f"/api/import-jobs/{created.json()['id']}/").json()
    assert (job["status"], job["imported"], job["rejected"]) == ("succeeded", 3, len(MANIFEST_CASES))
    rows = api.get(f"/api/import-jobs/{job['id']}/rows/?outcome=rejected&page_size=100").json()["results"]
    assert {row["item"]: row["reason"] for row in rows}["manifest.jsonl:2"].endswith("not a number")


def test_a_csv_line_with_more_cells_than_the_header_is_read(tmp_path):
    write_images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "manifest.csv").write_text("image,product\na.png,gear,extra,cells\nb.png,gear\n")

    job = run_import("folder", tmp_path)

    assert (job.imported, job.rejected) == (2, 0)


def test_a_bug_in_discovery_fails_the_job_with_its_error_instead_of_leaving_it_pending(tmp_path, monkeypatch):
    from catalog.importers.folder import FolderImporter

    write_images(tmp_path, ["a.png"])
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"image": "a.png"}))

    def broken(self):
        raise RuntimeError("disk on fire")
        yield

    monkeypatch.setattr(FolderImporter, "discover", broken)
    job = run_import("folder", tmp_path)

    assert job.status == JobStatus.FAILED and job.error.endswith("RuntimeError: disk on fire")


HUGE = 20_000


def hostile_coco(root) -> dict:
    """One COCO file holding each hostile shape beside two good images."""
    names = ["good.png", "nosize.png", "listcat.png", "bigpoly.png", "liar.png", "bigrle.png", "sum.png"]
    names += ["nan.png", "boxed.png", "badcounts.png"]
    write_images(root, names)
    images = [{"id": n, "file_name": name} for n, name in enumerate(names, start=1)]
    images[3] |= {"width": HUGE, "height": HUGE}  # bigpoly: declares 400 megapixels
    images[4] |= {"width": 5000, "height": 5000}  # liar: below the limit, but not the image's size
    images += ["just a string", {"id": 99, "file_name": "a\x00b.png"}, {"id": 98, "file_name": "x" * 1500}]
    whole = [0.0, 0.0, float(HUGE), 0.0, float(HUGE), float(HUGE), 0.0, float(HUGE)]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, 30, 5, 30, 20, 5, 20]]},
        {"id": 2, "image_id": 2, "category_id": 1, "segmentation": {"counts": [0, 3072]}},
        {"id": 3, "image_id": 3, "category_id": [1], "bbox": [1, 1, 2, 2]},
        {"id": 4, "image_id": 4, "category_id": 1, "segmentation": [whole]},
        {"id": 5, "image_id": 5, "category_id": 1, "segmentation": [whole]},
        {"id": 6, "image_id": 6, "category_id": 1, "segmentation": {"size": [HUGE, HUGE], "counts": [0, HUGE * HUGE]}},
        {"id": 7, "image_id": 7, "category_id": 1, "segmentation": {"size": [48, 64], "counts": [10, 10]}},
        {"id": 8, "image_id": 8, "category_id": 1, "segmentation": [[float("nan"), 1, 2, 3, 4, 5]]},
        {"id": 9, "image_id": 9, "category_id": 1, "bbox": [2, 2, 10, 10]},
        {"id": 10, "image_id": 10, "category_id": 1, "segmentation": {"size": [48, 64], "counts": "!!bad"}},
        42,
        {"id": 11, "image_id": 12345, "category_id": 1, "bbox": [1, 1, 1, 1]},
    ]
    document = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "scratch"}, "junk"]}
    (root / "instances.json").write_text(json.dumps(document))
    return document


def test_hostile_coco_rows_are_rejected_without_decoding_and_the_good_ones_imported(tmp_path):
    hostile_coco(tmp_path)

    tracemalloc.start()
    try:
        job = run_import("coco", tmp_path / "instances.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert job.status == JobStatus.SUCCEEDED
    rows = outcomes(job)
    assert rows["good.png"][0] == rows["boxed.png"][0] == RowOutcome.IMPORTED
    expected = {
        "nosize.png": "annotation 2: an RLE segmentation needs 'size' and 'counts'",
        "listcat.png": "annotation 3: category_id must be an integer or a string, not list",
        "bigpoly.png": "the annotation declares 20000x20000 = 400,000,000 pixels, above the limit of 100,000,000",
        "liar.png": "the annotation declares 5000x5000 but the image is 64x48",
        "bigrle.png": "'scratch': RLE size is 20000x20000 but the image is 64x48",
        "sum.png": "'scratch': RLE counts add up to 20 pixels, but the image has 3,072",
        "nan.png": "annotation 8: a polygon is a flat list of numbers [x1, y1, x2, y2, ...]",
        "badcounts.png": "'scratch': RLE counts is not a valid COCO compressed string",
        "instances.json: images[10]": "instances.json: images[10] is not an object",
        "instances.json: annotations[10]": "instances.json: annotations[10] is not an object",
        "instances.json: annotations[11]": "instances.json: annotations[11] names image_id 12345, not in images",
    }
    for item, reason in expected.items():
        assert rows[item] == (RowOutcome.REJECTED, reason), (item, rows.get(item))
    long_rows = [item for item in rows if item.startswith("x" * 100)]
    nul_rows = [item for item in rows if item.startswith("a\\0b")]
    assert len(long_rows) == len(nul_rows) == 1
    assert "longer than 1000 characters" in rows[long_rows[0]][1] and len(long_rows[0]) <= 1000
    assert (job.imported, job.total) == (2, len(expected) + 4)
    # Before: the 20000x20000 polygon held 1.36 GB and the RLE 588 MB. A 64x48 row needs a few MB.
    assert peak < 64 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB"


def test_masks_are_decoded_when_the_row_is_processed_not_during_discovery(tmp_path):
    from catalog.importers import get_importer

    hostile_coco(tmp_path)
    tracemalloc.start()
    try:
        items = list(get_importer("coco")(tmp_path / "instances.json").items())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(items) == 15
    assert peak < 16 * 2**20
