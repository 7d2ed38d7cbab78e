"""The flow between samples and stages in a real browser: N skips (with a reason) to another
sample; in a second review round the comparison opens on what was sent back, so the reviewer
sees the annotator's changes (fields, regions, captions); the consensus tally ("1 of 2
approvals") shows to the experts and the data manager."""

import re

import pytest

from accounts.roles import Role
from annotation import services
from annotation.models import Annotation, AnnotationState, AuditEvent
from vocabulary.models import Term

from .conftest import wait_for_comparison, wait_for_work_page
from .workbench_helpers import literal_nulls, shot

pytestmark = pytest.mark.slow

CAPTIONS = {
    "en": "A steel plate with a dark linear scratch near the lower left edge of the surface.",
    "zh": "中厚板表面左下边缘附近有一条深色线状划痕。",
    "ja": "厚鋼板の表面の左下の縁付近に暗い線状の傷がある。",
}


def version(sample_id: int) -> int:
    return Annotation.objects.get(pk=sample_id).version


def start(page, stage: str):
    page.click(f"form[action='/next/{stage}/'] button")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    wait_for_work_page(page)


def shown_sample(page) -> int:
    return int(page.url.rstrip("/").split("/")[-1])


def test_n_skips_with_a_reason_to_another_sample(open_as, make_user, make_samples):
    first, second = make_samples(2)
    annotator = make_user(Role.ANNOTATOR)
    page = open_as(annotator)
    start(page, "annotation")
    assert shown_sample(page) == first.pk
    page.locator("#canvas").focus()
    page.keyboard.press("n")
    dialog = page.locator("#skip-dialog[open]")
    dialog.wait_for()
    page.locator("#skip-other").fill("the pit is out of focus")
    shot(page, "work-skip-dialog")
    page.locator("#skip-send").click()
    page.wait_for_url(re.compile(rf"/work/{second.pk}/$"))
    wait_for_work_page(page)
    skipped = Annotation.objects.get(pk=first.pk)
    assert skipped.state == AnnotationState.UNASSIGNED and skipped.lease_holder is None
    assert Annotation.objects.get(pk=second.pk).lease_holder == annotator
    event = AuditEvent.objects.get(annotation_id=first.pk, action="skip", field="reason")
    assert event.after == "the pit is out of focus" and event.actor == annotator

    # Skipping the last one goes home and says the queue has nothing else (the skipped one is back in it,
    # but a skip never hands back the sample being skipped).
    page.keyboard.press("n")
    page.locator("#skip-dialog[open]").wait_for()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/work/{first.pk}/$"))
    assert not page.script_errors, page.script_errors


def test_round_two_review_shows_what_the_annotator_changed(open_as, make_user, make_samples):
    (annotation,) = make_samples(1)
    sample_id = annotation.pk
    annotator, reviewer = make_user(Role.ANNOTATOR), make_user(Role.REVIEWER)
    services.annotation_claim(user=annotator, sample_id=sample_id)
    services.annotation_submit(
        annotator=annotator, sample_id=sample_id, version=version(sample_id), content={"captions": CAPTIONS}
    )
    services.annotation_claim(user=reviewer, sample_id=sample_id)
    services.review_request_changes(
        reviewer=reviewer,
        sample_id=sample_id,
        version=version(sample_id),
        comments=[{"field": "fields.materials", "text": "Name the material."}],
    )
    # The annotator addresses the comment: a material, a box around the pit, a longer caption.
    steel = Term.objects.get(slug="mat-stainless-steel")
    pit = Term.objects.get(slug="def-pit")
    current = Annotation.objects.get(pk=sample_id).current_revision
    kept = [{"id": region.pk} for region in current.regions.all()]
    new_box = {"key": "pit", "defect_type": pit.pk, "bbox": [222, 70, 28, 28]}
    services.annotation_claim(user=annotator, sample_id=sample_id)
    services.annotation_submit(
        annotator=annotator,
        sample_id=sample_id,
        version=version(sample_id),
        content={
            "fields": {"materials": [steel.pk]},
            "regions": [*kept, new_box],
            "captions": {**CAPTIONS, "en": CAPTIONS["en"] + " A round pit lies near the upper right."},
        },
    )

    page = open_as(reviewer)
    start(page, "review")
    assert shown_sample(page) == sample_id
    wait_for_comparison(page, "sent-back")
    page.locator('.field-row[data-field="materials"] .field-diff ins').wait_for()
    assert page.locator('.field-row[data-field="materials"] .field-diff ins').inner_text() == steel.label_en
    assert page.locator("#compare-summary .region-diff li.added").count() == 1
    assert page.locator("#compare-summary .region-diff li.same").count() == 1
    diff = page.locator('.caption-column[data-language="en"] .caption-diff ins')
    diff.first.wait_for()
    assert "round pit" in " ".join(diff.all_inner_texts())
    assert page.evaluate("() => window.imddWork.viewer.comparison.visible")
    shot(page, "work-review-round-two")
    # D hides the compared masks; the comment names the region list's number, not a database id.
    page.locator("#canvas").focus()
    page.keyboard.press("d")
    assert not page.evaluate("() => window.imddWork.viewer.comparison.visible")
    assert literal_nulls(page) == []

    # The history panel lists the revisions and the timeline, newest first, with the skip-free flow.
    page.locator("#history-panel .panel-toggle").click()
    page.locator("#history .timeline .moment").first.wait_for()
    moments = page.locator("#history .timeline .moment")
    assert "claimed" in moments.first.inner_text()
    assert any("requested changes" in text for text in moments.all_inner_texts())
    assert not page.script_errors, page.script_errors


def test_the_consensus_tally_shows_to_experts_and_data_managers(open_as, make_user, make_samples, settings):
    settings.ANNOTATION_CONSENSUS_QUORUM = 2
    (annotation,) = make_samples(1)
    sample_id = annotation.pk
    annotator, reviewer = make_user(Role.ANNOTATOR), make_user(Role.REVIEWER)
    first_expert, second_expert = make_user(Role.EXPERT), make_user(Role.EXPERT)
    services.annotation_claim(user=annotator, sample_id=sample_id)
    services.annotation_submit(
        annotator=annotator, sample_id=sample_id, version=version(sample_id), content={"captions": CAPTIONS}
    )
    services.annotation_claim(user=reviewer, sample_id=sample_id)
    services.review_approve(reviewer=reviewer, sample_id=sample_id, version=version(sample_id))
    services.annotation_claim(user=first_expert, sample_id=sample_id)
    services.consensus_vote(expert=first_expert, sample_id=sample_id, version=version(sample_id), decision="approve")

    # The expert who voted sees it waiting for the others, with the tally.
    page = open_as(first_expert)
    waiting = page.locator(f'.awaiting-list li[data-sample="{sample_id}"]')
    assert "1 of 2 approvals" in waiting.inner_text()
    assert "Nothing" not in page.locator("main").inner_text()

    # The next expert sees the tally on the work page.
    page = open_as(second_expert)
    start(page, "consensus")
    assert page.locator("#consensus-tally").inner_text() == "1 of 2 approvals"
    shot(page, "work-consensus-tally")

    # The data manager sees it in the sample table.
    manager = make_user(Role.DATA_MANAGER)
    page = open_as(manager, "/samples/?status=in_consensus")
    row = page.locator(f'tr[data-sample="{sample_id}"]')
    assert "1 of 2 approvals" in row.locator(".tally").inner_text()
    assert literal_nulls(page) == []
    assert not page.script_errors, page.script_errors
