"""The three stages through the REST API, by different people, from an import to VERIFIED."""

import json

import numpy as np
import pytest
from PIL import Image

from annotation.models import Annotation, AnnotationState, AuditEvent
from catalog.models import Sample
from tests.catalog.helpers import run_import

from .conftest import complete_content, enqueue
from .helpers import act, claim_next, detail, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_sample(tmp_path, vocab) -> Sample:
    """One 64x48 image imported through the folder importer: a scratch mask (class 1), a
    'contamination' box (an alias of stain) and a 'mystery_mark' box the vocabulary lacks."""
    image = np.full((48, 64, 3), 120, dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "a.png")
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[5:9, 10:30] = 1
    Image.fromarray(mask).save(tmp_path / "a_mask.png")
    row = {
        "image": "a.png",
        "mask": "a_mask.png",
        "mask_classes": {"1": "scratch"},
        "boxes": [{"bbox": [40, 20, 8, 6], "label": "contamination"}, {"bbox": [2, 30, 6, 6], "label": "mystery_mark"}],
        "product": "bottle",
    }
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row))
    job = run_import("folder", tmp_path, source="Line 3")
    assert job.imported == 1, job.rows.values_list("reason", flat=True)
    return Sample.objects.get()


def test_full_path_from_import_to_verified_through_three_stages(imported_sample, vocab, people, client_for):
    manager = client_for(user=people.manager)
    annotator = client_for(user=people.annotator)
    reviewer = client_for(user=people.reviewer)
    experts = [client_for(user=people.expert1), client_for(user=people.expert2)]
    sample_id = imported_sample.pk

    # a data manager puts the source's samples in the queue; each gets its first draft
    enqueued = post(manager, "/enqueue/", {"source": imported_sample.source_id})
    assert enqueued.json() == {"created": 1, "more": False}

    # stage 1: the annotator claims it and sees the imported regions, raw labels mapped to terms
    claimed = claim_next(annotator, "annotation")
    assert claimed.status_code == 200 and claimed.json()["state"] == "in_annotation"
    draft = claimed.json()["content"]
    types = [(r["defect_type"] and r["defect_type"]["slug"], r["raw_label"]) for r in draft["regions"]]
    assert types == [("def-scratch", "scratch"), ("def-stain", "contamination"), (None, "mystery_mark")]
    assert [t["slug"] for t in draft["fields"]["product"]] == ["prod-bottle"]
    scratch_id, stain_id, _unknown = (r["id"] for r in draft["regions"])

    # submitting with the unmapped region untyped is refused, naming the region
    refused = act(annotator, sample_id, "submit", content=complete_content(vocab))
    assert refused.status_code == 400
    assert "regions[2].defect_type" in refused.json()["errors"]

    content = complete_content(
        vocab,
        regions=[
            {"id": scratch_id},
            {"id": stain_id},
            {"key": "dent", "defect_type": vocab.crack.pk, "bbox": [2, 30, 6, 6]},
        ],
        qa_pairs=[
            {"question": "Where is the scratch?", "answer": "Near the top.", "language": "en", "regions": [scratch_id]},
            {"question": "What is at the bottom left?", "answer": "A crack.", "language": "en", "regions": ["dent"]},
        ],
    )
    submitted = act(annotator, sample_id, "submit", content=content)
    assert submitted.status_code == 200, submitted.json()
    assert submitted.json()["state"] == "submitted" and submitted.json()["queue"] == "review"

    # stage 2: a different person reviews and approves
    assert claim_next(reviewer, "review").json()["sample"] == sample_id
    approved = act(reviewer, sample_id, "approve")
    assert approved.json()["state"] == "reviewed" and approved.json()["consensus_reason"] == "all"

    # stage 3: two experts of three approve (quorum 2)
    assert claim_next(experts[0], "consensus").json()["state"] == "in_consensus"
    assert act(experts[0], sample_id, "vote", decision="approve").json()["state"] == "in_consensus"
    assert claim_next(experts[1], "consensus").json()["sample"] == sample_id
    verified = act(experts[1], sample_id, "vote", decision="approve").json()

    assert verified["state"] == "verified" and verified["queue"] == ""
    assert verified["revisions"]["final"] == verified["revisions"]["reviewed"] == verified["revisions"]["submitted"]
    final = verified["content"]
    assert [r["defect_type"]["slug"] for r in final["regions"]] == ["def-scratch", "def-stain", "def-crack"]
    assert final["qa_pairs"][1]["regions"] == [final["regions"][2]["id"]]
    assert set(final["captions"]) == {"en", "zh", "ja"}
    annotation = Annotation.objects.get(pk=sample_id)
    people_involved = {annotation.annotator_id, annotation.reviewer_id, people.expert1.pk, people.expert2.pk}
    assert len(people_involved) == 4
    actions = list(
        AuditEvent.objects.filter(annotation_id=sample_id, field="state").order_by("id").values_list("action", "after")
    )
    assert actions == [
        ("create", "unassigned"),
        ("claim", "in_annotation"),
        ("submit", "submitted"),
        ("claim", "in_review"),
        ("approve", "reviewed"),
        ("claim", "in_consensus"),
        ("claim", "in_consensus"),
        ("verify", "verified"),
    ]


def test_changes_requested_go_back_to_the_same_annotator_and_return_to_review(annotation, vocab, people, client_for):
    annotator, other = client_for(user=people.annotator), client_for(user=people.annotator2)
    reviewer = client_for(user=people.reviewer)
    sample_id = annotation.pk
    claim_next(annotator, "annotation")
    act(annotator, sample_id, "submit", content=complete_content(vocab))
    claim_next(reviewer, "review")
    region_id = detail(reviewer, sample_id)["content"]["regions"][0]["id"]

    sent_back = act(
        reviewer,
        sample_id,
        "request-changes",
        comments=[
            {"field": "fields.materials", "text": "This is steel, not glass."},
            {"region": region_id, "text": "The outline misses the scratch's tail."},
        ],
    )

    assert sent_back.json()["state"] == "changes_requested"
    assert sent_back.json()["assignee"] == people.annotator.pk
    assert [c["field"] or c["region"] for c in sent_back.json()["review_comments"]] == ["fields.materials", region_id]
    # another annotator cannot take it, the original one gets it first
    assert claim_next(other, "annotation").status_code == 204
    assert act(other, sample_id, "claim").status_code == 403
    assert claim_next(annotator, "annotation").json()["sample"] == sample_id
    resubmitted = act(annotator, sample_id, "submit", content={"fields": {"materials": [vocab.steel.pk]}})
    assert resubmitted.json()["state"] == "submitted" and resubmitted.json()["review_round"] == 1
    assert claim_next(reviewer, "review").json()["sample"] == sample_id
    assert act(reviewer, sample_id, "approve").json()["state"] == "reviewed"


def test_a_review_comment_with_an_unknown_key_is_refused_naming_it(annotation, vocab, people, client_for):
    annotator, reviewer = client_for(user=people.annotator), client_for(user=people.reviewer)
    claim_next(annotator, "annotation")
    act(annotator, annotation.pk, "submit", content=complete_content(vocab))
    claim_next(reviewer, "review")

    response = act(
        reviewer, annotation.pk, "request-changes", comments=[{"text": "Steel.", "feild": "fields.materials"}]
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"comments[0].feild": ["unknown field; expected one of: text, field, region"]}
    assert Annotation.objects.get(pk=annotation.pk).state == AnnotationState.IN_REVIEW


def test_consensus_with_disagreement_edit_makes_earlier_approvals_stale(
    annotation, vocab, people, client_for, settings
):
    settings.ANNOTATION_CONSENSUS_MODE = "sampled"
    settings.ANNOTATION_AUDIT_FRACTION = 0.0
    annotator, reviewer = client_for(user=people.annotator), client_for(user=people.reviewer)
    e1, e2, e3 = (client_for(user=e) for e in (people.expert1, people.expert2, people.expert3))
    sample_id = annotation.pk
    claim_next(annotator, "annotation")
    act(annotator, sample_id, "submit", content=complete_content(vocab))
    claim_next(reviewer, "review")

    # the reviewer changes the defect type: a disagreement, so it goes to consensus although
    # only an audit fraction of 0 would otherwise
    reviewed = act(reviewer, sample_id, "approve", content={"fields": {"defect_types": [vocab.crack.pk]}}).json()
    assert reviewed["has_disagreement"] and reviewed["consensus_reason"] == "disagreement"

    claim_next(e1, "consensus")
    act(e1, sample_id, "vote", decision="approve")
    claim_next(e2, "consensus")
    edited = act(
        e2, sample_id, "vote", decision="edit", content={"fields": {"defect_types": [vocab.scratch.pk]}}
    ).json()
    # e1 approved the crack version: stale after e2's edit, so no quorum yet
    assert edited["state"] == "in_consensus"
    claim_next(e3, "consensus")
    rejected_once = act(e3, sample_id, "vote", decision="reject").json()
    assert rejected_once["state"] == "in_consensus"  # e2 accepts, e3 rejects; e1 must look again
    assert claim_next(e1, "consensus").json()["sample"] == sample_id
    final = act(e1, sample_id, "vote", decision="approve").json()

    assert final["state"] == "verified"
    assert [t["slug"] for t in final["content"]["fields"]["defect_types"]] == ["def-scratch"]
    assert final["revisions"]["final"] == final["revisions"]["current"] != final["revisions"]["reviewed"]
    assert [v["decision"] for v in final["votes"]] == ["approve", "edit", "reject", "approve"]


def test_the_quorum_can_reject(annotation, vocab, people, client_for):
    annotator, reviewer = client_for(user=people.annotator), client_for(user=people.reviewer)
    sample_id = annotation.pk
    claim_next(annotator, "annotation")
    act(annotator, sample_id, "submit", content=complete_content(vocab))
    claim_next(reviewer, "review")
    act(reviewer, sample_id, "approve")
    for expert in (people.expert1, people.expert2):
        api = client_for(user=expert)
        claim_next(api, "consensus")
        last = act(api, sample_id, "vote", decision="reject", comment="not a defect, a reflection")

    assert last.json()["state"] == "rejected" and last.json()["revisions"]["final"] is None


def test_sampled_mode_verifies_agreeing_reviews_without_consensus(annotation, vocab, people, client_for, settings):
    settings.ANNOTATION_CONSENSUS_MODE = "sampled"
    settings.ANNOTATION_AUDIT_FRACTION = 0.0
    annotator, reviewer = client_for(user=people.annotator), client_for(user=people.reviewer)
    claim_next(annotator, "annotation")
    act(annotator, annotation.pk, "submit", content=complete_content(vocab))
    claim_next(reviewer, "review")

    approved = act(reviewer, annotation.pk, "approve", content={"captions": {"en": "A fine scratch near the edge."}})

    assert approved.json()["state"] == "verified"  # caption wording alone is no disagreement
    assert approved.json()["consensus_reason"] == ""


def test_sampled_mode_sends_the_audit_fraction_to_consensus(annotation, vocab, people, client_for, settings):
    settings.ANNOTATION_CONSENSUS_MODE = "sampled"
    settings.ANNOTATION_AUDIT_FRACTION = 1.0
    annotator, reviewer = client_for(user=people.annotator), client_for(user=people.reviewer)
    claim_next(annotator, "annotation")
    act(annotator, annotation.pk, "submit", content=complete_content(vocab))
    claim_next(reviewer, "review")

    approved = act(reviewer, annotation.pk, "approve")

    assert approved.json()["state"] == "reviewed" and approved.json()["consensus_reason"] == "audit"


def test_blind_mode_hides_earlier_stages_people(annotation, vocab, people, client_for, settings):
    settings.ANNOTATION_BLIND_MODE = True
    annotator, reviewer = client_for(user=people.annotator), client_for(user=people.reviewer)
    claim_next(annotator, "annotation")
    act(annotator, annotation.pk, "submit", content=complete_content(vocab))

    seen_by_reviewer = claim_next(reviewer, "review").json()
    seen_by_manager = detail(client_for(user=people.manager), annotation.pk)

    assert seen_by_reviewer["annotator"] is None and seen_by_reviewer["content"]["author"] is None
    assert seen_by_reviewer["content"]["captions"]["en"]["author"] is None
    assert seen_by_reviewer["reviewer"] == people.reviewer.pk  # yourself you may see
    assert seen_by_manager["annotator"] == people.annotator.pk
    assert reviewer.get(f"/api/annotation/annotations/?annotator={people.annotator.pk}").status_code == 400


def test_generated_draft_captions_are_the_starting_point_and_keep_their_generator(
    annotation, vocab, people, client_for
):
    from annotation.services import annotation_attach_draft_captions

    annotation_attach_draft_captions(
        sample_id=annotation.pk, captions={"en": "A scratch on a bottle.", "zh": "瓶子上有划痕。"}, generator="llm:test"
    )
    annotator = client_for(user=people.annotator)
    draft = claim_next(annotator, "annotation").json()["content"]
    assert draft["captions"]["en"] == {"text": "A scratch on a bottle.", "author": None, "generator": "llm:test"}

    content = complete_content(vocab)
    content["captions"] = {"en": "A scratch on a bottle.", "ja": "瓶に傷。"}  # zh kept from the draft
    submitted = act(annotator, annotation.pk, "submit", content=content).json()["content"]["captions"]

    assert submitted["en"]["generator"] == "llm:test" and submitted["zh"]["generator"] == "llm:test"
    assert submitted["ja"] == {"text": "瓶に傷。", "author": people.annotator.pk, "generator": ""}


def test_enqueue_twice_creates_nothing_new(sample, client_for, people):
    manager = client_for(user=people.manager)
    assert post(manager, "/enqueue/", {"sample_ids": [sample.pk]}).json()["created"] == 1
    assert post(manager, "/enqueue/", {"sample_ids": [sample.pk]}).json() == {"created": 0, "more": False}
    assert Annotation.objects.get().state == AnnotationState.UNASSIGNED


def test_enqueue_and_draft_in_bulk_keep_each_samples_regions(vocab):
    from .factories import make_sample

    samples = [make_sample(regions=(("scratch", [1, 1, 3, 3]), ("stain", [5, 5, 2, 2]))) for _ in range(7)]
    annotations = enqueue(*samples, batch_size=3, priority=5)

    for sample, annotation in zip(samples, annotations, strict=True):
        regions = annotation.current_revision.regions.order_by("id")
        assert [r.source_region.sample_id for r in regions] == [sample.pk, sample.pk]
        assert [r.defect_type_id for r in regions] == [vocab.scratch.pk, vocab.stain.pk]
        assert annotation.priority == 5 and annotation.current_revision.stage == "draft"


def test_every_revision_is_kept_and_readable(annotation, vocab, people, client_for):
    annotator = client_for(user=people.annotator)
    claim_next(annotator, "annotation")
    act(annotator, annotation.pk, "save", content={"notes": "first pass"})
    act(annotator, annotation.pk, "submit", content=complete_content(vocab))

    revisions = annotator.get(f"/api/annotation/annotations/{annotation.pk}/revisions/").json()
    draft = annotator.get(f"/api/annotation/annotations/{annotation.pk}/revisions/1/").json()

    assert [(r["number"], r["stage"], r["author"]) for r in revisions] == [
        (1, "draft", None),
        (2, "annotation", people.annotator.pk),
        (3, "annotation", people.annotator.pk),
    ]
    assert draft["notes"] == "" and draft["captions"] == {}
    assert annotator.get(f"/api/annotation/annotations/{annotation.pk}/revisions/9/").status_code == 404


def test_catalog_edits_reach_the_queue_filters_when_refreshed(annotation, sample):
    from annotation.services import annotations_refresh_sample_fields

    sample.domain = "glass containers"
    sample.save()

    assert annotations_refresh_sample_fields(sample_ids=[sample.pk]) == 1
    assert Annotation.objects.get(pk=annotation.pk).domain == "glass containers"
