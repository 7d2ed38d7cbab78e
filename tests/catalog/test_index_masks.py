"""Masks as datasets write them: class indices 1, 2, 255 in grey, palette (PNG and BMP), 16-bit and
three-channel files, with a binary label or with mask_classes. The oracle is the value array each
mask was written from: a binary label covers every non-zero pixel, a class covers its own value,
and a value that no class lists is a warning on the row, never a silent drop."""

import io
import itertools
import json

import numpy as np
import pytest
from PIL import Image

from accounts.roles import Role
from catalog.models import ImportRow, RowOutcome, Sample
from catalog.rle import rle_to_mask

from .helpers import outcomes, run_import
from .test_import_bad_input import png_bytes

pytestmark = pytest.mark.django_db

WIDTH, HEIGHT = 40, 30
VALUE_SETS = [(1,), (2,), (255,), (1, 2), (1, 2, 255)]
# A palette whose colours are nothing like the indices (index 0 is even white): read by index, never colour.
PALETTE = [255, 255, 255, 200, 30, 30, 30, 200, 30] + [17] * (3 * 252) + [30, 30, 200]


def value_array(values: tuple[int, ...]) -> np.ndarray:
    """Class value k in its own rectangle, plus two stray pixels of the first value."""
    array = np.zeros((HEIGHT, WIDTH), dtype=np.uint16)
    for position, value in enumerate(values):
        array[3 + 8 * position : 9 + 8 * position, 4 + 10 * position : 14 + 9 * position] = value
    array[HEIGHT - 1, WIDTH - 1] = array[0, WIDTH - 1] = values[0]
    return array


def encode(array: np.ndarray, encoding: str) -> tuple[bytes, str]:
    """The mask file's bytes and suffix, as the named kind of writer makes them."""
    buffer = io.BytesIO()
    if encoding == "grey-png":
        Image.fromarray(array.astype(np.uint8), mode="L").save(buffer, "PNG")
    elif encoding in ("palette-png", "palette-bmp"):
        image = Image.fromarray(array.astype(np.uint8), mode="P")
        image.putpalette(PALETTE)
        image.save(buffer, "PNG" if encoding == "palette-png" else "BMP")
    elif encoding == "16bit-png":
        Image.fromarray(array.astype(np.uint16)).save(buffer, "PNG")
    elif encoding == "rgb-grey-png":
        Image.fromarray(np.repeat(array.astype(np.uint8)[..., None], 3, axis=2), mode="RGB").save(buffer, "PNG")
    elif encoding == "rgba-transparent-png":
        grey = np.repeat(array.astype(np.uint8)[..., None], 3, axis=2)
        grey[array == 0] = 90  # background painted, but transparent: still background
        alpha = np.where(array == 0, 0, 255).astype(np.uint8)[..., None]
        Image.fromarray(np.concatenate([grey, alpha], axis=2), mode="RGBA").save(buffer, "PNG")
    elif encoding == "bilevel-png":
        Image.fromarray(array.astype(bool)).save(buffer, "PNG")
    suffix = ".bmp" if encoding.endswith("bmp") else ".png"
    return buffer.getvalue(), suffix


ENCODINGS = ["grey-png", "palette-png", "palette-bmp", "16bit-png", "rgb-grey-png", "rgba-transparent-png"]
MODES = ["label", "all-classes", "first-class-only"]
CASES = [
    *itertools.product(ENCODINGS, VALUE_SETS, MODES),
    *(("bilevel-png", (1,), mode) for mode in MODES),
]


@pytest.fixture(scope="module")
def mask_matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("index_masks")
    rows, expected = [], {}
    for number, (encoding, values, mode) in enumerate(CASES):
        array = value_array(values)
        data, suffix = encode(array, encoding)
        image_name, mask_name = f"{number:03d}.png", f"{number:03d}_mask{suffix}"
        (root / image_name).write_bytes(png_bytes((WIDTH, HEIGHT), seed=1000 + number))
        (root / mask_name).write_bytes(data)
        row = {"image": image_name, "mask": mask_name}
        if mode == "label":
            row["label"] = "defect"
            expected[image_name] = ({"defect": array != 0}, {})
        else:
            listed = values if mode == "all-classes" else values[:1]
            row["mask_classes"] = {str(value): f"class {value}" for value in listed}
            unlisted = {value: int((array == value).sum()) for value in values if value not in listed}
            expected[image_name] = ({f"class {value}": array == value for value in listed}, unlisted)
        rows.append(json.dumps(row))
    (root / "manifest.jsonl").write_text("\n".join(rows))
    return root, expected


def test_every_encoding_and_value_set_imports_the_pixels_the_values_say(mask_matrix):
    root, expected = mask_matrix
    job = run_import("folder", root)

    assert (job.imported, job.rejected) == (len(CASES), 0), [r for r in outcomes(job).values() if r[1]]
    for sample in Sample.objects.prefetch_related("source_regions"):
        masks, unlisted = expected[sample.external_id]
        got = {region.label: rle_to_mask(region.mask_rle) for region in sample.source_regions.all()}
        assert set(got) == set(masks), sample.external_id
        for label, mask in masks.items():
            assert np.array_equal(got[label], mask), (sample.external_id, label)
        warnings = ImportRow.objects.get(job=job, item=sample.external_id).warnings
        if unlisted:
            assert len(warnings) == 1, (sample.external_id, warnings)
            for value, pixels in unlisted.items():
                assert f"{value} ({pixels:,} pixels)" in warnings[0], warnings
        else:
            assert warnings == [], (sample.external_id, warnings)


def test_the_matrix_really_holds_the_encodings_it_names(mask_matrix):
    root, _ = mask_matrix
    modes = {}
    for number, (encoding, _, _) in enumerate(CASES):
        [mask] = root.glob(f"{number:03d}_mask.*")
        modes.setdefault(encoding, set()).add(Image.open(mask).mode)
    assert modes["palette-png"] == modes["palette-bmp"] == {"P"}
    assert modes["16bit-png"] <= {"I;16", "I"} and modes["bilevel-png"] == {"1"}
    assert modes["rgb-grey-png"] == {"RGB"} and modes["rgba-transparent-png"] == {"RGBA"}


def issue_mask(tmp_path) -> None:
    """The reported case: value 1 on 2 stray pixels, value 2 on the real defect (3,690 pixels)."""
    array = np.zeros((100, 120), dtype=np.uint8)
    array[10:100, 20:61] = 2  # 90 x 41 = 3,690 pixels
    array[0, 0] = array[0, 119] = 1
    image = Image.fromarray(array, mode="P")
    image.putpalette(PALETTE)
    image.save(tmp_path / "a_mask.png")
    (tmp_path / "a.png").write_bytes(png_bytes((120, 100), seed=5))


def test_a_binary_label_keeps_the_defect_held_as_index_values(tmp_path):
    issue_mask(tmp_path)
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"image": "a.png", "mask": "a_mask.png", "label": "dent"}))

    run_import("folder", tmp_path)

    region = Sample.objects.get().source_regions.get()
    assert (region.label, region.area) == ("dent", 3692)


def test_a_value_mask_classes_does_not_list_is_a_warning_seen_in_the_api_admin_and_cli(
    tmp_path, client_for, admin_client
):
    issue_mask(tmp_path)
    row = {"image": "a.png", "mask": "a_mask.png", "mask_classes": {"1": "speck"}}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row))

    job = run_import("folder", tmp_path)

    region = Sample.objects.get().source_regions.get()
    assert (region.label, region.area) == ("speck", 2)
    [warning] = job.rows.get().warnings
    assert warning == (
        "a_mask.png holds value(s) 2 (3,690 pixels) that mask_classes does not list (it lists 1); not imported"
    )
    api = client_for(Role.DATA_MANAGER)
    listed = api.get(f"/api/import-jobs/{job.pk}/rows/?warnings=true").json()["results"]
    assert [(r["item"], r["outcome"], r["warnings"]) for r in listed] == [("a.png", "imported", [warning])]
    assert api.get(f"/api/import-jobs/{job.pk}/rows/?warnings=false").json()["results"] == []
    assert api.get(f"/api/import-jobs/{job.pk}/rows/?warnings=maybe").status_code == 400
    page = admin_client.get("/admin/catalog/importrow/?has_warnings=yes").content.decode()
    assert "holds value(s) 2 (3,690 pixels)" in page


def test_the_cli_lists_rows_with_warnings(tmp_path):
    from django.core.management import call_command

    issue_mask(tmp_path)
    row = {"image": "a.png", "mask": "a_mask.png", "mask_classes": {"1": "speck"}}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row))
    out = io.StringIO()

    call_command("import_dataset", "--format", "folder", str(tmp_path), "--source", "s", stdout=out, verbosity=0)

    from catalog.models import Source

    assert f"into source 's' (id {Source.objects.get(name='s').pk}): 1 imported" in out.getvalue()
    assert "1 imported row(s) with warnings:" in out.getvalue()
    assert "warning a.png: a_mask.png holds value(s) 2 (3,690 pixels)" in out.getvalue()


def antialiased(size=(40, 30)) -> np.ndarray:
    """A disc whose edge fades from 255 to 0, as Magnetic Tile's and many exported masks do."""
    yy, xx = np.mgrid[: size[1], : size[0]]
    distance = np.hypot(xx - 20, yy - 15)
    return np.clip((10 - distance) * 60 + 128, 0, 255).astype(np.uint8)


def test_antialiased_masks_take_the_threshold_given_and_jpeg_masks_default_to_128(tmp_path):
    grey = antialiased()
    Image.fromarray(grey).save(tmp_path / "soft.png")
    Image.fromarray(grey).save(tmp_path / "soft.jpg", quality=70)
    for number in range(3):
        (tmp_path / f"{number}.png").write_bytes(png_bytes((40, 30), seed=40 + number))
    rows = [
        {"image": "0.png", "mask": "soft.png", "label": "any"},
        {"image": "1.png", "mask": "soft.png", "label": "half", "mask_threshold": 128},
        {"image": "2.png", "mask": "soft.jpg", "label": "jpeg"},
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows))

    run_import("folder", tmp_path)

    areas = {r.label: rle_to_mask(r.mask_rle) for r in Sample.objects.get(external_id="0.png").source_regions.all()}
    areas |= {r.label: rle_to_mask(r.mask_rle) for r in Sample.objects.get(external_id="1.png").source_regions.all()}
    areas |= {r.label: rle_to_mask(r.mask_rle) for r in Sample.objects.get(external_id="2.png").source_regions.all()}
    assert np.array_equal(areas["any"], grey != 0)
    assert np.array_equal(areas["half"], grey >= 128)
    decoded_jpeg = np.asarray(Image.open(tmp_path / "soft.jpg").convert("L"))
    assert np.array_equal(areas["jpeg"], decoded_jpeg >= 128)
    assert (grey != 0).sum() > (grey >= 128).sum()  # the two rules really differ on this mask


def test_colour_masks_are_binary_and_refused_as_class_indices(tmp_path):
    colour = np.zeros((30, 40, 3), dtype=np.uint8)
    colour[5:10, 5:15] = (200, 0, 0)
    colour[20:25, 20:30] = (0, 0, 1)  # dark blue: black in a luminance conversion, still a defect
    Image.fromarray(colour, mode="RGB").save(tmp_path / "colour.png")
    Image.fromarray(colour[..., 0]).save(tmp_path / "index.jpg")
    for number in range(3):
        (tmp_path / f"{number}.png").write_bytes(png_bytes((40, 30), seed=60 + number))
    rows = [
        {"image": "0.png", "mask": "colour.png", "label": "stain"},
        {"image": "1.png", "mask": "colour.png", "mask_classes": {"1": "stain"}},
        {"image": "2.png", "mask": "index.jpg", "mask_classes": {"200": "stain"}},
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows))

    job = run_import("folder", tmp_path)

    region = Sample.objects.get(external_id="0.png").source_regions.get()
    assert np.array_equal(rle_to_mask(region.mask_rle), colour.any(axis=2))
    rows = outcomes(job)
    assert rows["1.png"][0] == RowOutcome.REJECTED and "colour.png is a colour mask" in rows["1.png"][1]
    assert rows["2.png"] == (
        RowOutcome.REJECTED,
        "manifest.jsonl:3: mask index.jpg is a JPEG: lossy compression changes class indices; use PNG",
    )
