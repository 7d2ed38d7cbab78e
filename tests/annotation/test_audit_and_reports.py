"""The audit trail (API and admin, per sample and per person) and the agreement reports."""

import pytest
from django.test import Client

from accounts.roles import Role
from annotation import services
from annotation.agreement_reports import agreement_report_compute
from annotation.models import AgreementReport, Annotation, AuditEvent
from annotation.tasks import (
    agreement_report_batch_task,
    agreement_report_finish_task,
    agreement_report_start_task,
    release_expired_leases,
)

from .conftest import complete_content, drive, enqueue
from .factories import box_mask, make_sample
from .helpers import act, claim_next, post

pytestmark = pytest.mark.django_db


def test_the_audit_trail_per_sample_and_per_person(annotation, people, vocab, client_for):
    annotation = drive(annotation, people, vocab, "submitted")
    manager = client_for(user=people.manager)

    per_sample = manager.get(f"/api/annotation/annotations/{annotation.pk}/audit/").json()["results"]
    per_person = manager.get(f"/api/annotation/audit-events/?actor={people.annotator.pk}").json()["results"]

    assert (per_sample[0]["action"], per_sample[0]["before"], per_sample[0]["after"]) == (
        "submit",
        "in_annotation",
        "submitted",
    )
    edits = {e["field"]: e["after"] for e in per_sample if e["action"] == "edit"}
    assert edits == {
        "fields.materials": ["mat-glass"],
        "captions.en": "A thin scratch near the bottle edge.",
        "captions.zh": "瓶子边缘附近有细划痕。",
        "captions.ja": "瓶の縁に細い傷。",
    }
    assert per_sample[-1]["action"] == "create" and per_sample[-1]["actor_name"] == "system"
    assert {e["actor"] for e in per_person} == {people.annotator.pk}
    assert {e["action"] for e in per_person} >= {"claim", "edit", "submit"}
    assert (
        client_for(user=people.annotator).get(f"/api/annotation/annotations/{annotation.pk}/audit/").status_code == 403
    )


def test_audit_events_are_append_only(annotation):
    event = AuditEvent.objects.filter(annotation=annotation).first()
    event.action = "tampered"
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_admin_pages_for_data_managers(annotation, people, vocab):
    drive(annotation, people, vocab, "verified")
    browser = Client()
    browser.force_login(people.manager)

    pages = [
        "/admin/annotation/annotation/",
        f"/admin/annotation/annotation/{annotation.pk}/change/",
        f"/admin/annotation/auditevent/?annotation__sample__id={annotation.pk}",
        f"/admin/annotation/auditevent/?actor__id__exact={people.annotator.pk}",
        f"/admin/annotation/annotationrevision/?annotation__sample__id={annotation.pk}",
        "/admin/annotation/agreementreport/add/",
    ]
    for page in pages:
        assert browser.get(page).status_code == 200, page
    assert browser.get("/admin/annotation/auditevent/add/").status_code == 403
    event = AuditEvent.objects.filter(annotation=annotation).first()
    assert browser.post(f"/admin/annotation/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403

    browser.post(
        "/admin/annotation/annotation/",
        {"action": "mark_gold", "_selected_action": [annotation.pk]},
    )
    assert Annotation.objects.get(pk=annotation.pk).is_gold
    assert AuditEvent.objects.filter(annotation=annotation, field="is_gold", actor=people.manager).exists()


def test_admin_requests_and_shows_agreement_reports(annotation, people, vocab, django_capture_on_commit_callbacks):
    drive(annotation, people, vocab, "verified")
    browser = Client()
    browser.force_login(people.manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        browser.post("/admin/annotation/agreementreport/add/", {"scope": "dataset"})
    report = AgreementReport.objects.get()
    assert len(callbacks) == 1 and report.created_by == people.manager
    services.agreement_report_run(report=report)

    page = browser.get(f"/admin/annotation/agreementreport/{report.pk}/change/")
    assert page.status_code == 200 and b"Krippendorff" in page.content


@pytest.fixture
def two_reviewed_samples(vocab, people):
    """A: approved as submitted. B: the reviewer changes the product to gear, redraws the
    scratch twice as tall (IoU 30/60 = 0.5) and changes one character of the English caption.
    Both verified by expert1 and expert2."""
    samples = [make_sample(regions=(("scratch", box_mask(40, 30, 5, 5, 10, 3)),), product="bottle") for _ in "AB"]
    a, b = enqueue(*samples)
    for annotation in (a, b):
        services.annotation_claim(user=people.annotator, sample_id=annotation.pk)
        services.annotation_submit(
            annotator=people.annotator, sample_id=annotation.pk, version=2, content=complete_content(vocab)
        )
        services.annotation_claim(user=people.reviewer, sample_id=annotation.pk)
    services.review_approve(reviewer=people.reviewer, sample_id=a.pk, version=4)
    redrawn = {"defect_type": vocab.scratch.pk, "bbox": [5, 5, 10, 6]}
    services.review_approve(
        reviewer=people.reviewer,
        sample_id=b.pk,
        version=4,
        content={
            "fields": {"product": vocab.gear.pk},
            "regions": [redrawn],
            "captions": {"en": "A thin scratch near the bottle edge!"},
        },
    )
    for annotation in (a, b):
        for expert in (people.expert1, people.expert2):
            services.annotation_claim(user=expert, sample_id=annotation.pk)
            version = Annotation.objects.get(pk=annotation.pk).version
            services.consensus_vote(expert=expert, sample_id=annotation.pk, version=version, decision="approve")
    return a, b


@pytest.mark.parametrize("batch_size", [1, 500])
def test_agreement_report_against_hand_computed_values(two_reviewed_samples, people, settings, batch_size):
    settings.AGREEMENT_REPORT_BATCH_SIZE = batch_size
    report = agreement_report_compute(scope="dataset")

    assert report["items"] == {
        "reviewed": 2,
        "verified": 2,
        "rejected": 0,
        "in_consensus": 0,
        "changes_requested": 0,
        "disagreements": 1,
    }
    product = report["fields"]["product"]
    # stage 1 [bottle, bottle] vs stage 2 [bottle, gear]: p_o = 0.5, p_e = (2*1)/4 = 0.5, kappa = 0
    assert product["stage1_vs_stage2"] == {"n": 2, "observed": 0.5, "cohen_kappa": 0.0}
    # units A [b b b b], B [b g g g] (stage 1, stage 2, two approving experts):
    # o_bb = 4, o_bg = o_gb = 1, o_gg = 2; n = 8, n_b = 5, n_g = 3; alpha = 1 - 7 * 2 / 30
    assert product["all_raters"] == {"units": 2, "krippendorff_alpha": round(1 - 14 / 30, 4)}
    assert report["fields"]["materials"]["stage1_vs_stage2"] == {"n": 2, "observed": 1.0, "cohen_kappa": None}
    # A keeps its region (IoU 1), B's 10x6 box over the 10x3 mask: 30 / 60
    assert report["masks"]["stage1_vs_stage2"] == {"n": 2, "mean_iou": 0.75}
    assert report["masks"]["stage2_vs_final"] == {"n": 2, "mean_iou": 1.0}
    # one character of a 36-character caption in B, none in A
    assert report["captions"]["en"]["stage1_vs_final"] == {"n": 2, "mean_normalized_edit_distance": round(1 / 72, 4)}
    assert report["captions"]["en"]["draft_vs_stage1"]["n"] == 0  # no generated draft
    [annotator] = report["annotators"]
    assert (annotator["user"], annotator["items"]) == (people.annotator.pk, 2)
    assert annotator["fields_vs_final"]["product"]["observed"] == 0.5
    assert annotator["mean_iou_vs_final"] == 0.75


def test_per_annotator_report_covers_only_their_work(two_reviewed_samples, people, vocab):
    other = enqueue(make_sample(product="bottle"))[0]
    services.annotation_claim(user=people.annotator2, sample_id=other.pk)
    services.annotation_submit(
        annotator=people.annotator2, sample_id=other.pk, version=2, content=complete_content(vocab)
    )
    services.annotation_claim(user=people.reviewer, sample_id=other.pk)
    services.review_approve(reviewer=people.reviewer, sample_id=other.pk, version=4)

    mine = agreement_report_compute(scope="annotator", user_id=people.annotator2.pk)

    assert mine["items"]["reviewed"] == 1 and [a["user"] for a in mine["annotators"]] == [people.annotator2.pk]


def test_reports_through_the_api(two_reviewed_samples, people, client_for, django_capture_on_commit_callbacks):
    manager = client_for(user=people.manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        requested = post(manager, "/agreement-reports/", {"scope": "dataset"})
    assert requested.status_code == 202 and requested.json()["status"] == "pending" and len(callbacks) == 1
    services.agreement_report_run(report=AgreementReport.objects.get(pk=requested.json()["id"]))

    done = manager.get(f"/api/annotation/agreement-reports/{requested.json()['id']}/").json()

    assert done["status"] == "succeeded" and done["result"]["items"]["verified"] == 2
    assert client_for(Role.ML_ENGINEER).get("/api/annotation/agreement-reports/").status_code == 200
    assert post(manager, "/agreement-reports/", {"scope": "annotator"}).json()["errors"] == {
        "user": ["the annotator scope needs a user"]
    }


def test_task_names_are_stable():
    assert agreement_report_batch_task.name == "annotation.agreement_report_batch"
    assert agreement_report_finish_task.name == "annotation.agreement_report_finish"
    assert agreement_report_start_task.name == "annotation.agreement_report_compute"  # queued before batches
    assert release_expired_leases.name == "annotation.leases_release_expired"


def test_the_schema_documents_the_workflow(client_for):
    schema = client_for(Role.ANNOTATOR).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = schema.json()["paths"]
    assert "/api/annotation/queue/{stage}/claim-next/" in paths
    assert "/api/annotation/annotations/{sample}/request-changes/" in paths
    assert "/api/annotation/annotations/{sample}/vote/" in paths


def test_annotators_see_the_api_but_not_reports(client_for, annotation):
    api = client_for(Role.ANNOTATOR)
    assert api.get("/api/annotation/agreement-reports/").status_code == 403
    assert claim_next(api, "annotation").status_code == 200
    assert act(api, annotation.pk, "renew-lease").status_code == 200
