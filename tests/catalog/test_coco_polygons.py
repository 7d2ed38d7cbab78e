"""COCO polygons are rasterised as pycocotools does (annToMask): a pixel is in when its centre is.

pycocotools samples the boundary at 1/5 pixel, so a pixel whose centre lies next to an edge may
differ; everything else must agree, and over many shapes the differences stay small.
"""

import math

import numpy as np
import pytest

from catalog import coco_geometry
from catalog.coco_geometry import segmentation_mask

coco_mask = pytest.importorskip("pycocotools.mask")
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools on numpy 2

# pycocotools samples the boundary at 1/5 px: measured over 9,700 random shapes, the centres of the
# pixels it puts on the other side lie at most 0.30 px from an edge, 97% of them within 0.1 px.
NEAR_THE_BOUNDARY = 0.5


def pycocotools_mask(segmentation, *, width: int, height: int) -> np.ndarray:
    return coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width))).astype(bool)


def bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def distance_to_boundary(segmentation, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Distance from each pixel centre (xs + 0.5, ys + 0.5) to the nearest edge of any part."""
    px, py = xs[:, None] + 0.5, ys[:, None] + 0.5
    nearest = np.full(len(xs), np.inf)
    for polygon in segmentation:
        a = np.asarray(polygon, dtype=float).reshape(-1, 2)
        b = np.roll(a, -1, axis=0)
        d = b - a
        length2 = np.maximum((d**2).sum(axis=1), 1e-12)
        t = np.clip(((px - a[:, 0]) * d[:, 0] + (py - a[:, 1]) * d[:, 1]) / length2, 0, 1)
        gap = np.hypot(px - (a[:, 0] + t * d[:, 0]), py - (a[:, 1] + t * d[:, 1]))
        nearest = np.minimum(nearest, gap.min(axis=1))
    return nearest


def ring(rng, *, cx, cy, radius, corners, concave):
    """A simple polygon around (cx, cy): corners at increasing angles, star-shaped when concave."""
    angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
    radii = radius * (rng.uniform(0.3, 1.0, corners) if concave else np.ones(corners))
    stretch = rng.uniform(0.5, 1.5)
    return np.column_stack([cx + radii * np.cos(angles) * stretch, cy + radii * np.sin(angles)]).ravel()


def random_segmentation(rng, kind: str, *, width: int, height: int) -> list[list[float]]:
    def centre(margin):
        return rng.uniform(-margin, width + margin), rng.uniform(-margin, height + margin)

    if kind == "triangle":
        parts = [rng.uniform(-10, [width + 10, height + 10] * 3)]
    elif kind == "tiny":
        cx, cy = centre(0)
        parts = [ring(rng, cx=cx, cy=cy, radius=rng.uniform(0.5, 2), corners=int(rng.integers(3, 7)), concave=False)]
    elif kind == "outside":  # centred near or past an edge of the image
        cx, cy = (rng.choice([-5.0, width + 5.0]), rng.uniform(0, height))
        cx, cy = (cx, cy) if rng.random() < 0.5 else (rng.uniform(0, width), rng.choice([-5.0, height + 5.0]))
        parts = [ring(rng, cx=cx, cy=cy, radius=rng.uniform(8, 40), corners=int(rng.integers(3, 12)), concave=True)]
    elif kind == "large":
        parts = [ring(rng, cx=width / 2, cy=height / 2, radius=rng.uniform(60, 140), corners=40, concave=True)]
    else:  # convex, concave, or several parts of either
        count = int(rng.integers(2, 4)) if kind == "parts" else 1
        parts = []
        for _ in range(count):
            cx, cy = centre(5)
            concave = kind == "concave" or (kind == "parts" and rng.random() < 0.5)
            corners = int(rng.integers(4, 16))
            parts.append(ring(rng, cx=cx, cy=cy, radius=rng.uniform(3, 30), corners=corners, concave=concave))
    # COCO files hold integers, two-decimal floats (most tools) or full floats.
    rounding = rng.choice(["integer", "hundredths", "float"], p=[0.2, 0.4, 0.4])
    if rounding == "integer":
        parts = [np.round(p) for p in parts]
    elif rounding == "hundredths":
        parts = [np.round(p, 2) for p in parts]
    return [[float(v) for v in p] for p in parts]


KINDS = ["triangle", "convex", "concave", "parts", "outside", "tiny", "large"]


def test_the_rectangle_from_the_review_covers_its_150_pixels_and_the_bbox_the_coco_file_states():
    mask = segmentation_mask([[5, 5, 20, 5, 20, 15, 5, 15]], width=64, height=48)

    assert mask.sum() == 150 and bbox(mask) == [5, 5, 15, 10]


def test_axis_aligned_rectangles_with_integer_corners_match_pycocotools_exactly():
    rng = np.random.default_rng(1)
    width, height = 40, 30
    for _ in range(500):
        x0, x1 = sorted(rng.integers(-10, width + 10, 2))
        y0, y1 = sorted(rng.integers(-10, height + 10, 2))
        segmentation = [[int(v) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]]

        ours = segmentation_mask(segmentation, width=width, height=height)

        expected = pycocotools_mask(segmentation, width=width, height=height)
        assert np.array_equal(ours, expected), segmentation


def test_random_polygons_agree_with_pycocotools_except_next_to_their_boundary():
    rng = np.random.default_rng(7)
    width, height = 256, 192
    differing = expected_area = 0
    for index in range(700):
        segmentation = random_segmentation(rng, KINDS[index % len(KINDS)], width=width, height=height)

        ours = segmentation_mask(segmentation, width=width, height=height)

        expected = pycocotools_mask(segmentation, width=width, height=height)
        ys, xs = np.nonzero(ours != expected)
        assert (distance_to_boundary(segmentation, xs, ys) <= NEAR_THE_BOUNDARY).all(), segmentation
        differing += len(xs)
        expected_area += int(expected.sum())
    # Measured: 0.44% (PIL's inclusive edges gave 3.6%, and 170% of the area on 1-2 px shapes).
    assert differing <= 0.01 * expected_area, f"{differing} of {expected_area} pixels differ"


@pytest.mark.parametrize(
    "segmentation",
    [
        pytest.param([[0, 0, 20, 0, 20, 20, 0, 20], [5, 5, 15, 5, 15, 15, 5, 15]], id="overlapping-parts-union"),
        pytest.param([[0, 0, 20, 0, 20, 20, 0, 20, 0, 0, 5, 5, 5, 15, 15, 15, 15, 5, 5, 5]], id="ring-with-hole"),
        pytest.param([[2.2, 2.1, 22.3, 21.8, 21.9, 2.4, 2.1, 22.2]], id="bow-tie"),
        pytest.param([[20.0, 5.0, 28.8, 32.1, 5.7, 15.4, 34.3, 15.4, 11.2, 32.1]], id="pentagram"),
    ],
)
def test_self_crossing_rings_are_even_odd_and_parts_are_a_union_as_in_pycocotools(segmentation):
    ours = segmentation_mask(segmentation, width=40, height=40)

    ys, xs = np.nonzero(ours != pycocotools_mask(segmentation, width=40, height=40))
    assert (distance_to_boundary(segmentation, xs, ys) <= NEAR_THE_BOUNDARY).all()


def test_the_middle_of_a_pentagram_is_outside_as_pycocotools_has_it():
    # Its centre is wound round twice: even-odd leaves it out, as pycocotools does; non-zero would fill it.
    pentagram = [[20.0, 5.0, 28.8, 32.1, 5.7, 15.4, 34.3, 15.4, 11.2, 32.1]]

    mask = segmentation_mask(pentagram, width=40, height=40)

    assert not mask[20, 19] and mask[8, 19]


@pytest.mark.parametrize(
    "segmentation",
    [
        pytest.param([[-30, -30, -10, -30, -10, -10]], id="outside"),
        pytest.param([[70, 10, 90, 10, 90, 30]], id="right-of-the-image"),
        pytest.param([[3, 3, 3, 3, 3, 3]], id="one-point"),
        pytest.param([[0, 0, 10, 10, 5, 5]], id="collinear"),
        pytest.param([[2.5, 7.25, 40.5, 7.25, 20, 7.25]], id="horizontal"),
        pytest.param([[1.3, 1.7, 37.9, 44.1, 1.3, 1.7, 37.9, 44.1]], id="there-and-back"),
    ],
)
def test_a_polygon_outside_the_image_or_without_area_covers_no_pixel(segmentation):
    mask = segmentation_mask(segmentation, width=64, height=48)

    assert mask.shape == (48, 64) and mask.dtype == bool
    assert not mask.any()


def test_filling_in_small_bands_gives_the_same_masks(monkeypatch):
    # Large polygons are filled a band of rows at a time to bound memory; bands must not show.
    rng = np.random.default_rng(3)
    width, height = 256, 192
    shapes = [random_segmentation(rng, KINDS[index % len(KINDS)], width=width, height=height) for index in range(70)]
    zigzag = [[float(v) for i in range(100) for v in (i * 2.56, -5.0, (i + 0.5) * 2.56, 200.0)]]
    shapes.append(zigzag)  # 200 crossings on every row: more than a band may hold
    whole = [segmentation_mask(shape, width=width, height=height) for shape in shapes]

    monkeypatch.setattr(coco_geometry, "_BAND_CROSSINGS", 37)
    monkeypatch.setattr(coco_geometry, "_BAND_PIXELS", 1000)

    for shape, expected in zip(shapes, whole, strict=True):
        assert np.array_equal(segmentation_mask(shape, width=width, height=height), expected)
