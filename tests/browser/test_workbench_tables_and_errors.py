"""The data manager's sample table and dashboards, and translated error messages, in a real
browser and in English, Chinese and Japanese: outlines over the thumbnails, sorting, selection
and a bulk action; charts drawn; a refused request told in the page's language."""

import re

import pytest

from accounts.roles import Role
from annotation import services
from annotation.models import Annotation

from .conftest import wait_for_work_page
from .workbench_helpers import LANGUAGES, literal_nulls, open_in, shot

pytestmark = pytest.mark.slow

# The sentence for the code "invalid" in each language (locale/*/LC_MESSAGES/djangojs.po).
INVALID = {
    "en": "Some of what you sent is not valid.",
    "zh-hans": "您提交的部分内容无效。",
    "ja": "送信した内容の一部が正しくありません。",
}


def test_the_sample_table_sorts_selects_and_marks_gold_in_every_language(
    chromium, live_server, make_user, make_samples
):
    annotations = make_samples(3)
    manager = make_user(Role.DATA_MANAGER)
    for language in LANGUAGES:
        manager.preferred_language = language
        manager.save(update_fields=["preferred_language"])
        context, page = open_in(chromium, live_server, manager, "/samples/", "1366x768")
        rows = page.locator("tbody tr[data-sample]")
        assert rows.count() == 3
        # Every imported scratch is outlined over its thumbnail, in the scratch's class colour.
        assert page.locator("tbody .thumb-outlines polygon").count() >= 3
        assert literal_nulls(page) == []
        shot(page, f"samples-{language}")

        # Sort by sample, oldest first (a second click on the column reverses it).
        page.locator('thead a[data-sort="sample"]').click()
        page.wait_for_url(re.compile(r"sort=sample"))
        ids = [
            int(v)
            for v in page.locator("tbody tr[data-sample]").evaluate_all("rows => rows.map(r => r.dataset.sample)")
        ]
        assert ids == sorted(ids)

        if language == "en":
            # Select two and mark them gold: the server holds it, the reloaded table shows it.
            page.locator("tbody input.select-row").nth(0).check()
            page.locator("tbody input.select-row").nth(1).check()
            assert "2" in page.locator("#bulk-count").inner_text()
            page.locator('[data-bulk="gold"]').click()
            page.locator("#bulk-result.ok").wait_for()
            assert Annotation.objects.filter(pk__in=ids[:2], is_gold=True).count() == 2
            assert page.locator("tbody .badge.gold").count() == 2
            shot(page, "samples-gold")
        # Dashboards: three charts and the backlog, in the page's language.
        page.goto(f"{live_server.url}/dashboards/")
        assert page.locator("svg.chart").count() == 3
        backlog = page.locator('#backlog .figure[data-stage="annotation"] strong').inner_text()
        assert backlog == str(len(annotations))
        assert literal_nulls(page) == []
        shot(page, f"dashboards-{language}")
        assert not page.script_errors, page.script_errors
        context.close()


def test_a_refused_submit_is_explained_in_the_pages_language(chromium, live_server, make_user, make_samples):
    (annotation,) = make_samples(1)
    annotator = make_user(Role.ANNOTATOR)
    services.annotation_claim(user=annotator, sample_id=annotation.pk)
    for language in LANGUAGES:
        annotator.preferred_language = language
        annotator.save(update_fields=["preferred_language"])
        context, page = open_in(chromium, live_server, annotator, f"/work/{annotation.pk}/", "1920x1080")
        wait_for_work_page(page)
        # No captions yet: submit is refused (400, code "invalid") and the page says so in its language.
        page.locator("#canvas").focus()
        page.keyboard.press("Control+Enter")
        sentence = page.locator("#save-status .error-sentence")
        sentence.wait_for()
        assert sentence.inner_text() == INVALID[language]
        assert sentence.get_attribute("data-code") == "invalid"
        # Each bad field is named in the page's language (the caption fields' labels).
        assert page.locator("#save-status .error-list li").count() >= 1
        shot(page, f"work-error-{language}")
        assert not page.script_errors, page.script_errors
        context.close()
