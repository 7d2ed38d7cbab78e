"""What the workbench's browser tests share: opening a page at a viewport in a language, scanning
the DOM for the literal text "null"/"undefined", reading the pixels the canvas drew."""

from django.test import Client

from .conftest import SCREENSHOTS

VIEWPORTS = {"1366x768": {"width": 1366, "height": 768}, "1920x1080": {"width": 1920, "height": 1080}}
LANGUAGES = ("en", "zh-hans", "ja")

# Every text node and the attributes a person reads (tooltips, placeholders, labels, values).
LITERAL_NULLS = """() => {
    const found = [];
    const bad = /(^|[^A-Za-z_])(null|undefined|NaN)([^A-Za-z_]|$)/;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode;
        if (node.parentElement && node.parentElement.closest("script, style")) continue;
        if (bad.test(node.textContent)) found.push(node.parentElement.outerHTML.slice(0, 160));
    }
    for (const element of document.body.querySelectorAll("*")) {
        for (const name of ["title", "placeholder", "aria-label", "alt"]) {
            const value = element.getAttribute(name);
            if (value && bad.test(value)) found.push(`${name}=${value}`);
        }
        if ((element.tagName === "INPUT" || element.tagName === "TEXTAREA") && bad.test(element.value)) found.push(`value=${element.value}`);
    }
    return found;
}"""


def open_in(chromium, live_server, user, path: str, viewport: str):
    """A tab at `viewport` signed in as `user` (whose preferred_language sets the page's language)."""
    client = Client()
    client.force_login(user)
    context = chromium.new_context(viewport=VIEWPORTS[viewport], locale="en-US")
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.script_errors = errors
    page.goto(live_server.url + path)
    return context, page


def literal_nulls(page) -> list[str]:
    return page.evaluate(LITERAL_NULLS)


def canvas_pixel(page, x: float, y: float) -> list[int]:
    """The RGBA the canvas shows at original-image pixel (x, y), read from the canvas itself."""
    return page.evaluate(
        """([x, y]) => {
            const viewer = window.imddWork.viewer;
            const ratio = window.devicePixelRatio || 1;
            const px = Math.round((viewer.offsetX + (x + 0.5) * viewer.scale) * ratio);
            const py = Math.round((viewer.offsetY + (y + 0.5) * viewer.scale) * ratio);
            return Array.from(viewer.canvas.getContext("2d").getImageData(px, py, 1, 1).data);
        }""",
        [x, y],
    )


def drawn(page):
    """Wait until the viewer has painted the current state (two animation frames)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def shot(page, name: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
