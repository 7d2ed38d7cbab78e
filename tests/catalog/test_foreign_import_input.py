"""Data as the outside world writes it (CVAT, Label Studio, pycocotools, hand-made manifests and
benchmark copies), not as our own fixtures do. Whatever such a file holds that the import does not
keep is a visible finding on its row: never a silent drop."""

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from catalog.models import RowOutcome, Sample

from .helpers import outcomes, run_import
from .test_import_bad_input import png_bytes

pytestmark = pytest.mark.django_db


def imported_row(job, item):
    return job.rows.get(item=item, outcome=RowOutcome.IMPORTED)


def write_coco(path, images, annotations, categories=({"id": 1, "name": "scratch", "supercategory": "defect"},)):
    document = {"images": images, "annotations": annotations, "categories": list(categories)}
    path.write_text(json.dumps(document))


# --- a defect whose mask holds no pixel -----------------------------------------------------------


def test_an_mvtec_defect_image_whose_ground_truth_is_all_black_says_its_defect_has_no_region(tmp_path):
    images = tmp_path / "widget" / "test" / "dent"
    images.mkdir(parents=True)
    (images / "000.png").write_bytes(png_bytes(seed=1))
    truth = tmp_path / "widget" / "ground_truth" / "dent"
    truth.mkdir(parents=True)
    Image.new("L", (64, 48), 0).save(truth / "000_mask.png")

    job = run_import("mvtec", tmp_path)

    row = imported_row(job, "widget/test/dent/000.png")
    assert row.warnings == ["000_mask.png of 'dent' has no non-zero pixel: no region for 'dent'"]
    assert not Sample.objects.get().source_regions.exists()


def test_a_magnetic_tile_mask_below_its_threshold_says_so(tmp_path):
    images = tmp_path / "MT_Crack" / "Imgs"
    images.mkdir(parents=True)
    (images / "exp1.jpg").write_bytes(png_bytes(seed=2))
    faint = np.zeros((48, 64), dtype=np.uint8)
    faint[10:20, 10:20] = 90  # anti-aliased edge only, nothing at or above 128
    Image.fromarray(faint).save(images / "exp1.png")

    job = run_import("magnetic-tile", tmp_path)

    row = imported_row(job, "MT_Crack/Imgs/exp1.jpg")
    assert row.warnings == ["exp1.png of 'Crack' has no pixel at or above 128: no region for 'Crack'"]


def test_a_coco_rle_or_polygon_that_covers_no_pixel_is_a_warning_and_the_other_regions_stay(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(seed=3))
    empty = coco_mask.encode(np.asfortranarray(np.zeros((48, 64), dtype=np.uint8)))
    write_coco(
        tmp_path / "instances.json",
        [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": {"size": [48, 64], "counts": empty["counts"].decode()},
            },
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[-30, -30, -10, -30, -10, -10]]},
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, 20, 5, 20, 15]]},
        ],
    )

    job = run_import("coco", tmp_path / "instances.json")

    row = imported_row(job, "a.png")
    assert row.warnings == [
        "annotation 1 of 'scratch' covers no pixel of the 64x48 image: no region for it",
        "annotation 2 of 'scratch' covers no pixel of the 64x48 image: no region for it",
    ]
    assert Sample.objects.get().source_regions.count() == 1


def test_an_index_mask_without_some_listed_classes_is_no_finding(tmp_path):
    # One mask per image listing every class the dataset has: a class absent from this image is normal.
    (tmp_path / "a.png").write_bytes(png_bytes(seed=4))
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[2:6, 2:6] = 1
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    row = {"image": "a.png", "mask": "a_mask.png", "mask_classes": {"1": "scratch", "2": "dent"}}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row))

    job = run_import("folder", tmp_path)

    assert imported_row(job, "a.png").warnings == []
    assert outcomes(job)["a.png"][0] == RowOutcome.IMPORTED
