"""Browser tests: Debian's Chromium (/usr/bin/chromium), driven by Playwright, against pytest-django's
live server. Nothing is downloaded: Playwright only launches the browser that is installed.

Screenshots of the main pages are kept in var/test-artifacts/screenshots/ (git-ignored)."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from PIL import Image, ImageDraw

from annotation.models import Annotation
from annotation.services import annotations_enqueue
from catalog.models import Sample
from tests.catalog.helpers import run_import
from tests.vocabulary.conftest import bundled_records
from vocabulary import services as vocabulary_services

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}
# Where the drawn defects are in the test image (original pixels).
PIT_CENTER = (236, 84)
PIT_RADIUS = 11


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), f"the browser tests need Debian's chromium package at {CHROMIUM}"
    # Playwright's sync API keeps an event loop in this thread; the tests' ORM calls are plain
    # synchronous code all the same, which Django's async-safety check cannot tell.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def vocabulary(transactional_db):
    """The bundled vocabulary (EN/ZH/JA), released as version 1."""
    vocabulary_services.vocabulary_load(records=bundled_records())
    return vocabulary_services.vocabulary_version_release(note="browser tests")


def draw_defect_image(folder: Path, name: str, *, seed: int) -> dict:
    """A 320x240 brushed-metal image with a dark scratch (given as a mask) and a dark pit (left for
    the annotator to find, e.g. with click segmentation). Returns the manifest row."""
    rng = np.random.default_rng(seed)
    rows = 150 + rng.normal(0, 6, size=(240, 1)) + np.zeros((240, 320))
    image = Image.fromarray(np.clip(rows + rng.normal(0, 3, size=(240, 320)), 0, 255).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.line([(40, 180), (150, 204)], fill=(55, 55, 60), width=3)
    x, y = PIT_CENTER
    draw.ellipse([x - PIT_RADIUS, y - PIT_RADIUS, x + PIT_RADIUS, y + PIT_RADIUS], fill=(40, 38, 36))
    image.save(folder / f"{name}.png")
    mask = Image.new("L", (320, 240), 0)
    ImageDraw.Draw(mask).line([(40, 180), (150, 204)], fill=1, width=3)
    mask.save(folder / f"{name}_mask.png")
    return {
        "image": f"{name}.png",
        "mask": f"{name}_mask.png",
        "mask_classes": {"1": "scratch"},
        "product": "steel plate",
        "domain": "metal",
    }


@pytest.fixture
def make_samples(vocabulary, tmp_path):
    """Import `count` drawn samples through the folder importer and put them in the annotation queue."""

    def make(count: int = 1) -> list[Annotation]:
        folder = tmp_path / f"import-{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        rows = [draw_defect_image(folder, f"plate_{i}", seed=i) for i in range(count)]
        (folder / "manifest.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
        job = run_import("folder", folder, source="Browser test line")
        assert job.imported == count, list(job.rows.values_list("reason", flat=True))
        samples = Sample.objects.filter(pk__in=job.rows.values("sample"))
        annotations_enqueue(samples=samples, by=None)
        return list(Annotation.objects.filter(pk__in=samples.values("pk")).order_by("pk"))

    return make


@pytest.fixture
def open_as(chromium, live_server):
    """A browser tab signed in as `user` (a session made by the test client), at `path`."""
    contexts = []

    def open_page(user, path: str = "/"):
        client = Client()
        client.force_login(user)
        context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.script_errors = errors
        page.goto(live_server.url + path)
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def canvas_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of original-image pixel (x, y) in the work page's canvas."""
    return page.evaluate(
        """([x, y]) => {
            const viewer = window.imddWork.viewer;
            const rect = viewer.canvas.getBoundingClientRect();
            return [rect.left + viewer.offsetX + (x + 0.5) * viewer.scale, rect.top + viewer.offsetY + (y + 0.5) * viewer.scale];
        }""",
        [x, y],
    )


def wait_for_work_page(page):
    page.wait_for_function("() => window.imddWork && window.imddWork.viewer.image !== null")


def wait_for_comparison(page, value: str):
    """The work page sets up its comparison after the image, from a fetch of the revisions: wait for
    the "compare with" choice to read `value` (a loaded machine takes longer than the image)."""
    page.wait_for_function("(value) => document.getElementById('compare-with').value === value", arg=value)


def wait_for_home(page):
    """After the last sample of a queue the page goes home ("nothing is left for you")."""
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))


def pick_term(page, scope: str, text: str, slug: str):
    """Type `text` into the typeahead inside `scope` (a CSS selector) and choose the term `slug`
    with the arrow keys and Enter."""
    box = page.locator(f"{scope} input.typeahead-input")
    box.click()
    box.fill(text)
    page.locator(f'{scope} .typeahead-list li[data-slug="{slug}"]').wait_for()
    for _ in range(10):
        if page.locator(f"{scope} .typeahead-list li.active").get_attribute("data-slug") == slug:
            break
        box.press("ArrowDown")
    box.press("Enter")
