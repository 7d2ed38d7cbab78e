"""The work page's geometry, run by node on the real ES modules and checked against oracles
written independently here: polygon fill (ray casting at pixel centres), connected components
(OpenCV), borders (an erosion), IoU and union (numpy), region matching (all pairs), the display
lookup table (the formula), and the view's re-fit keeping the point under the cursor."""

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

NODE = shutil.which("node")
CASES = Path(__file__).with_name("geometry_cases.mjs")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is needed to run the page's modules")


def run(cases: list[dict]) -> list:
    done = subprocess.run([NODE, str(CASES)], input=json.dumps(cases), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def inside(polygon, x: float, y: float) -> bool:
    """Even-odd ray casting, the textbook way."""
    result = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            result = not result
    return result


def random_polygons(rng, count: int, width: int, height: int):
    for _ in range(count):
        n = int(rng.integers(3, 9))
        yield [[float(rng.uniform(-3, width + 3)), float(rng.uniform(-3, height + 3))] for _ in range(n)]


def test_polygons_fill_the_pixels_whose_centres_are_inside():
    rng = np.random.default_rng(7)
    width, height = 23, 17
    polygons = list(random_polygons(rng, 40, width, height)) + [[[2, 2], [10, 2], [10, 8], [2, 8]]]
    results = run([{"kind": "fill", "polygon": p, "width": width, "height": height} for p in polygons])
    for polygon, filled in zip(polygons, results, strict=True):
        expected = [int(inside(polygon, x + 0.5, y + 0.5)) for y in range(height) for x in range(width)]
        # A centre exactly on an edge may go either way; the random corners make that vanishingly rare.
        assert filled == expected
    assert sum(results[-1]) == 8 * 6


def random_masks(rng, count: int, width: int, height: int, density: float):
    for _ in range(count):
        yield (rng.random((height, width)) < density).astype(np.uint8)


def test_split_finds_the_8_connected_parts_largest_first():
    rng = np.random.default_rng(11)
    width, height = 19, 13
    masks = list(random_masks(rng, 30, width, height, 0.35))
    results = run([{"kind": "components", "mask": m.ravel().tolist(), "width": width, "height": height} for m in masks])
    for mask, parts in zip(masks, results, strict=True):
        count, labels = cv2.connectedComponents(mask, connectivity=8)
        expected = sorted((np.sum(labels == i) for i in range(1, count)), reverse=True)
        assert [sum(part) for part in parts] == expected
        union = np.sum(np.array(parts), axis=0) if parts else np.zeros(mask.size)
        assert np.array_equal(union, mask.ravel())  # the parts cover the mask exactly once


@pytest.mark.parametrize("thickness", [1, 2, 3])
def test_the_border_is_what_an_erosion_removes(thickness):
    rng = np.random.default_rng(thickness)
    width, height = 21, 16
    masks = list(random_masks(rng, 20, width, height, 0.7))
    results = run(
        [
            {"kind": "border", "mask": m.ravel().tolist(), "width": width, "height": height, "thickness": thickness}
            for m in masks
        ]
    )
    kernel = np.ones((2 * thickness + 1, 2 * thickness + 1), np.uint8)
    for mask, border in zip(masks, results, strict=True):
        eroded = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        assert border == (mask & (1 - eroded)).ravel().tolist()


def test_iou_union_and_matching_agree_with_numpy():
    rng = np.random.default_rng(3)
    size = 12 * 9
    masks = [m.ravel() for m in random_masks(rng, 8, 12, 9, 0.3)]
    pairs = list(itertools.combinations(range(8), 2))
    results = run(
        [{"kind": "iou", "a": masks[i].tolist(), "b": masks[j].tolist()} for i, j in pairs]
        + [{"kind": "union", "masks": [m.tolist() for m in masks[:3]], "size": size}]
        + [{"kind": "iou", "a": [0] * size, "b": [0] * size}]
    )
    for (i, j), iou in zip(pairs, results, strict=False):
        a, b = masks[i].astype(bool), masks[j].astype(bool)
        assert iou == pytest.approx((a & b).sum() / (a | b).sum())
    assert results[len(pairs)] == np.any(masks[:3], axis=0).astype(int).tolist()
    assert results[-1] is None


def test_regions_pair_by_best_overlap_and_the_rest_are_added_or_removed():
    def box(x, y, w, h):
        mask = np.zeros((20, 30), np.uint8)
        mask[y : y + h, x : x + w] = 1
        return mask.ravel().tolist()

    before = [
        {"name": "scratch", "mask": box(2, 2, 10, 3)},
        {"name": "pit", "mask": box(20, 10, 4, 4)},
        {"name": "gone", "mask": box(0, 15, 3, 3)},
    ]
    after = [
        {"name": "pit moved", "mask": box(21, 11, 4, 4)},
        {"name": "scratch", "mask": box(2, 2, 10, 3)},
        {"name": "new", "mask": box(10, 12, 3, 3)},
    ]
    (result,) = run([{"kind": "match", "before": before, "after": after}])
    assert [p[:2] for p in result["pairs"]] == [["scratch", "scratch"], ["pit", "pit moved"]]
    assert result["pairs"][0][2] == 1 and result["pairs"][1][2] == pytest.approx(9 / 23)
    assert result["removed"] == ["gone"] and result["added"] == ["new"]


@pytest.mark.parametrize(
    "display",
    [
        {"brightness": 0, "contrast": 0, "gamma": 1, "invert": False},
        {"brightness": 40, "contrast": 0, "gamma": 1, "invert": False},
        {"brightness": -20, "contrast": 50, "gamma": 1, "invert": False},
        {"brightness": 0, "contrast": -60, "gamma": 2.2, "invert": True},
    ],
)
def test_the_display_table_follows_its_formula(display):
    (table,) = run([{"kind": "table", "settings": display}])
    v = np.arange(256) / 255
    slope = np.tan((display["contrast"] / 100 * 0.98 + 1) * np.pi / 4)
    x = np.clip((v - 0.5) * slope + 0.5 + display["brightness"] / 100, 0, 1) ** (1 / display["gamma"])
    if display["invert"]:
        x = 1 - x
    assert np.abs(np.array(table) - np.round(x * 255)).max() <= 1
    if display == {"brightness": 0, "contrast": 0, "gamma": 1, "invert": False}:
        assert table == list(range(256))  # neutral settings show the pixels as they are


def test_a_fitted_view_refits_and_a_zoomed_one_keeps_the_point_under_the_cursor():
    fitted, zoomed = run(
        [
            {"kind": "view", "width": 400, "height": 300, "view": [800, 600], "steps": [{"resize": [800, 400]}]},
            {
                "kind": "view",
                "width": 400,
                "height": 300,
                "view": [800, 600],
                "steps": [{"zoom": [300, 200, 3]}, {"resize": [800, 400], "anchor": [300, 200]}],
                "probe": [300, 200],
            },
        ]
    )
    assert fitted["fitted"] and fitted["offsetY"] >= 0 and fitted["offsetY"] + 300 * fitted["scale"] <= 400
    before = run(
        [
            {
                "kind": "view",
                "width": 400,
                "height": 300,
                "view": [800, 600],
                "steps": [{"zoom": [300, 200, 3]}],
                "probe": [300, 200],
            }
        ]
    )[0]
    assert not zoomed["fitted"]
    assert zoomed["probe"]["x"] == pytest.approx(before["probe"]["x"]) and zoomed["probe"]["y"] == pytest.approx(
        before["probe"]["y"]
    )
    assert zoomed["scale"] == pytest.approx(before["scale"] * (400 / 300) / 2)  # the fit scale shrank from 2 to 4/3
