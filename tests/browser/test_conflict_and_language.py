"""A stale write in a real browser (someone saved first: the 409 is shown and the expert re-applies
their edits), and the interface switched to Chinese and Japanese; the data managers' sample browser."""

import re

import pytest

from accounts.models import User
from accounts.roles import Role
from annotation import services
from annotation.models import Annotation

from .conftest import screenshot, wait_for_work_page

pytestmark = pytest.mark.slow


def test_a_stale_write_shows_what_changed_and_lets_the_expert_reapply(open_as, make_user, make_samples):
    (annotation,) = make_samples(1)
    annotator = make_user(Role.ANNOTATOR)
    services.annotation_claim(user=annotator, sample_id=annotation.pk)
    page = open_as(annotator, f"/work/{annotation.pk}/")
    wait_for_work_page(page)

    # Meanwhile the same sample is saved from another tab: a new English caption.
    version = Annotation.objects.get(pk=annotation.pk).version
    services.annotation_save(
        user=annotator,
        sample_id=annotation.pk,
        version=version,
        content={"captions": {"en": "Saved in the other tab."}},
    )

    page.fill('textarea.caption-input[data-language="zh"]', "中厚板表面有划痕。")
    page.keyboard.press("Control+s")
    dialog = page.locator("#conflict-dialog[open]")
    dialog.wait_for()
    changed = dialog.locator("#conflict-changes li").all_inner_texts()
    assert changed[:-1] == ["caption (English)"]  # the last line names the new version
    screenshot(page, "work-stale-write")
    page.locator("#conflict-reapply").click()
    assert page.locator('textarea.caption-input[data-language="en"]').input_value() == "Saved in the other tab."
    assert page.locator('textarea.caption-input[data-language="zh"]').input_value() == "中厚板表面有划痕。"
    page.keyboard.press("Control+s")
    page.locator("#save-status.ok").wait_for()

    captions = {c.language: c.text for c in Annotation.objects.get(pk=annotation.pk).current_revision.captions.all()}
    assert captions == {"en": "Saved in the other tab.", "zh": "中厚板表面有划痕。"}
    assert not page.script_errors, page.script_errors


def test_the_interface_switches_to_chinese_and_japanese(chromium, live_server, make_user, make_samples):
    (annotation,) = make_samples(1)
    annotator = make_user(Role.ANNOTATOR, username="wang")
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)

    # Signing in with the form, then 中文.
    page.goto(live_server.url + "/")
    page.fill("input[name=username]", "wang")
    page.fill("input[name=password]", "pw")
    screenshot(page, "sign-in")
    page.click("button[type=submit].primary")
    page.wait_for_url(live_server.url + "/")
    page.click(".language-switch button[value='zh-hans']")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert "我的队列" in page.inner_text("body")
    screenshot(page, "home-zh")
    assert User.objects.get(pk=annotator.pk).preferred_language == "zh-hans"

    # The work page speaks Chinese too, its scripts included (the JavaScript catalog).
    page.click("form[action='/next/annotation/'] button")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    wait_for_work_page(page)
    assert "提交" in page.locator("#actions").inner_text()
    assert "画笔" in page.locator('#toolbar [data-tool="brush"]').get_attribute("title")
    screenshot(page, "work-zh")

    # 日本語, remembered for the next visit.
    page.click(".language-switch button[value='ja']")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    wait_for_work_page(page)
    assert page.locator("html").get_attribute("lang") == "ja"
    assert "提出" in page.locator("#actions").inner_text()
    assert "ブラシ" in page.locator('#toolbar [data-tool="brush"]').get_attribute("title")
    screenshot(page, "work-ja")
    assert User.objects.get(pk=annotator.pk).preferred_language == "ja"
    context.close()


def test_a_data_manager_browses_and_filters_samples(open_as, make_user, make_samples):
    annotations = make_samples(3)
    manager = make_user(Role.DATA_MANAGER)
    page = open_as(manager, "/samples/")
    assert page.locator("tbody tr[data-sample]").count() == 3
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumb-frame img')].every((img) => img.complete && img.naturalWidth > 0)"
    )
    screenshot(page, "samples")
    page.select_option("select[name=status]", "unassigned")
    page.fill("input[name=domain]", "metal")
    page.click("#filters-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("tbody tr[data-sample]").count() == 3
    page.fill("input[name=domain]", "wood")
    page.click("#filters-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("tbody tr[data-sample]").count() == 0
    assert annotations
