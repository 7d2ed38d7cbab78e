"""COCO in its own layout: annotations/instances_<split>.json beside <split>/ or images/ folders,
an `images` option for a folder named otherwise, and product/domain options, from the CLI and the
API. Masks are checked against pycocotools, the reference reader of the format."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pycocotools import mask as coco_mask

from accounts.roles import Role
from base.jobs import JobStatus
from catalog.models import ImportJob, RowOutcome, Sample, Source
from catalog.rle import rle_to_mask

from .helpers import outcomes, run_import
from .test_import_bad_input import png_bytes

pytestmark = pytest.mark.django_db


def blob(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), dtype=np.uint8)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    mask[top : top + height // 3, left : left + width // 4] = 1
    return mask


def write_split(root, images_folder: str, split: str, count: int, first_id: int) -> dict:
    """One split as COCO's tools write it; returns file_name -> the mask that was encoded."""
    (root / images_folder).mkdir(parents=True, exist_ok=True)
    images, annotations, masks = [], [], {}
    for number in range(count):
        image_id = first_id + number
        file_name = f"{image_id:012d}.jpg"
        width, height = 64 + 8 * number, 48
        (root / images_folder / file_name).write_bytes(png_bytes((width, height), seed=image_id))
        mask = blob(height, width, image_id)
        rle = coco_mask.encode(np.asfortranarray(mask))
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        annotations.append(
            {
                "id": 100 + image_id,
                "image_id": image_id,
                "category_id": 3,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                "area": float(coco_mask.area(rle)),
                "bbox": coco_mask.toBbox(rle).tolist(),
                "iscrowd": 1,
            }
        )
        masks[file_name] = mask
    document = {
        "info": {"description": "test split"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 3, "name": "scratch", "supercategory": "defect"}],
    }
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(document))
    return masks


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / "coco"
    masks = write_split(root, "train2017", "train2017", 3, first_id=1)
    masks |= write_split(root, "val2017", "val2017", 2, first_id=50)
    return root, masks


def test_the_standard_layout_imports_every_split_with_pycocotools_masks(coco_root):
    root, masks = coco_root

    job = run_import("coco", root)

    assert (job.status, job.total, job.imported, job.rejected) == (JobStatus.SUCCEEDED, 5, 5, 0)
    for sample in Sample.objects.prefetch_related("source_regions"):
        split, file_name = sample.external_id.split("/")
        assert split in ("train2017", "val2017")
        region = sample.source_regions.get()
        assert region.label == "scratch"
        assert np.array_equal(rle_to_mask(region.mask_rle), masks[file_name].astype(bool))
        assert region.area == int(masks[file_name].sum())


def test_one_json_inside_annotations_finds_its_split_folder(coco_root):
    root, _ = coco_root

    job = run_import("coco", root / "annotations" / "instances_val2017.json")

    assert (job.imported, job.rejected) == (2, 0)
    assert set(Sample.objects.values_list("external_id", flat=True)) == {"000000000050.jpg", "000000000051.jpg"}


def test_images_folder_beside_annotations(tmp_path):
    write_split(tmp_path, "images", "default", 2, first_id=7)

    job = run_import("coco", tmp_path)

    assert (job.imported, job.rejected) == (2, 0)


def test_the_images_option_names_a_folder_of_another_name_and_product_domain_fill_the_samples(tmp_path):
    write_split(tmp_path, "photos/line3", "default", 2, first_id=9)
    out = io.StringIO()

    call_command(
        "import_dataset",
        "--format",
        "coco",
        str(tmp_path),
        "--source",
        "line 3",
        "--images",
        "photos/line3",
        "--product",
        "brake disc",
        "--domain",
        "automotive castings",
        stdout=out,
        verbosity=0,
    )

    assert "2 imported" in out.getvalue()
    assert set(Sample.objects.values_list("product", "domain")) == {("brake disc", "automotive castings")}
    assert ImportJob.objects.get().options == {
        "images": "photos/line3",
        "product": "brake disc",
        "domain": "automotive castings",
    }


def test_without_the_images_option_an_unusual_folder_is_reported_per_row(tmp_path):
    write_split(tmp_path, "photos/line3", "default", 1, first_id=9)

    job = run_import("coco", tmp_path)

    assert outcomes(job) == {
        "000000000009.jpg": (
            RowOutcome.REJECTED,
            "image file '000000000009.jpg' is missing (looked in annotations/, ./)",
        )
    }


def test_a_bad_images_option_is_refused(tmp_path):
    write_split(tmp_path, "images", "default", 1, first_id=1)
    with pytest.raises(CommandError, match="images folder .*nowhere does not exist"):
        call_command("import_dataset", "--format", "coco", str(tmp_path), "--source", "s", "--images", "nowhere")
    # That one failed as a job (recorded, with its source); these are refused as requests, and the
    # command makes the source and the job in one transaction (services.import_request): no new source.
    with pytest.raises(CommandError, match="must be a folder relative to the dataset root"):
        call_command("import_dataset", "--format", "coco", str(tmp_path), "--source", "new", "--images", "../up")
    with pytest.raises(CommandError, match="applies to the coco format, not folder"):
        call_command("import_dataset", "--format", "folder", str(tmp_path), "--source", "new", "--images", "images")
    assert list(Source.objects.values_list("name", flat=True)) == ["s"]


def test_a_folder_without_annotations_is_a_clear_failure(tmp_path):
    job = run_import("coco", tmp_path)
    assert job.status == JobStatus.FAILED
    assert job.error == f"{tmp_path} has no annotations/instances_*.json (COCO's layout)"


def test_the_api_takes_images_product_and_domain(client_for, settings, tmp_path):
    settings.IMPORT_ROOTS = [tmp_path]
    write_split(tmp_path, "frames", "default", 1, first_id=3)
    api = client_for(Role.DATA_MANAGER)

    created = api.post(
        "/api/import-jobs/",
        {
            "format": "coco",
            "path": str(tmp_path),
            "source": "PCB line",
            "images": "frames",
            "product": "printed circuit board",
            "domain": "electronics",
        },
        format="json",
    )
    refused = api.post(
        "/api/import-jobs/",
        {"format": "mvtec", "path": str(tmp_path), "source": "x", "images": "frames"},
        format="json",
    )

    assert created.status_code == 201, created.content
    assert created.json()["options"] == {
        "images": "frames",
        "product": "printed circuit board",
        "domain": "electronics",
    }
    assert refused.status_code == 400
    assert "applies to the coco format, not mvtec" in refused.json()["errors"]["images"][0]
    from catalog.ingest import import_run

    job = import_run(job=ImportJob.objects.get(pk=created.json()["id"]))
    assert job.imported == 1
    assert Sample.objects.get().product == "printed circuit board"
