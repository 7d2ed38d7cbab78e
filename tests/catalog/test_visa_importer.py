"""VisA in its own layout, built here as the dataset ships it: split_csv/1cls.csv, per-object
Data/Images/{Normal,Anomaly}/*.JPG and Data/Masks/Anomaly/*.png (defect pixels 1, 2, ... or 255),
and image_anno.csv with quoted, comma-separated defect names."""

import csv
import io

import numpy as np
import pytest
from PIL import Image

from base.jobs import JobStatus
from catalog.models import RowOutcome, Sample
from catalog.rle import rle_to_mask

from .helpers import outcomes, run_import

pytestmark = pytest.mark.django_db

OBJECTS = {
    # object: (size, anomalies: [(stem, image_anno label, mask values)])
    "candle": (
        (96, 80),
        [
            ("000", "chunk of wax missing,different colour spot", (1, 2)),
            ("001", "damaged corner of packaging", (255,)),
            ("002", None, (1,)),  # not in image_anno.csv
        ],
    ),
    "pcb1": ((72, 64), [("000", "bent", (1,)), ("001", "melt,scratch,missing", (1, 2, 3))]),
}
NORMALS = {"candle": ["0000", "0001", "0002"], "pcb1": ["0000", "0001"]}


def photo(size, seed: int) -> bytes:
    """A JPEG like VisA's photos: smooth shading plus sensor noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = np.linspace(60, 190, width)[None, :, None] + np.linspace(0, 30, height)[:, None, None]
    pixels = np.clip(base + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def defect_mask(size, values, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    for value in values:
        top, left = rng.integers(0, height - 12), rng.integers(0, width - 12)
        mask[top : top + rng.integers(3, 12), left : left + rng.integers(3, 12)] = value
    return mask


def build_visa(root, *, with_split_csv: bool = True) -> dict[str, np.ndarray]:
    """Writes the layout; returns image path (from the root) -> expected defect pixels."""
    split_rows, expected, seed = [], {}, 0
    for object_name, (size, anomalies) in OBJECTS.items():
        images = root / object_name / "Data" / "Images"
        masks = root / object_name / "Data" / "Masks" / "Anomaly"
        for folder in (images / "Normal", images / "Anomaly", masks):
            folder.mkdir(parents=True)
        annotations = [["image", "label", "mask"]]
        for number, stem in enumerate(NORMALS[object_name]):
            seed += 1
            relative = f"{object_name}/Data/Images/Normal/{stem}.JPG"
            (root / relative).write_bytes(photo(size, seed))
            split_rows.append([object_name, "train" if number else "test", "normal", relative, ""])
            annotations.append([relative, "normal", ""])
        for stem, label, values in anomalies:
            seed += 1
            relative = f"{object_name}/Data/Images/Anomaly/{stem}.JPG"
            mask_relative = f"{object_name}/Data/Masks/Anomaly/{stem}.png"
            (root / relative).write_bytes(photo(size, seed))
            mask = defect_mask(size, values, seed)
            Image.fromarray(mask).save(root / mask_relative)
            split_rows.append([object_name, "test", "anomaly", relative, mask_relative])
            if label is not None:
                annotations.append([relative, label, mask_relative])
            expected[relative] = mask != 0
        with open(root / object_name / "image_anno.csv", "w", newline="") as handle:
            csv.writer(handle).writerows(annotations)
    if with_split_csv:
        (root / "split_csv").mkdir()
        with open(root / "split_csv" / "1cls.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([["object", "split", "label", "image", "mask"], *split_rows])
    return expected


@pytest.mark.parametrize("with_split_csv", [True, False], ids=["split_csv", "folders"])
def test_visa_layout_imports_normals_and_anomalies_with_their_raw_labels(tmp_path, with_split_csv):
    expected = build_visa(tmp_path, with_split_csv=with_split_csv)

    job = run_import("visa", tmp_path, source="VisA")

    assert (job.status, job.total, job.imported, job.rejected) == (JobStatus.SUCCEEDED, 10, 10, 0)
    labels = {}
    for sample in Sample.objects.prefetch_related("source_regions"):
        object_name = sample.external_id.split("/")[0]
        assert sample.product == object_name
        regions = list(sample.source_regions.all())
        if sample.external_id in expected:
            [region] = regions
            assert np.array_equal(rle_to_mask(region.mask_rle), expected[sample.external_id])
            labels[sample.external_id] = region.label
        else:
            assert regions == []
    assert labels == {
        "candle/Data/Images/Anomaly/000.JPG": "chunk of wax missing,different colour spot",
        "candle/Data/Images/Anomaly/001.JPG": "damaged corner of packaging",
        "candle/Data/Images/Anomaly/002.JPG": "anomaly",
        "pcb1/Data/Images/Anomaly/000.JPG": "bent",
        "pcb1/Data/Images/Anomaly/001.JPG": "melt,scratch,missing",
    }
    warned = {row.item: row.warnings for row in job.rows.exclude(warnings=[])}
    assert warned == {
        "candle/Data/Images/Anomaly/002.JPG": [
            "candle/image_anno.csv names no defect for this anomalous image; its region is labelled 'anomaly'"
        ]
    }


def test_visa_rows_that_cannot_be_imported_say_why_and_the_rest_go_on(tmp_path):
    build_visa(tmp_path)
    (tmp_path / "pcb1" / "Data" / "Masks" / "Anomaly" / "000.png").unlink()
    with open(tmp_path / "split_csv" / "1cls.csv", "a", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pcb1", "test", "anomaly", "pcb1/Data/Images/Anomaly/404.JPG", "pcb1/Data/Masks/x.png"])
        writer.writerow(["pcb1", "test", "broken", "pcb1/Data/Images/Normal/0000.JPG", ""])
        writer.writerow(["pcb1", "test", "anomaly", "../outside.JPG", "pcb1/Data/Masks/Anomaly/001.png"])
        writer.writerow(["pcb1", "test", "anomaly", "pcb1/Data/Images/Anomaly/001.JPG", ""])
    (tmp_path.parent / "outside.JPG").write_bytes(photo((20, 20), 99))

    job = run_import("visa", tmp_path)

    rows = outcomes(job)
    assert rows["pcb1/Data/Images/Anomaly/000.JPG"] == (
        RowOutcome.REJECTED,
        "mask pcb1/Data/Masks/Anomaly/000.png is missing",
    )
    assert rows["pcb1/Data/Images/Anomaly/404.JPG"] == (
        RowOutcome.REJECTED,
        "image pcb1/Data/Images/Anomaly/404.JPG is missing",
    )
    assert rows["pcb1/Data/Images/Normal/0000.JPG"][0] == RowOutcome.IMPORTED
    assert rows["split_csv/1cls.csv:13"] == (
        RowOutcome.REJECTED,
        "split_csv/1cls.csv:13 lists pcb1/Data/Images/Normal/0000.JPG again",
    )
    assert rows["../outside.JPG"] == (RowOutcome.REJECTED, "../outside.JPG lies outside the import root")
    assert rows["split_csv/1cls.csv:15"][1] == "split_csv/1cls.csv:15 lists pcb1/Data/Images/Anomaly/001.JPG again"
    assert (job.imported, job.rejected) == (9, 5)


def test_a_split_csv_without_its_columns_fails_the_job_naming_them(tmp_path):
    build_visa(tmp_path)
    (tmp_path / "split_csv" / "1cls.csv").write_text("object,image\ncandle,candle/Data/Images/Normal/0000.JPG\n")

    job = run_import("visa", tmp_path)

    assert job.status == JobStatus.FAILED
    assert job.error == "split_csv/1cls.csv lacks column(s) split, label, mask (it has object, image)"


def test_a_label_other_than_normal_or_anomaly_is_rejected(tmp_path):
    build_visa(tmp_path)
    text = (tmp_path / "split_csv" / "1cls.csv").read_text().replace("candle,test,normal", "candle,test,good", 1)
    (tmp_path / "split_csv" / "1cls.csv").write_text(text)

    job = run_import("visa", tmp_path)

    [(item, reason)] = [(i, r) for i, (o, r) in outcomes(job).items() if o == RowOutcome.REJECTED]
    assert item == "candle/Data/Images/Normal/0000.JPG"
    assert reason == "split_csv/1cls.csv:2: label is 'good', not 'normal' or 'anomaly'"
