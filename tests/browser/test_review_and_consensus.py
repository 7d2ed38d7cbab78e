"""Stages 2 and 3 in a real browser: a reviewer requests changes with a pinned comment, the
annotator fixes the sample, a reviewer approves it; then two experts reach consensus."""

import re

import pytest

from accounts.roles import Role
from annotation import services
from annotation.models import Annotation, AnnotationState, ReviewComment
from vocabulary.models import Term

from .conftest import pick_term, screenshot, wait_for_comparison, wait_for_home, wait_for_work_page

pytestmark = pytest.mark.slow

CAPTIONS = {
    "en": "A steel plate with a dark linear scratch near the lower left edge of the surface.",
    "zh": "中厚板表面左下边缘附近有一条深色线状划痕。",
    "ja": "厚鋼板の表面の左下の縁付近に暗い線状の傷がある。",
}


def submit_as(annotator, annotation):
    services.annotation_claim(user=annotator, sample_id=annotation.pk)
    version = Annotation.objects.get(pk=annotation.pk).version
    services.annotation_submit(
        annotator=annotator, sample_id=annotation.pk, version=version, content={"captions": CAPTIONS}
    )


def start(page, stage: str):
    page.click(f"form[action='/next/{stage}/'] button")
    page.wait_for_url(re.compile(r"/work/\d+/$"))
    wait_for_work_page(page)


def test_a_reviewer_requests_changes_the_annotator_fixes_a_reviewer_approves(open_as, make_user, make_samples):
    (annotation,) = make_samples(1)
    annotator, reviewer = make_user(Role.ANNOTATOR), make_user(Role.REVIEWER)
    submit_as(annotator, annotation)

    # The reviewer pins a comment to the materials field and sends the sample back.
    page = open_as(reviewer)
    start(page, "review")
    page.locator('.field-row[data-field="materials"] button.pin').click()
    page.locator("#changes-dialog[open] textarea").fill("Name the material: this is stainless steel.")
    screenshot(page, "work-review-request-changes")
    page.locator("#changes-send").click()
    wait_for_home(page)  # nothing else is in the review queue
    assert Annotation.objects.get(pk=annotation.pk).state == AnnotationState.CHANGES_REQUESTED
    (comment,) = ReviewComment.objects.filter(annotation_id=annotation.pk)
    assert comment.field == "fields.materials"

    # The annotator gets it back (reserved for them), sees the comment where it points, fixes it.
    page = open_as(annotator)
    start(page, "annotation")
    pinned = page.locator('.field-row[data-field="materials"] .pinned-comment')
    assert "stainless steel" in pinned.inner_text()
    pick_term(page, '.field-row[data-field="materials"]', "stainless", "mat-stainless-steel")
    page.locator('.field-row[data-field="materials"] .chip[data-slug="mat-stainless-steel"]').wait_for()
    screenshot(page, "work-annotation-changes-requested")
    page.keyboard.press("Control+Enter")
    wait_for_home(page)
    assert Annotation.objects.get(pk=annotation.pk).state == AnnotationState.SUBMITTED

    # A reviewer approves with the keyboard; the diff against the previous stage is on the page.
    page = open_as(reviewer)
    start(page, "review")
    # The comparison opens on what was sent back: the annotator's new material is marked as added.
    wait_for_comparison(page, "sent-back")
    page.locator('.field-row[data-field="materials"] .field-diff ins').wait_for()
    screenshot(page, "work-review")
    page.locator("#canvas").focus()
    page.keyboard.press("Control+Enter")
    wait_for_home(page)
    done = Annotation.objects.get(pk=annotation.pk)
    assert done.state == AnnotationState.REVIEWED and done.reviewer == reviewer
    materials = done.current_revision.terms.filter(field="materials").values_list("term__slug", flat=True)
    assert list(materials) == ["mat-stainless-steel"]
    assert not page.script_errors, page.script_errors


def test_two_experts_reach_consensus(open_as, make_user, make_samples):
    (annotation,) = make_samples(1)
    annotator, reviewer = make_user(Role.ANNOTATOR), make_user(Role.REVIEWER)
    experts = [make_user(Role.EXPERT), make_user(Role.EXPERT)]
    submit_as(annotator, annotation)
    services.annotation_claim(user=reviewer, sample_id=annotation.pk)
    version = Annotation.objects.get(pk=annotation.pk).version
    services.review_approve(reviewer=reviewer, sample_id=annotation.pk, version=version)

    # The first expert edits a field and votes "edit" (the approve button says so).
    page = open_as(experts[0])
    start(page, "consensus")
    pick_term(page, '.field-row[data-field="locations"]', "lower", "loc-lower-left")
    page.locator('.field-row[data-field="locations"] .chip[data-slug="loc-lower-left"]').wait_for()
    approve = page.locator('#actions button[data-action="approve"]')
    assert "Edit and approve" in approve.inner_text()
    page.fill(".vote-comment", "Added the location.")
    screenshot(page, "work-consensus")
    approve.click()
    wait_for_home(page)
    assert Annotation.objects.get(pk=annotation.pk).state == AnnotationState.IN_CONSENSUS

    # The second expert approves the edited revision with the keyboard: quorum of two, verified.
    page = open_as(experts[1])
    start(page, "consensus")
    assert "Added the location." in page.locator("#comments").inner_text()
    page.locator("#canvas").focus()
    page.keyboard.press("Control+Enter")
    wait_for_home(page)
    verified = Annotation.objects.get(pk=annotation.pk)
    assert verified.state == AnnotationState.VERIFIED
    assert [v.decision for v in verified.votes.order_by("id")] == ["edit", "approve"]
    location = Term.objects.get(slug="loc-lower-left")
    assert verified.final_revision.terms.filter(field="locations", term=location).exists()
    assert not page.script_errors, page.script_errors
