"""Stage 1 in a real browser: an annotator annotates a sample with the mouse and the keyboard
(template fields, a box, a click-assisted region, a brush stroke undone and redone, captions in
three languages, a QA pair) and submits it."""

import re

import pytest

from accounts.roles import Role
from annotation.models import Annotation, AnnotationState

from .conftest import PIT_CENTER, canvas_point, pick_term, screenshot, wait_for_work_page

pytestmark = pytest.mark.slow

CAPTIONS = {
    "en": "A steel plate with a dark linear scratch near the lower left and a round pit in the upper right corner.",
    "zh": "中厚板左下附近有一条深色线状划痕，右上角有一个圆形凹坑。",
    "ja": "厚鋼板の左下付近に暗い線状の傷があり、右上に丸いピットがある。",
}


def region_count(page) -> int:
    return page.evaluate("() => window.imddWork.store.state.regions.length")


def drag(page, start, end, steps: int = 8):
    page.mouse.move(*canvas_point(page, *start))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, *end), steps=steps)
    page.mouse.up()


def test_an_annotator_annotates_with_mouse_and_keyboard_and_submits(open_as, make_user, make_samples):
    annotation, _next_one = make_samples(2)
    annotator = make_user(Role.ANNOTATOR)
    page = open_as(annotator)
    screenshot(page, "home-annotator")
    page.click("form[action='/next/annotation/'] button")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    wait_for_work_page(page)
    sample_id = int(page.url.rstrip("/").split("/")[-1])
    assert sample_id == annotation.pk

    # The imported scratch is there with its mapped type; the product was mapped from the import.
    assert region_count(page) == 1
    page.locator('.field-row[data-field="product"] .chip[data-slug="prod-steel-plate"]').wait_for()

    # Template fields by typeahead: English prefix for the material, Chinese for the location.
    pick_term(page, '.field-row[data-field="materials"]', "stainless", "mat-stainless-steel")
    page.locator('.field-row[data-field="materials"] .chip[data-slug="mat-stainless-steel"]').wait_for()
    pick_term(page, '.field-row[data-field="locations"]', "左下", "loc-lower-left")
    page.locator('.field-row[data-field="locations"] .chip[data-slug="loc-lower-left"]').wait_for()

    # A box with the mouse (tool key X), then its defect type with T and the typeahead.
    page.locator("#canvas").click(position={"x": 5, "y": 5})
    page.keyboard.press("x")
    drag(page, (20, 20), (70, 60))
    assert region_count(page) == 2
    page.keyboard.press("t")
    pick_term(page, ".region-type", "dent", "def-dent")
    page.locator('.region-row.selected .chip[data-slug="def-dent"]').wait_for()

    # Click-assisted segmentation (tool key C): one positive click on the pit, Enter accepts.
    page.locator("#canvas").focus()
    page.keyboard.press("c")
    page.mouse.click(*canvas_point(page, *PIT_CENTER))
    page.wait_for_function(
        "() => window.imddWork.viewer.segmentation.session.proposal && !window.imddWork.viewer.segmentation.busy"
    )
    proposal_area = page.evaluate("() => window.imddWork.viewer.segmentation.session.proposal.area")
    assert 150 < proposal_area < 1500  # the pit is a disc of radius 11 (about 380 px)
    screenshot(page, "work-click-segmentation")
    page.keyboard.press("Enter")
    assert region_count(page) == 3

    # A brush stroke (B), undone and redone with the keyboard, then deleted with Delete.
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("]")
    drag(page, (120, 120), (170, 125))
    assert region_count(page) == 4
    page.keyboard.press("Control+z")
    assert region_count(page) == 3
    page.keyboard.press("Control+Shift+z")
    assert region_count(page) == 4
    page.keyboard.press("v")
    page.mouse.click(*canvas_point(page, 150, 123))
    page.keyboard.press("Delete")
    assert region_count(page) == 3

    # A polygon (P): three corners and Enter; then deleted again.
    page.keyboard.press("p")
    for corner in ((260, 150), (300, 150), (280, 190)):
        page.mouse.click(*canvas_point(page, *corner))
    page.keyboard.press("Enter")
    assert region_count(page) == 4
    polygon_area = page.evaluate("() => window.imddWork.viewer.selectedRegion().area")
    assert 700 < polygon_area < 900  # a triangle of base 40 and height 40
    page.keyboard.press("Delete")
    assert region_count(page) == 3

    # Class 1 (the scratch) hidden and shown again with the number key.
    page.keyboard.press("1")
    assert page.evaluate("() => window.imddWork.viewer.hidden.size") == 1
    page.keyboard.press("1")
    assert page.evaluate("() => window.imddWork.viewer.hidden.size") == 0

    # Captions side by side; the validator marks the controlled terms.
    for language, text in CAPTIONS.items():
        page.fill(f'textarea.caption-input[data-language="{language}"]', text)
    page.locator('.caption-column[data-language="zh"] mark.term').first.wait_for()
    assert page.locator('.caption-column[data-language="en"] mark.term').count() >= 3

    # A QA pair pointing at the click-assisted region (#3).
    page.get_by_role("button", name="Add a question").click()
    page.fill(".qa-pair .qa-question", "What is in the upper right?")
    page.fill(".qa-pair .qa-answer", "A round pit.")
    page.locator(".qa-pair .region-toggle", has_text="#3").click()
    page.locator("#canvas").focus()
    page.keyboard.press("?")
    page.locator("#help-dialog[open]").wait_for()
    screenshot(page, "work-shortcuts")
    page.keyboard.press("Escape")
    screenshot(page, "work-annotation")

    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(rf"/work/(?!{sample_id}/)\d+/$"))
    assert not page.script_errors, page.script_errors

    submitted = Annotation.objects.get(pk=sample_id)
    assert submitted.state == AnnotationState.SUBMITTED and submitted.annotator == annotator
    revision = submitted.current_revision
    regions = sorted((r.defect_type.slug, r.mask_rle is not None) for r in revision.regions.all())
    assert regions == [("def-dent", False), ("def-scratch", True), ("def-scratch", True)]
    assert {c.language: c.text for c in revision.captions.all()} == CAPTIONS
    terms = {(t.field, t.term.slug) for t in revision.terms.select_related("term")}
    assert {("materials", "mat-stainless-steel"), ("locations", "loc-lower-left")} <= terms
    (pair,) = revision.qa_pairs.all()
    (pointed,) = pair.regions.all()
    assert pointed.mask_rle is not None and abs(pointed.area - proposal_area) <= 1
