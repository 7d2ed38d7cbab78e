"""Tests for the synthetic demo images used by ``seed_demo``.

Images are kept small (a few hundred pixels) so the whole file runs in a few
seconds; the painters scale with the image size.
"""

import numpy as np
import pytest
from PIL import Image

from catalog.demo import (
    DEFECT_KINDS,
    SURFACES,
    DemoImage,
    demo_catalog,
    draw_demo_image,
)

# Non-square on purpose: a mixed-up (width, height) shows up at once.
SIZE = (240, 200)  # (width, height)
DOMAINS = {"metal machining", "textile", "wood", "ceramic tile", "PCB"}


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Grow an (H, W) bool mask by ``steps`` pixels (4-neighbourhood)."""
    grown = mask.copy()
    for _ in range(steps):
        before = grown.copy()
        grown[1:, :] |= before[:-1, :]
        grown[:-1, :] |= before[1:, :]
        grown[:, 1:] |= before[:, :-1]
        grown[:, :-1] |= before[:, 1:]
    return grown


def _fingerprint(item: DemoImage) -> tuple:
    """Everything that must repeat exactly for the same seed."""
    return (
        item.image.tobytes(),
        tuple((d.label, d.mask.tobytes()) for d in item.defects),
        item.description,
        item.domain,
        item.product,
        item.material,
    )


# --- determinism -----------------------------------------------------------


def test_same_seed_gives_identical_images():
    first = [_fingerprint(item) for item in demo_catalog(6, seed=7, size=SIZE)]
    second = [_fingerprint(item) for item in demo_catalog(6, seed=7, size=SIZE)]
    assert first == second


def test_draw_demo_image_repeats_for_the_same_generator_seed():
    def draw(seed):
        rng = np.random.default_rng(seed)
        return draw_demo_image(rng, surface="wood", defect_kinds=["crack", "stain"], size=SIZE)

    assert _fingerprint(draw(3)) == _fingerprint(draw(3))
    assert draw(3).image.tobytes() != draw(4).image.tobytes()


def test_different_seeds_give_different_images():
    a = [item.image.tobytes() for item in demo_catalog(5, seed=0, size=SIZE)]
    b = [item.image.tobytes() for item in demo_catalog(5, seed=1, size=SIZE)]
    assert all(x != y for x, y in zip(a, b, strict=True))


def test_longer_catalog_starts_with_the_shorter_one():
    short = [_fingerprint(item) for item in demo_catalog(3, seed=2, size=SIZE)]
    longer = [_fingerprint(item) for item in demo_catalog(5, seed=2, size=SIZE)]
    assert longer[:3] == short


# --- every surface x every defect kind ---------------------------------------


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_each_defect_is_visible_and_masked(surface, kind):
    width, height = SIZE
    for seed in (0, 1):
        item = draw_demo_image(np.random.default_rng(seed), surface=surface, defect_kinds=[kind], size=SIZE)

        assert isinstance(item.image, Image.Image)
        assert item.image.mode == "RGB"
        assert item.image.size == (width, height)
        assert [d.label for d in item.defects] == [kind]
        assert kind in item.description.lower()

        mask = item.defects[0].mask
        assert mask.shape == (height, width)
        assert mask.dtype == bool
        assert mask.any(), "defect mask is empty"
        assert mask.mean() < 0.3, "defect mask covers too much of the image"

        # The defect must stand out from the surface right around it.
        pixels = np.asarray(item.image, dtype=np.float64)
        ring = _dilate(mask, 6) & ~mask
        inside_mean = pixels[mask].mean(axis=0)
        ring_mean = pixels[ring].mean(axis=0)
        distance = np.linalg.norm(inside_mean - ring_mean)
        assert distance > 20, f"{kind} on {surface} (seed {seed}) barely visible: {distance:.1f}"


@pytest.mark.parametrize("surface", SURFACES)
def test_scratch_mask_is_a_thin_line(surface):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        item = draw_demo_image(rng, surface=surface, defect_kinds=["scratch"], size=SIZE)
        mask = item.defects[0].mask
        ys, xs = np.nonzero(mask)
        extent = (ys.max() - ys.min() + 1) + (xs.max() - xs.min() + 1)
        # A line of width <= 3 covers at most about 3 px per unit of length;
        # a blob would cover far more.
        assert mask.sum() <= 4 * extent


def test_defect_masks_only_cover_changed_pixels():
    # Same generator state, with and without the defect: the surface is
    # painted identically, so the images may only differ inside the mask
    # (plus the sensor noise, which is drawn after the defects and therefore
    # differs; hence compare with a tolerance well above that noise).
    for kind in DEFECT_KINDS:
        item = draw_demo_image(np.random.default_rng(5), surface="tile", defect_kinds=[kind], size=SIZE)
        clean = draw_demo_image(np.random.default_rng(5), surface="tile", defect_kinds=[], size=SIZE)
        diff = np.abs(np.asarray(item.image, dtype=np.int16) - np.asarray(clean.image, dtype=np.int16)).max(axis=2)
        mask = item.defects[0].mask
        assert diff[~mask].max() <= 6, f"{kind} changed pixels outside its mask"


def test_two_defects_are_both_masked_and_described():
    item = draw_demo_image(
        np.random.default_rng(0), surface="brushed_metal", defect_kinds=["hole", "contamination"], size=SIZE
    )
    assert [d.label for d in item.defects] == ["hole", "contamination"]
    assert all(d.mask.any() for d in item.defects)
    assert "hole" in item.description and "contamination" in item.description


def test_defect_free_image_has_no_defects():
    for surface in SURFACES:
        item = draw_demo_image(np.random.default_rng(0), surface=surface, defect_kinds=[], size=SIZE)
        assert item.defects == []
        assert item.image.size == SIZE
        assert item.description.endswith(".")
        assert item.domain in DOMAINS
        assert item.product and item.material


def test_smallest_allowed_size_works():
    for surface in SURFACES:
        rng = np.random.default_rng(0)
        item = draw_demo_image(rng, surface=surface, defect_kinds=list(DEFECT_KINDS), size=(64, 64))
        assert item.image.size == (64, 64)
        assert all(d.mask.any() for d in item.defects)


# --- the catalog -------------------------------------------------------------


def test_catalog_covers_all_surfaces_and_kinds():
    items = list(demo_catalog(40, size=(128, 128)))
    assert len(items) == 40
    assert {item.domain for item in items} == DOMAINS
    assert {d.label for item in items for d in item.defects} == set(DEFECT_KINDS)

    defect_free = [item for item in items if not item.defects]
    assert 3 <= len(defect_free) <= 7  # about 1 in 8
    assert any(len(item.defects) == 2 for item in items)
    assert sum(len(item.defects) == 1 for item in items) > len(items) / 2  # mostly one defect
    for item in items:
        labels = [d.label for d in item.defects]
        assert len(labels) == len(set(labels)), "an image repeats a defect kind"
        assert all(d.mask.any() for d in item.defects)


def test_catalog_of_zero_is_empty():
    assert list(demo_catalog(0)) == []


# --- bad arguments -----------------------------------------------------------


def test_unknown_surface_is_rejected():
    with pytest.raises(ValueError, match="glass"):
        draw_demo_image(np.random.default_rng(0), surface="glass", defect_kinds=[])


def test_unknown_defect_kind_is_rejected():
    with pytest.raises(ValueError, match="dent"):
        draw_demo_image(np.random.default_rng(0), surface="wood", defect_kinds=["scratch", "dent"])


def test_bare_string_defect_kinds_is_rejected():
    with pytest.raises(ValueError, match="scratch"):
        draw_demo_image(np.random.default_rng(0), surface="wood", defect_kinds="scratch")


@pytest.mark.parametrize("size, bad", [((32, 640), "32"), ((640, 10), "10"), ((63, 63), "63")])
def test_too_small_size_is_rejected(size, bad):
    with pytest.raises(ValueError, match=bad):
        draw_demo_image(np.random.default_rng(0), surface="tile", defect_kinds=[], size=size)


def test_malformed_size_is_rejected():
    with pytest.raises(ValueError, match="640"):
        draw_demo_image(np.random.default_rng(0), surface="tile", defect_kinds=[], size=(640,))


def test_catalog_checks_arguments_before_iterating():
    with pytest.raises(ValueError, match="8"):
        demo_catalog(3, size=(8, 8))
    with pytest.raises(ValueError, match="-1"):
        demo_catalog(-1)
