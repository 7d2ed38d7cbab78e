"""The importers on the real subsets in ../shared/data/real, read in place."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from base.jobs import JobStatus
from catalog.models import Sample, SourceRegion
from catalog.rle import rle_to_mask

from .helpers import run_import

pytestmark = pytest.mark.django_db


def test_mvtec_imports_every_image_and_one_region_per_defect_image(real_data):
    job = run_import("mvtec", real_data / "mvtec_ad", source="MVTec AD")

    assert job.status == JobStatus.SUCCEEDED
    # bottle: train/good 12, test/good 8, three defect folders of 10
    assert (job.total, job.imported, job.rejected) == (50, 50, 0)
    regions = SourceRegion.objects.filter(sample__source__name="MVTec AD")
    assert regions.count() == 30
    assert set(regions.values_list("label", flat=True)) == {"broken_large", "broken_small", "contamination"}
    assert set(Sample.objects.values_list("product", flat=True)) == {"bottle"}


def test_mvtec_region_masks_equal_the_ground_truth_pixels(real_data):
    run_import("mvtec", real_data / "mvtec_ad")

    for region in SourceRegion.objects.select_related("sample"):
        defect, stem = region.sample.external_id.split("/")[-2:]
        source_mask = real_data / "mvtec_ad" / "bottle" / "ground_truth" / defect / f"{stem[:-4]}_mask.png"
        expected = np.asarray(Image.open(source_mask).convert("L")) >= 128
        assert np.array_equal(rle_to_mask(region.mask_rle), expected), source_mask
        assert region.area == int(expected.sum())


def test_magnetic_tile_thresholds_antialiased_masks_and_skips_free_tiles(real_data):
    job = run_import("magnetic-tile", real_data / "magnetic_tile")

    assert job.status == JobStatus.SUCCEEDED
    assert (job.total, job.imported, job.rejected) == (232, 232, 0)  # 5 classes x 40 + 32 Fray
    labels = set(SourceRegion.objects.values_list("label", flat=True))
    assert labels == {"Blowhole", "Break", "Crack", "Fray", "Uneven"}
    assert not SourceRegion.objects.filter(label="Free").exists()
    checked = 0
    for region in SourceRegion.objects.select_related("sample"):
        stem_path = real_data / "magnetic_tile" / region.sample.external_id
        source_mask = np.asarray(Image.open(stem_path.with_suffix(".png")).convert("L"))
        assert np.array_equal(rle_to_mask(region.mask_rle), source_mask >= 128)
        checked += 1
    assert checked == SourceRegion.objects.count() > 150


def test_magnetic_tile_imports_one_class_folder_given_as_the_path(real_data):
    # Like MVTec's category folder: pointing at MT_Crack imports that class, not "holds no MT_ folder".
    job = run_import("magnetic-tile", real_data / "magnetic_tile" / "MT_Crack")

    assert job.status == JobStatus.SUCCEEDED
    assert (job.total, job.imported, job.rejected) == (40, 40, 0)
    assert set(SourceRegion.objects.values_list("label", flat=True)) == {"Crack"}


def test_magnetic_tile_masks_really_are_antialiased(real_data):
    # The reason for thresholding: the source masks hold more than two grey levels.
    levels = set()
    for mask_path in sorted((real_data / "magnetic_tile" / "MT_Crack" / "Imgs").glob("*.png"))[:10]:
        levels |= set(np.unique(np.asarray(Image.open(mask_path).convert("L"))).tolist())
    assert len(levels) > 2


def test_neu_det_boxes_agree_with_the_xml(real_data):
    job = run_import("neu-det", real_data / "neu_det" / "NEU-DET")

    assert (job.total, job.imported, job.rejected) == (240, 240, 0)
    annotations = real_data / "neu_det" / "NEU-DET" / "ANNOTATIONS"
    compared = 0
    for sample in Sample.objects.prefetch_related("source_regions"):
        stem = sample.external_id.split("/")[-1].rsplit(".", 1)[0]
        root = ET.parse(annotations / f"{stem}.xml").getroot()
        expected = []
        for obj in root.iter("object"):
            box = obj.find("bndbox")
            xmin, ymin, xmax, ymax = (int(box.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))
            expected.append((obj.findtext("name"), [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]))
        got = [(r.label, r.bbox) for r in sample.source_regions.all()]
        assert got == expected, stem
        assert all(r.mask_rle is None for r in sample.source_regions.all())
        compared += len(expected)
    assert compared >= 240
    assert set(SourceRegion.objects.values_list("label", flat=True)) == {
        "crazing",
        "inclusion",
        "patches",
        "pitted_surface",
        "rolled-in_scale",
        "scratches",
    }


def test_a_second_import_of_the_same_data_imports_nothing_new(real_data):
    first = run_import("mvtec", real_data / "mvtec_ad")
    second = run_import("mvtec", real_data / "mvtec_ad")

    assert first.imported == 50
    assert (second.imported, second.duplicates, second.rejected) == (0, 50, 0)
    assert Sample.objects.count() == 50
    assert SourceRegion.objects.count() == 30


def test_imported_sample_has_original_bytes_asset_and_thumbnail(real_data):
    run_import("mvtec", real_data / "mvtec_ad")
    sample = Sample.objects.get(external_id="bottle/test/broken_large/000.png")

    assert sample.original.read() == (real_data / "mvtec_ad/bottle/test/broken_large/000.png").read_bytes()
    assert Image.open(sample.asset).size == (512, 512)
    assert max(Image.open(sample.thumbnail).size) == 128
    assert (sample.width, sample.height, sample.original_format) == (900, 900, "PNG")
    assert len(sample.phash) == 16
