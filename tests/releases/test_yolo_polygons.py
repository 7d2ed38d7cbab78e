"""Masks to YOLO polygons: filled again, the polygons give back the mask, holes included."""

import cv2
import numpy as np
import pytest

from releases.yolo_labels import mask_polygons

SIZE = 64
rows, cols = np.mgrid[0:SIZE, 0:SIZE]


def disk(cy, cx, r):
    return (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r


SHAPES = {
    "disk": disk(32, 32, 20),
    "ring": disk(32, 32, 24) & ~disk(32, 32, 10),
    "two disks": disk(16, 16, 8) | disk(46, 46, 10),
    "square with two holes": ((rows > 8) & (rows < 56) & (cols > 8) & (cols < 56))
    & ~disk(20, 20, 6)
    & ~disk(42, 40, 7),
    "at the border": (rows < 20) & (cols < 30),
    "one pixel": (rows == 5) & (cols == 7),
    "one-pixel line": (rows == 40) & (cols > 10) & (cols < 50),
}


@pytest.mark.parametrize("name", SHAPES)
def test_polygons_filled_again_give_back_the_mask(name):
    mask = SHAPES[name]
    polygons = mask_polygons(mask)

    drawn = np.zeros(mask.shape, dtype=np.uint8)
    cv2.fillPoly(drawn, [p.astype(np.int32) for p in polygons], 1)
    drawn = drawn.astype(bool)
    iou = (drawn & mask).sum() / (drawn | mask).sum()
    assert all(len(p) >= 3 for p in polygons)
    assert iou >= (0.5 if mask.sum() < 50 else 0.95), iou
    components, _ = cv2.connectedComponents(mask.astype(np.uint8))
    assert len(polygons) == components - 1  # one instance per connected part


def test_a_hole_stays_empty_but_for_the_cut():
    mask = SHAPES["ring"]
    drawn = np.zeros(mask.shape, dtype=np.uint8)
    cv2.fillPoly(drawn, [p.astype(np.int32) for p in mask_polygons(mask)], 1)
    hole = disk(32, 32, 9)
    assert drawn[hole].sum() <= 2 * 9  # at most the cut's pixels across the hole's edge
