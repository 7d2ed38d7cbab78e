"""Seeing defects and editing them in a real browser: outline mode and the image's brightness
change the pixels the canvas draws (read back from the canvas), a polygon keeps its editable
corners, merge and split, a locked region refuses edits, and undo works after saving."""

import re

import pytest

from accounts.roles import Role
from annotation.models import Annotation

from .conftest import PIT_CENTER, PIT_RADIUS, canvas_point, wait_for_work_page
from .workbench_helpers import canvas_pixel, drawn, shot

pytestmark = pytest.mark.slow


def regions(page) -> list[dict]:
    return page.evaluate(
        "() => window.imddWork.store.state.regions.map((r) => ({uid: r.uid, id: r.id, area: r.area, polygon: r.polygon}))"
    )


def click_at(page, x, y, **options):
    page.mouse.click(*canvas_point(page, x, y), **options)


def test_outline_mode_and_brightness_change_the_pixels_drawn(open_as, make_user, make_samples):
    make_samples(1)
    page = open_as(make_user(Role.ANNOTATOR))
    page.click("form[action='/next/annotation/'] button")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    wait_for_work_page(page)

    # A polygon around the pit (tool P, corners clicked, Enter): a filled region over the pit.
    x, y = PIT_CENTER
    r = PIT_RADIUS + 3
    page.keyboard.press("p")
    for corner in [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)]:
        click_at(page, *corner)
    page.keyboard.press("Enter")
    assert len(regions(page)) == 2
    page.keyboard.press("v")
    drawn(page)
    filled = canvas_pixel(page, x, y)

    # Hidden: the image's own pixel; outline: the centre shows the image again, the edge the colour.
    page.locator(".region-row").nth(1).locator(".region-mode").click()  # fill -> outline
    drawn(page)
    outlined = canvas_pixel(page, x, y)
    edge = canvas_pixel(page, x - r, y)
    page.locator(".region-row").nth(1).locator(".region-mode").click()  # outline -> hidden
    drawn(page)
    hidden = canvas_pixel(page, x, y)
    assert outlined == hidden != filled
    assert edge[:3] != hidden[:3]  # the outline itself is coloured
    page.keyboard.press("0")  # every region shown again, as the page's mode (filled)
    page.select_option("#display-mode", "outline")
    drawn(page)
    assert canvas_pixel(page, x, y) == hidden
    assert canvas_pixel(page, x - r, y)[:3] != canvas_pixel(page, x - r - 6, y)[:3]  # the outline at the edge
    shot(page, "work-outline-mode")

    # Brightness +60 (display only): an image pixel away from every region gets brighter.
    plain = canvas_pixel(page, 200, 40)
    page.locator(".adjust-menu summary").click()
    page.locator('input[data-adjust="brightness"]').fill("60")
    drawn(page)
    brighter = canvas_pixel(page, 200, 40)
    assert all(b > p for b, p in zip(brighter[:3], plain[:3], strict=True)), (plain, brighter)
    page.locator('input[data-adjust="invert"]').check()
    drawn(page)
    inverted = canvas_pixel(page, 200, 40)
    assert inverted[0] < 255 - brighter[0] + 3
    shot(page, "work-brightness-invert")
    # The pixel readout names the stored value, not the adjusted one.
    page.locator(".adjust-menu summary").click()  # fold the menu away
    page.mouse.move(*canvas_point(page, 200, 40))
    stored = page.evaluate("() => window.imddWork.viewer.display.pixelAt(200, 40)")
    readout = page.locator("#pixel-readout").text_content()
    assert readout.startswith("x 200  y 40 · ")
    assert (f"value {stored[0]}" if len(set(stored)) == 1 else f"RGB {stored[0]} {stored[1]} {stored[2]}") in readout
    assert not page.script_errors, page.script_errors


def test_polygon_corners_merge_split_lock_and_undo_after_save(open_as, make_user, make_samples):
    (annotation,) = make_samples(1)
    page = open_as(make_user(Role.ANNOTATOR))
    page.click("form[action='/next/annotation/'] button")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    wait_for_work_page(page)
    x, y = PIT_CENTER

    # A triangle; then its corner dragged: the region's mask follows the corner, one undo step.
    page.keyboard.press("p")
    for corner in [(x - 10, y - 10), (x + 10, y - 10), (x, y + 10)]:
        click_at(page, *corner)
    page.keyboard.press("Enter")
    page.keyboard.press("v")
    triangle = regions(page)[-1]
    assert triangle["polygon"] and len(triangle["polygon"]) == 3
    page.mouse.move(*canvas_point(page, x, y + 10 - 0.5))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, x, y + 30), steps=5)
    page.mouse.up()
    reshaped = regions(page)[-1]
    assert reshaped["area"] > triangle["area"] and reshaped["polygon"][2][1] > y + 25
    page.keyboard.press("Control+z")
    assert regions(page)[-1]["area"] == triangle["area"]
    page.keyboard.press("Control+Shift+z")

    # Lock: Delete does nothing; unlock, and the region can be split and merged.
    page.keyboard.press("l")
    page.keyboard.press("Delete")
    assert len(regions(page)) == 2
    assert "locked" in page.locator("#canvas-hint").inner_text()
    page.keyboard.press("l")

    # Shift+click the scratch too and merge (M): one region with both parts; split (K): two again.
    page.keyboard.down("Shift")
    click_at(page, 95, 192)
    page.keyboard.up("Shift")
    page.keyboard.press("m")
    merged = regions(page)
    assert len(merged) == 1
    page.keyboard.press("k")
    split = regions(page)
    assert len(split) == 2 and sum(r["area"] for r in split) == merged[0]["area"]
    shot(page, "work-merge-split")

    # Save, then undo: the split is taken back although it was saved; saving again stores that.
    page.keyboard.press("Control+s")
    page.locator("#save-status.ok").wait_for()
    saved = Annotation.objects.get(pk=annotation.pk)
    assert saved.current_revision.regions.count() == 2
    page.keyboard.press("Control+z")
    assert len(regions(page)) == 1
    assert "Unsaved" in page.locator("#save-status").inner_text()
    page.keyboard.press("Control+s")
    page.locator("#save-status.ok").wait_for()
    assert Annotation.objects.get(pk=annotation.pk).current_revision.regions.count() == 1
    assert not page.script_errors, page.script_errors
