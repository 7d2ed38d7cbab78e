import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from catalog.models import RowOutcome, Sample
from catalog.rle import rle_to_mask

from .helpers import outcomes, run_import
from .test_import_bad_input import png_bytes

pytestmark = pytest.mark.django_db


def test_coco_polygons_rle_and_boxes_become_regions(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png_bytes((60, 40), seed=1))
    (tmp_path / "b.png").write_bytes(png_bytes((60, 40), seed=2))
    blob = np.zeros((40, 60), dtype=np.uint8)
    blob[10:20, 30:45] = 1
    compressed = coco_mask.encode(np.asfortranarray(blob))
    document = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 60, "height": 40},
            {"id": 2, "file_name": "b.png", "width": 60, "height": 40},
            {"id": 3, "file_name": "gone.png", "width": 60, "height": 40},
        ],
        "categories": [{"id": 7, "name": "scratch"}, {"id": 8, "name": "dent"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 7,
                "segmentation": [[5, 5, 25, 5, 25, 15, 5, 15]],
                "bbox": [5, 5, 20, 10],
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 8,
                "segmentation": {"size": [40, 60], "counts": compressed["counts"].decode()},
                "bbox": [30, 10, 15, 10],
            },
            {"id": 3, "image_id": 2, "category_id": 8, "bbox": [1, 2, 3, 4]},
        ],
    }
    (tmp_path / "instances.json").write_text(json.dumps(document))

    job = run_import("coco", tmp_path / "instances.json")

    assert outcomes(job)["gone.png"] == (
        RowOutcome.REJECTED,
        "image file 'gone.png' is missing (looked in images/, ./)",
    )
    a = Sample.objects.get(external_id="a.png")
    scratch, dent = a.source_regions.order_by("label").reverse()
    # The polygon is filled as pycocotools fills it (pixel centres inside), so the region is the
    # 20x10 box the annotation states, not the 21x11 that PIL's inclusive edges drew.
    assert scratch.label == "scratch" and (scratch.bbox, scratch.area) == ([5, 5, 20, 10], 200)
    assert dent.label == "dent" and np.array_equal(rle_to_mask(dent.mask_rle), blob.astype(bool))
    boxed = Sample.objects.get(external_id="b.png").source_regions.get()
    assert (boxed.bbox, boxed.mask_rle, boxed.area) == ([1, 2, 3, 4], None, 12)


def test_coco_refuses_a_folder_and_a_non_coco_file(tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    job = run_import("coco", tmp_path / "x.json")
    assert job.status == "failed" and "is not a COCO instances file" in job.error


def test_web_mined_text_is_stored_with_its_detected_language(tmp_path):
    texts = {
        "en.png": "Close-up of a cracked ceramic tile; the hairline crack starts at the lower left corner.",
        "zh.png": "陶瓷砖表面出现细裂纹，裂纹从左下角开始延伸，疑似烧成时冷却过快。",
        "ja.png": "セラミックタイルの表面にヘアクラックがあり、左下の角から伸びている。",
    }
    rows = []
    for number, (name, text) in enumerate(texts.items()):
        (tmp_path / name).write_bytes(png_bytes(seed=number))
        rows.append(json.dumps({"image": name, "text": text, "product": "ceramic tile"}))
    (tmp_path / "manifest.jsonl").write_text("\n".join(rows))

    run_import("folder", tmp_path, source="web crawl")

    languages = dict(Sample.objects.values_list("external_id", "source_text_language"))
    assert languages == {"en.png": "en", "zh.png": "zh", "ja.png": "ja"}
    assert Sample.objects.get(external_id="zh.png").source_text == texts["zh.png"]


def test_csv_manifest_with_boxes(tmp_path):
    (tmp_path / "p.png").write_bytes(png_bytes((50, 50)))
    (tmp_path / "manifest.csv").write_text(
        'image,product,boxes\np.png,gear,"[{""bbox"": [10, 10, 5, 5], ""label"": ""chip""}]"\n'
    )
    run_import("folder", tmp_path)
    sample = Sample.objects.get()
    assert sample.product == "gear"
    assert [(r.label, r.bbox) for r in sample.source_regions.all()] == [("chip", [10.0, 10.0, 5.0, 5.0])]
