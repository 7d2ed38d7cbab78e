"""The work page's layout at 1366x768 and 1920x1080 in English, Chinese and Japanese: the image
takes most of the screen, re-fits when the captions drawer opens, and no page shows the literal
text null or undefined (read-only pages included)."""

import pytest

from accounts.roles import Role
from annotation import services

from .conftest import wait_for_work_page
from .workbench_helpers import LANGUAGES, drawn, literal_nulls, open_in, shot

pytestmark = pytest.mark.slow


# The canvas's least share of the viewport. At 1366x768 the captions drawer starts folded (the issue's
# bar: 60%); at 1920x1080 it starts open with its three captions side by side, and the canvas is
# about 1500x770 px.
LEAST_SHARE = {"1366x768": 0.60, "1920x1080": 0.55}


def image_fits(page) -> bool:
    """The whole image is inside the canvas, and it fills it along one side (it was fitted)."""
    return page.evaluate(
        """() => {
            const v = window.imddWork.viewer;
            const w = v.wrap.clientWidth, h = v.wrap.clientHeight;
            const right = v.offsetX + v.sample.width * v.scale, bottom = v.offsetY + v.sample.height * v.scale;
            const inside = v.offsetX >= -0.5 && v.offsetY >= -0.5 && right <= w + 0.5 && bottom <= h + 0.5;
            const filling = (right - v.offsetX) >= 0.95 * w || (bottom - v.offsetY) >= 0.95 * h;
            return inside && filling;
        }"""
    )


@pytest.mark.parametrize("viewport", ["1366x768", "1920x1080"])
def test_the_image_takes_the_screen_and_refits_in_every_language(
    chromium, live_server, make_user, make_samples, viewport
):
    first, second = make_samples(2)
    annotator = make_user(Role.ANNOTATOR)
    services.annotation_claim(user=annotator, sample_id=first.pk)
    for language in LANGUAGES:
        annotator.preferred_language = language
        annotator.save(update_fields=["preferred_language"])
        context, page = open_in(chromium, live_server, annotator, f"/work/{first.pk}/", viewport)
        wait_for_work_page(page)
        page.evaluate("() => localStorage.clear()")
        page.reload()
        wait_for_work_page(page)
        drawn(page)
        share = page.evaluate(
            """() => { const r = document.getElementById("canvas").getBoundingClientRect();
                       return (r.width * r.height) / (window.innerWidth * window.innerHeight); }"""
        )
        shot(page, f"work-{viewport}-{language}")
        assert share >= LEAST_SHARE[viewport], f"{viewport} {language}: the canvas is {share:.1%} of the viewport"
        assert image_fits(page)
        assert page.evaluate("() => document.documentElement.scrollHeight <= window.innerHeight + 1")
        assert literal_nulls(page) == []

        # The captions drawer opens (folded at 768 px, open at 1080): the canvas shrinks, the image re-fits.
        toggle = page.locator("#captions-panel .panel-toggle")
        before = page.evaluate("() => document.getElementById('canvas').clientHeight")
        if toggle.get_attribute("aria-expanded") == "true":
            toggle.click()
            page.wait_for_function(f"() => document.getElementById('canvas').clientHeight > {before}")
            before = page.evaluate("() => document.getElementById('canvas').clientHeight")
        toggle.click()
        page.wait_for_function(f"() => document.getElementById('canvas').clientHeight < {before}")
        drawn(page)
        assert image_fits(page), f"{viewport} {language}: the image is cut off after the captions opened"
        shot(page, f"work-{viewport}-{language}-captions")
        # The drawer stays as it was left, on the next sample too.
        page.reload()
        wait_for_work_page(page)
        assert page.locator("#captions-panel .panel-toggle").get_attribute("aria-expanded") == "true"

        # A sample the person does not hold opens read-only: still no "null" anywhere.
        page.goto(f"{live_server.url}/work/{second.pk}/")
        wait_for_work_page(page)
        drawn(page)
        assert literal_nulls(page) == []
        shot(page, f"work-readonly-{viewport}-{language}")
        for path in ("/", "/dashboards/"):
            page.goto(live_server.url + path)
            assert literal_nulls(page) == [], path
        assert not page.script_errors, page.script_errors
        context.close()


def test_the_hint_and_the_zoom_level_stay_legible_over_a_white_image(chromium, live_server, make_user, make_samples):
    # MVTec's bottles and many product photos are white at the edges: light text with only a
    # shadow vanished there, so the hint and the corner carry their own dark backdrop.
    (annotation,) = make_samples(1)
    annotator = make_user(Role.ANNOTATOR)
    services.annotation_claim(user=annotator, sample_id=annotation.pk)
    context, page = open_in(chromium, live_server, annotator, f"/work/{annotation.pk}/", "1366x768")
    wait_for_work_page(page)
    backdrops = page.evaluate(
        """() => ["#canvas-hint", ".canvas-corner"].map((selector) => {
            const [r, g, b, a = 1] = getComputedStyle(document.querySelector(selector)).backgroundColor
                .match(/[\\d.]+/g).map(Number);
            return { selector, dark: (r + g + b) / 3 < 80 && a >= 0.5 };
        })"""
    )
    assert all(backdrop["dark"] for backdrop in backdrops), backdrops
    context.close()
