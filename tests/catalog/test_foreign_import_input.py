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


# --- COCO files merged by hand: image ids and file names repeated -----------------------------------


def test_coco_images_sharing_an_id_are_refused_instead_of_taking_each_others_annotations(tmp_path):
    # Two exports concatenated: both number their images from 1.
    for number, name in enumerate(["line1/a.png", "line2/a.png", "line2/b.png"]):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(png_bytes(seed=10 + number))
    write_coco(
        tmp_path / "instances.json",
        [
            {"id": 1, "file_name": "line1/a.png", "width": 64, "height": 48},
            {"id": 1, "file_name": "line2/a.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "line2/b.png", "width": 64, "height": 48},
        ],
        [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [2, 2, 5, 5]},
        ],
    )

    job = run_import("coco", tmp_path / "instances.json")

    rows = outcomes(job)
    assert rows["line1/a.png"] == (
        RowOutcome.REJECTED,
        "instances.json: images[0] has id 1, as images[1] (line2/a.png) has: "
        "which image its annotations belong to cannot be told",
    )
    assert rows["line2/a.png"] == (
        RowOutcome.REJECTED,
        "instances.json: images[1] has id 1, as images[0] (line1/a.png) has: "
        "which image its annotations belong to cannot be told",
    )
    assert rows["line2/b.png"][0] == RowOutcome.IMPORTED
    assert [r.bbox for r in Sample.objects.get().source_regions.all()] == [[2, 2, 5, 5]]


def test_a_coco_image_listed_twice_imports_once_and_a_repeat_with_its_own_annotations_says_they_are_not_imported(
    tmp_path,
):
    (tmp_path / "a.png").write_bytes(png_bytes(seed=20))
    write_coco(
        tmp_path / "instances.json",
        [
            {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
            {"id": 1, "file_name": "a.png", "width": 64, "height": 48},  # the very same entry twice
            {"id": 7, "file_name": "a.png", "width": 64, "height": 48},  # the same file under a second id
        ],
        [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [2, 2, 5, 5]},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [3, 3, 5, 5]},
        ],
    )

    job = run_import("coco", tmp_path / "instances.json")

    rows = outcomes(job)
    assert rows["a.png"][0] == RowOutcome.IMPORTED
    assert rows["instances.json: images[1]"] == (
        RowOutcome.REJECTED,
        "instances.json: images[1] repeats file_name 'a.png'",
    )
    assert rows["instances.json: images[2]"] == (
        RowOutcome.REJECTED,
        "instances.json: images[2] repeats file_name 'a.png'; its 2 annotation(s) are not imported",
    )
    assert [r.bbox for r in Sample.objects.get().source_regions.all()] == [[1, 1, 5, 5]]


# --- folder manifests written by hand: fields the import does not read ------------------------------

MANIFEST_FIELDS_TEXT = "image, mask, label, mask_classes, mask_threshold, boxes, text, domain, product"


def test_a_manifest_field_the_import_does_not_know_is_named_on_its_row(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(seed=30))
    row = {"image": "a.png", "caption": "scratch near the rim", "Product": "gear", "notes": ""}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row))

    job = run_import("folder", tmp_path)

    assert imported_row(job, "a.png").warnings == [
        f"field(s) 'caption', 'Product' are not manifest fields ({MANIFEST_FIELDS_TEXT}): not imported"
    ]


def test_a_label_without_a_mask_is_named_as_not_imported(tmp_path):
    # An image-level label, as classification datasets give it: the manifest has no place for it.
    (tmp_path / "a.png").write_bytes(png_bytes(seed=31))
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"image": "a.png", "label": "scratch"}))

    job = run_import("folder", tmp_path)

    assert imported_row(job, "a.png").warnings == [
        "'label' 'scratch' is not imported: it names the defect of a binary 'mask', and this row has none"
    ]
    assert not Sample.objects.get().source_regions.exists()


def test_a_label_and_a_threshold_beside_mask_classes_are_named_as_not_used(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(seed=32))
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[2:6, 2:6] = 1
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    row = {"image": "a.png", "mask": "a_mask.png", "mask_classes": {"1": "dent"}, "label": "scratch"}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row | {"mask_threshold": 128}))

    job = run_import("folder", tmp_path)

    assert imported_row(job, "a.png").warnings == [
        "'label' 'scratch' is not imported: with 'mask_classes' each mask value names its own class",
        "'mask_threshold' is not used: it applies to a binary mask, and this row gives 'mask_classes'",
    ]
    assert [r.label for r in Sample.objects.get().source_regions.all()] == ["dent"]


def test_a_csv_manifest_header_is_read_whatever_its_case_and_spaces(tmp_path):
    # As a spreadsheet saves it: "Image, Mask, Label".
    (tmp_path / "a.png").write_bytes(png_bytes(seed=33))
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[2:6, 2:6] = 255
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    (tmp_path / "manifest.csv").write_text("Image, Mask, Label\na.png,a_mask.png,scratch\n")

    job = run_import("folder", tmp_path)

    assert imported_row(job, "a.png").warnings == []
    assert [r.label for r in Sample.objects.get().source_regions.all()] == ["scratch"]


def test_a_csv_manifest_without_an_image_column_fails_naming_its_columns(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(seed=34))
    (tmp_path / "manifest.csv").write_text("file,label\na.png,scratch\n")

    job = run_import("folder", tmp_path)

    assert job.status == "failed"
    assert job.error == "manifest.csv has no 'image' column (its columns: file, label)"


def test_a_jsonl_row_without_image_names_the_fields_it_has(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"Image": "a.png", "file": "b.png"}))

    job = run_import("folder", tmp_path)

    assert outcomes(job) == {
        "manifest.jsonl:1": (RowOutcome.REJECTED, "manifest.jsonl:1 has no 'image' (its fields: Image, file)")
    }


# --- benchmark copies that went through another file system ----------------------------------------


def test_magnetic_tile_reads_jpg_of_any_case_and_says_when_a_class_has_no_imgs_folder(tmp_path):
    images = tmp_path / "MT_Crack" / "Imgs"
    images.mkdir(parents=True)
    for number, stem in enumerate(["exp1", "exp2"]):
        suffix = ".JPG" if number else ".jpg"  # as a Windows copy or a camera names them
        (images / f"{stem}{suffix}").write_bytes(png_bytes(seed=40 + number))
        mask = np.zeros((48, 64), dtype=np.uint8)
        mask[5:15, 5:15] = 255
        Image.fromarray(mask).save(images / f"{stem}.png")
    (tmp_path / "MT_Break").mkdir()  # flattened copy: images straight in the class folder
    (tmp_path / "MT_Break" / "exp3.jpg").write_bytes(png_bytes(seed=42))

    job = run_import("magnetic-tile", tmp_path)

    rows = outcomes(job)
    assert rows["MT_Crack/Imgs/exp1.jpg"][0] == rows["MT_Crack/Imgs/exp2.JPG"][0] == RowOutcome.IMPORTED
    assert rows["MT_Break"] == (RowOutcome.REJECTED, "MT_Break has no Imgs/ folder: nothing imported from it")
    assert (job.total, job.imported, job.rejected) == (3, 2, 1)


# --- an image listed twice: one manifest line per box, two XML files for one image ------------------


@pytest.mark.parametrize("batch_size", [256, 1], ids=["one-batch", "a-batch-per-item"])
def test_a_manifest_listing_an_image_again_rejects_the_later_line_naming_both(tmp_path, settings, batch_size):
    # One line per box, as many hand-made manifests are written. Before, with the lines in two
    # batches, the later one vanished from the report: no row, processed < total, job succeeded.
    settings.IMPORT_BATCH_SIZE = batch_size
    (tmp_path / "a.png").write_bytes(png_bytes(seed=50))
    (tmp_path / "b.png").write_bytes(png_bytes(seed=51))
    lines = [
        {"image": "a.png", "boxes": [{"bbox": [1, 1, 4, 4], "label": "scratch"}]},
        {"image": "b.png"},
        {"image": "a.png", "boxes": [{"bbox": [9, 9, 4, 4], "label": "dent"}]},
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines))

    job = run_import("folder", tmp_path)

    assert outcomes(job)["manifest.jsonl:3"] == (
        RowOutcome.REJECTED,
        "manifest.jsonl:3 lists a.png again (first on line 1): give all of an image's regions on one line; "
        "its boxes are not imported",
    )
    assert (job.total, job.processed, job.imported, job.rejected) == (3, 3, 2, 1)


def test_an_item_a_source_lists_twice_is_a_rejected_row_never_a_missing_one(tmp_path, settings):
    # NEU-DET copies where a second XML names the same image (a relabelled copy left beside the first).
    settings.IMPORT_BATCH_SIZE = 1
    (tmp_path / "IMAGES").mkdir()
    (tmp_path / "ANNOTATIONS").mkdir()
    (tmp_path / "IMAGES" / "crazing_1.jpg").write_bytes(png_bytes((200, 200), seed=52))
    for stem, label in (("crazing_1", "crazing"), ("crazing_1_fixed", "patches")):
        (tmp_path / "ANNOTATIONS" / f"{stem}.xml").write_text(
            f"<annotation><filename>crazing_1.jpg</filename><object><name>{label}</name>"
            "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>10</ymax></bndbox></object></annotation>"
        )

    job = run_import("neu-det", tmp_path)

    assert outcomes(job)["IMAGES/crazing_1.jpg (listed again, 2)"] == (
        RowOutcome.REJECTED,
        "IMAGES/crazing_1.jpg is listed again by the source: only the first listing is read; "
        "this one's 1 region(s) are not imported",
    )
    assert (job.total, job.processed, job.imported, job.rejected) == (2, 2, 1, 1)


def test_a_neu_det_image_without_boxes_comes_in_with_a_warning_saying_why(tmp_path):
    # Every NEU-DET image shows a defect: one that comes in without a box is a finding, not a clean sample.
    (tmp_path / "IMAGES").mkdir()
    (tmp_path / "ANNOTATIONS").mkdir()
    (tmp_path / "IMAGES" / "crazing_1.jpg").write_bytes(png_bytes((200, 200), seed=60))
    (tmp_path / "IMAGES" / "crazing_2.jpg").write_bytes(png_bytes((200, 200), seed=61))
    (tmp_path / "ANNOTATIONS" / "crazing_2.xml").write_text(
        "<annotation><filename>crazing_2.jpg</filename><size><width>200</width></size></annotation>"
    )

    job = run_import("neu-det", tmp_path)

    assert imported_row(job, "IMAGES/crazing_1.jpg").warnings == [
        "no ANNOTATIONS/crazing_1.xml: imported without regions"
    ]
    assert imported_row(job, "IMAGES/crazing_2.jpg").warnings == [
        "ANNOTATIONS/crazing_2.xml names no object: imported without regions"
    ]


def test_a_coco_category_id_listed_twice_with_two_names_refuses_its_annotations_instead_of_picking_one(tmp_path):
    # Two exports' category lists concatenated: id 1 is "scratch" in one and "dent" in the other.
    (tmp_path / "a.png").write_bytes(png_bytes(seed=70))
    (tmp_path / "b.png").write_bytes(png_bytes(seed=71))
    write_coco(
        tmp_path / "instances.json",
        [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [1, 1, 5, 5]},
        ],
        categories=[
            {"id": 1, "name": "scratch"},
            {"id": 3, "name": "stain"},
            {"id": 3, "name": "stain", "supercategory": "defect"},  # the same name again is no conflict
            {"id": 1, "name": "dent"},
        ],
    )

    job = run_import("coco", tmp_path / "instances.json")

    rows = outcomes(job)
    assert rows["a.png"] == (
        RowOutcome.REJECTED,
        "annotation 1 names category 1, which categories lists under more than one name ('scratch', 'dent')",
    )
    assert rows["b.png"][0] == RowOutcome.IMPORTED
    assert [r.label for r in Sample.objects.get().source_regions.all()] == ["stain"]


# --- phone and camera photos: EXIF orientation ---------------------------------------------------


def exif_rotated_jpeg(size, orientation: int, seed: int) -> bytes:
    """A JPEG as a phone stores it: the sensor's pixel grid plus an EXIF tag saying how to turn it."""
    import io

    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def test_a_photo_whose_exif_orientation_is_not_applied_says_so_on_its_row(tmp_path):
    # Square: a region drawn in a viewer that turned the photo fits its size, so nothing else would tell.
    (tmp_path / "turned.jpg").write_bytes(exif_rotated_jpeg((48, 48), 6, seed=80))
    (tmp_path / "upright.jpg").write_bytes(exif_rotated_jpeg((48, 48), 1, seed=81))
    lines = [{"image": "turned.jpg", "boxes": [{"bbox": [1, 1, 5, 5], "label": "scratch"}]}, {"image": "upright.jpg"}]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(line) for line in lines))

    job = run_import("folder", tmp_path)

    assert imported_row(job, "turned.jpg").warnings == [
        "EXIF orientation 6 is not applied: viewers that honour it show the image turned 90° clockwise, "
        "while its regions and asset use the stored 48x48 pixels"
    ]
    assert imported_row(job, "upright.jpg").warnings == []


def test_a_coco_size_that_is_the_exif_turned_size_says_the_orientation_is_why(tmp_path):
    # Label Studio and browsers show a photo turned by its EXIF tag, and the export declares that size.
    (tmp_path / "a.jpg").write_bytes(exif_rotated_jpeg((64, 48), 8, seed=82))
    write_coco(tmp_path / "instances.json", [{"id": 1, "file_name": "a.jpg", "width": 48, "height": 64}], [])

    job = run_import("coco", tmp_path / "instances.json")

    assert outcomes(job)["a.jpg"] == (
        RowOutcome.REJECTED,
        "the annotation declares 48x64 but the image is 64x48; EXIF orientation 8 is not applied: viewers that "
        "honour it show the image turned 90° counter-clockwise, while its regions and asset use the stored "
        "64x48 pixels",
    )


def test_a_mask_drawn_over_the_turned_photo_is_refused_naming_the_orientation(tmp_path):
    (tmp_path / "a.jpg").write_bytes(exif_rotated_jpeg((64, 48), 6, seed=83))
    Image.new("L", (48, 64), 255).save(tmp_path / "a_mask.png")  # the size a viewer shows the photo at
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"image": "a.jpg", "mask": "a_mask.png", "label": "dent"}))

    job = run_import("folder", tmp_path)

    assert outcomes(job)["a.jpg"] == (
        RowOutcome.REJECTED,
        "a_mask.png of 'dent' is 48x64 but the image is 64x48; EXIF orientation 6 is not applied: viewers that "
        "honour it show the image turned 90° clockwise, while its regions and asset use the stored 64x48 pixels",
    )


def test_a_coco_size_written_as_whole_floats_is_read_and_a_fractional_one_refused(tmp_path):
    # Converters that go through numpy or pandas write "width": 64.0.
    (tmp_path / "a.png").write_bytes(png_bytes(seed=90))
    (tmp_path / "b.png").write_bytes(png_bytes(seed=91))
    write_coco(
        tmp_path / "instances.json",
        [
            {"id": 1, "file_name": "a.png", "width": 64.0, "height": 48.0},
            {"id": 2, "file_name": "b.png", "width": 64.5, "height": 48},
        ],
        [],
    )

    job = run_import("coco", tmp_path / "instances.json")

    rows = outcomes(job)
    assert rows["a.png"][0] == RowOutcome.IMPORTED
    assert rows["b.png"] == (RowOutcome.REJECTED, "image 2: width and height must be positive whole numbers")


def test_mvtec_folders_outside_its_layout_are_rows_saying_nothing_was_imported_from_them(tmp_path):
    # MVTec AD 2 keeps test images in test_public/ and adds validation/; a partial copy of a second
    # category may lack test/. Before, all of them were skipped without a word.
    bottle = tmp_path / "bottle"
    for folder in ("train/good", "test/good", "validation/good", "test_public/bad"):
        (bottle / folder).mkdir(parents=True)
        (bottle / folder / "000.png").write_bytes(png_bytes(seed=100 + len(folder)))
    (bottle / "readme.txt").write_text("MVTec")
    (tmp_path / "cable" / "train" / "good").mkdir(parents=True)

    job = run_import("mvtec", tmp_path)

    rows = outcomes(job)
    assert rows["bottle/test_public"] == (
        RowOutcome.REJECTED,
        "bottle/test_public is not an MVTec folder (train, test, ground_truth): nothing imported from it",
    )
    assert rows["bottle/validation"][0] == RowOutcome.REJECTED
    assert rows["cable"] == (
        RowOutcome.REJECTED,
        "cable has no test/ folder, so it is not read as an MVTec category: nothing imported from it",
    )
    assert (job.imported, job.rejected) == (2, 3)


# --- paths written on Windows ---------------------------------------------------------------------


def test_paths_written_with_backslashes_find_their_files(tmp_path):
    # labelme2coco and hand-made manifests on Windows write "images\\a.png".
    (tmp_path / "images" / "line1").mkdir(parents=True)
    (tmp_path / "images" / "line1" / "a.png").write_bytes(png_bytes(seed=110))
    (tmp_path / "images" / "line1" / "b.png").write_bytes(png_bytes(seed=111))
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[2:6, 2:6] = 255
    Image.fromarray(mask).save(tmp_path / "images" / "line1" / "b_mask.png")
    write_coco(tmp_path / "instances.json", [{"id": 1, "file_name": "line1\\a.png", "width": 64, "height": 48}], [])
    row = {"image": "images\\line1\\b.png", "mask": "images\\line1\\b_mask.png", "label": "dent"}
    (tmp_path.parent / "outside.png").write_bytes(png_bytes(seed=112))
    escaping = {"image": "..\\outside.png"}  # read with "/", it still may not leave the import root
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(escaping))

    coco = run_import("coco", tmp_path / "instances.json", source="coco")
    folder = run_import("folder", tmp_path, source="folder")

    assert outcomes(coco)["line1\\a.png"][0] == RowOutcome.IMPORTED
    assert outcomes(folder)["images\\line1\\b.png"][0] == RowOutcome.IMPORTED
    assert outcomes(folder)["..\\outside.png"] == (RowOutcome.REJECTED, "../outside.png lies outside the import root")
    assert [r.area for r in Sample.objects.get(external_id="images\\line1\\b.png").source_regions.all()] == [16]


def test_neu_det_reads_annotation_files_named_xml_in_capitals(tmp_path):
    (tmp_path / "IMAGES").mkdir()
    (tmp_path / "ANNOTATIONS").mkdir()
    (tmp_path / "IMAGES" / "crazing_1.jpg").write_bytes(png_bytes((200, 200), seed=120))
    (tmp_path / "ANNOTATIONS" / "crazing_1.XML").write_text(
        "<annotation><filename>crazing_1.jpg</filename><object><name>crazing</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>10</ymax></bndbox></object></annotation>"
    )

    job = run_import("neu-det", tmp_path)

    assert imported_row(job, "IMAGES/crazing_1.jpg").warnings == []
    assert [r.label for r in Sample.objects.get().source_regions.all()] == ["crazing"]


def test_importing_the_same_foreign_coco_again_adds_nothing_and_reports_the_same_rejections(tmp_path):
    for number, name in enumerate(["a.png", "b.png", "c.png"]):
        (tmp_path / name).write_bytes(png_bytes(seed=130 + number))
    empty = coco_mask.encode(np.asfortranarray(np.zeros((48, 64), dtype=np.uint8)))
    write_coco(
        tmp_path / "instances.json",
        [
            {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "b.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "c.png", "width": 64, "height": 48},
        ],
        [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, 20, 5, 20, 15]]},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [48, 64], "counts": empty["counts"].decode()},
            },
        ],
    )

    first = run_import("coco", tmp_path / "instances.json")
    again = run_import("coco", tmp_path / "instances.json")

    assert (first.imported, first.duplicates, first.rejected) == (1, 0, 2)
    assert (again.imported, again.duplicates, again.rejected) == (0, 1, 2)
    assert Sample.objects.count() == 1 and Sample.objects.get().source_regions.count() == 1
