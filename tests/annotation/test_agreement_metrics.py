"""The agreement statistics against values computed by hand (and published examples)."""

import numpy as np
import pytest

from annotation import agreement_statistics


def test_cohen_kappa_of_the_textbook_yes_no_table():
    # 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15

    assert agreement_statistics.observed_agreement(a, b) == pytest.approx(0.7)
    assert agreement_statistics.cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_is_undefined_without_variation_and_one_for_perfect_agreement():
    assert agreement_statistics.cohen_kappa(["x", "x"], ["x", "x"]) is None
    assert agreement_statistics.cohen_kappa(["x", "y", "x"], ["x", "y", "x"]) == pytest.approx(1.0)
    assert agreement_statistics.cohen_kappa([], []) is None


def test_cohen_kappa_compares_multi_valued_fields_as_sets():
    # frozensets: {1,2} == {2,1}; p_o = 2/3; A: s12 x2, s3 x1; B: s12 x1, s3 x2
    # p_e = (2*1 + 1*2) / 9 = 4/9; kappa = (6/9 - 4/9) / (5/9) = 0.4
    a = [frozenset({1, 2}), frozenset({1, 2}), frozenset({3})]
    b = [frozenset({2, 1}), frozenset({3}), frozenset({3})]

    assert agreement_statistics.cohen_kappa(a, b) == pytest.approx(0.4)


def test_krippendorff_alpha_small_hand_example():
    # units (a,a) (a,b) (b,b) (b,b): coincidences o_aa=2, o_ab=o_ba=1, o_bb=4; n=8, n_a=3, n_b=5
    # D_o = 2, D_e = 2*3*5 = 30; alpha = 1 - (n-1) * D_o / D_e = 1 - 7*2/30 = 0.5333
    units = [["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"]]

    assert agreement_statistics.krippendorff_alpha_nominal(units) == pytest.approx(1 - 14 / 30)


def test_krippendorff_alpha_of_the_published_example_with_missing_ratings():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units,
    # nominal alpha = 0.743. Unit 12 has a single rating and is not pairable.
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [list(unit) for unit in zip(*observers, strict=True)]

    assert agreement_statistics.krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=1e-3)


def test_krippendorff_alpha_is_undefined_without_pairable_variation():
    assert agreement_statistics.krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None
    assert agreement_statistics.krippendorff_alpha_nominal([["a", None], [None]]) is None


def test_mask_iou_by_hand():
    a = np.zeros((4, 4), dtype=bool)
    a[0:2, 0:2] = True  # 4 pixels
    b = np.zeros((4, 4), dtype=bool)
    b[0:2, 1:4] = True  # 6 pixels, 2 shared with a
    # intersection 2, union 4 + 6 - 2 = 8
    assert agreement_statistics.mask_iou(a, b) == pytest.approx(0.25)
    assert agreement_statistics.mask_iou(a, a) == 1.0
    assert agreement_statistics.mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0


def test_mask_iou_agrees_with_pycocotools():
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(1)
    a = rng.random((30, 40)) > 0.6
    b = rng.random((30, 40)) > 0.5
    encoded = [coco_mask.encode(np.asfortranarray(m.astype(np.uint8))) for m in (a, b)]

    assert agreement_statistics.mask_iou(a, b) == pytest.approx(coco_mask.iou([encoded[0]], [encoded[1]], [0])[0][0])


def test_edit_distance_by_hand():
    assert agreement_statistics.edit_distance("kitten", "sitting") == 3  # k->s, e->i, +g
    assert agreement_statistics.normalized_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert agreement_statistics.edit_distance("划痕", "裂纹") == 2
    assert agreement_statistics.edit_distance("", "abc") == 3
    assert agreement_statistics.normalized_edit_distance("", "") == 0.0
