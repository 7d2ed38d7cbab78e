"""Every transition refused from a state it does not start from, and every role rule."""

import pytest

from accounts.roles import Role
from annotation import services
from annotation.error_codes import AnnotationErrorCode, WorkflowError
from annotation.models import Annotation, AuditEvent

from .conftest import complete_content, drive, enqueue
from .factories import make_sample
from .helpers import act, claim_next, post

pytestmark = pytest.mark.django_db

STATES = [
    "unassigned",
    "in_annotation",
    "submitted",
    "in_review",
    "changes_requested",
    "reviewed",
    "in_consensus",
    "verified",
    "rejected",
]
ALLOWED = {
    "save": {"in_annotation", "in_review"},
    "submit": {"in_annotation"},
    "approve": {"in_review"},
    "request-changes": {"in_review"},
    "vote": {"in_consensus"},
    "release": {"in_annotation", "in_review", "in_consensus"},
    "claim": {"unassigned", "changes_requested", "submitted", "reviewed", "in_consensus"},
}
PAYLOAD = {
    "save": {"content": {"notes": "x"}},
    "submit": {},
    "approve": {},
    "request-changes": {"comments": [{"text": "x"}]},
    "vote": {"decision": "approve"},
    "release": {},
    "claim": {},
}
FORBIDDEN = [(state, verb) for state in STATES for verb, allowed in ALLOWED.items() if state not in allowed]


@pytest.mark.parametrize(("state", "verb"), FORBIDDEN)
def test_a_transition_not_allowed_from_the_current_state_is_refused(
    state, verb, annotation, people, vocab, make_user, client_for
):
    annotation = drive(annotation, people, vocab, state)
    assert annotation.state == state
    superuser = client_for(user=make_user(is_superuser=True))  # every role: only the state can refuse
    events_before = AuditEvent.objects.count()

    response = act(superuser, annotation.pk, verb, **PAYLOAD[verb])

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "transition_not_allowed"
    after = Annotation.objects.get(pk=annotation.pk)
    assert (after.state, after.version) == (state, annotation.version)
    assert AuditEvent.objects.count() == events_before


def test_drive_reaches_every_state(annotation, people, vocab):
    # guards the table above: each state really is reachable the way the tests reach it
    for state in STATES:
        sample = make_sample(regions=(("scratch", [1, 1, 4, 4]),), product="bottle")
        assert drive(enqueue(sample)[0], people, vocab, state).state == state


@pytest.mark.parametrize(
    ("role", "stage"),
    [
        (Role.ANNOTATOR, "review"),
        (Role.ANNOTATOR, "consensus"),
        (Role.REVIEWER, "annotation"),
        (Role.REVIEWER, "consensus"),
        (Role.EXPERT, "annotation"),
        (Role.EXPERT, "review"),
        (Role.DATA_MANAGER, "annotation"),
    ],
)
def test_each_queue_needs_its_role(role, stage, client_for, annotation):
    response = claim_next(client_for(role), stage)
    assert response.status_code == 403 and response.json()["code"] == "role_required"


def test_people_without_a_workflow_role_are_refused_everywhere(client_for, annotation):
    nobody = client_for(None)
    assert claim_next(nobody, "annotation").status_code == 403
    assert nobody.get("/api/annotation/annotations/").status_code == 403


def test_an_annotator_cannot_approve(annotation, people, vocab, client_for, make_user):
    annotation = drive(annotation, people, vocab, "in_review")
    response = act(client_for(user=people.annotator), annotation.pk, "approve")
    assert response.status_code == 403 and response.json()["code"] == "role_required"


def test_only_the_lease_holder_acts(annotation, people, vocab, client_for, make_user):
    annotation = drive(annotation, people, vocab, "in_review")
    other_reviewer = client_for(Role.REVIEWER)

    response = act(other_reviewer, annotation.pk, "approve")

    assert response.status_code == 403 and response.json()["code"] == "not_lease_holder"


def test_nobody_reviews_their_own_work(annotation, vocab, make_user, client_for):
    both = make_user(Role.ANNOTATOR)
    from accounts.services import user_assign_role

    user_assign_role(user=both, role=Role.REVIEWER)
    api = client_for(user=both)
    claim_next(api, "annotation")
    act(api, annotation.pk, "submit", content=complete_content(vocab))

    assert claim_next(api, "review").status_code == 204  # the queue skips it
    refused = act(api, annotation.pk, "claim")
    assert refused.status_code == 403 and refused.json()["code"] == "own_work"


def test_someone_who_only_started_stage_one_may_not_review_it(annotation, vocab, people, make_user, client_for):
    from accounts.services import user_assign_role

    quitter = make_user(Role.ANNOTATOR)
    user_assign_role(user=quitter, role=Role.REVIEWER)
    services.annotation_claim(user=quitter, sample_id=annotation.pk)
    services.annotation_release(user=quitter, sample_id=annotation.pk, version=annotation.version + 1)
    drive(annotation, people, vocab, "submitted")

    with pytest.raises(WorkflowError) as refused:
        services.annotation_claim(user=quitter, sample_id=annotation.pk)
    assert refused.value.code == AnnotationErrorCode.OWN_WORK


@pytest.mark.parametrize("seat", ["annotator", "reviewer"])
def test_consensus_experts_are_neither_the_annotator_nor_the_reviewer(seat, annotation, people, vocab):
    from accounts.services import user_assign_role

    person = getattr(people, seat)
    user_assign_role(user=person, role=Role.EXPERT)
    drive(annotation, people, vocab, "reviewed")

    from annotation.queue import annotation_claim_next

    assert annotation_claim_next(user=person, stage="consensus") is None
    with pytest.raises(WorkflowError) as refused:
        services.annotation_claim(user=person, sample_id=annotation.pk)
    assert refused.value.code == AnnotationErrorCode.OWN_WORK


def test_an_expert_votes_once_per_revision(annotation, people, vocab, client_for):
    annotation = drive(annotation, people, vocab, "in_consensus")  # expert1 voted
    api = client_for(user=people.expert1)

    assert claim_next(api, "consensus").status_code == 204
    refused = act(api, annotation.pk, "claim")
    assert refused.status_code == 403 and refused.json()["code"] == "already_voted"


def test_the_panel_is_limited(annotation, people, vocab, make_user, settings):
    settings.ANNOTATION_CONSENSUS_QUORUM = 3
    settings.ANNOTATION_CONSENSUS_PANEL = 3
    drive(annotation, people, vocab, "in_consensus")  # expert1 approved
    for expert, decision in ((people.expert2, "approve"), (people.expert3, "reject")):
        services.annotation_claim(user=expert, sample_id=annotation.pk)
        version = Annotation.objects.get(pk=annotation.pk).version
        services.consensus_vote(expert=expert, sample_id=annotation.pk, version=version, decision=decision)

    # 2 approve, 1 reject out of a full panel of 3 with a quorum of 3: the panel could not agree
    assert Annotation.objects.get(pk=annotation.pk).state == "rejected"


def test_a_fourth_expert_is_refused_once_the_panel_is_full(annotation, people, vocab, make_user, settings):
    settings.ANNOTATION_CONSENSUS_QUORUM = 2
    settings.ANNOTATION_CONSENSUS_PANEL = 2
    annotation = drive(annotation, people, vocab, "reviewed")
    services.annotation_claim(user=people.expert1, sample_id=annotation.pk)
    services.consensus_vote(
        expert=people.expert1, sample_id=annotation.pk, version=annotation.version + 1, decision="approve"
    )
    services.annotation_claim(user=people.expert2, sample_id=annotation.pk)
    version = Annotation.objects.get(pk=annotation.pk).version
    services.consensus_vote(
        expert=people.expert2,
        sample_id=annotation.pk,
        version=version,
        decision="edit",
        content={"fields": {"locations": [vocab.edge.pk]}},
    )
    # expert1's approval is stale; the panel (2) is full, so a third expert may not join
    with pytest.raises(WorkflowError) as refused:
        services.annotation_claim(user=people.expert3, sample_id=annotation.pk)
    assert refused.value.code == AnnotationErrorCode.PANEL_FULL
    services.annotation_claim(user=people.expert1, sample_id=annotation.pk)  # a panel member may look again


def test_vote_payload_rules(annotation, people, vocab, client_for):
    annotation = drive(annotation, people, vocab, "reviewed")
    api = client_for(user=people.expert1)
    claim_next(api, "consensus")

    assert act(api, annotation.pk, "vote", decision="maybe").json()["errors"].keys() == {"decision"}
    assert "content" in act(api, annotation.pk, "vote", decision="edit").json()["errors"]
    assert "content" in act(api, annotation.pk, "vote", decision="approve", content={"notes": "x"}).json()["errors"]
    no_change = act(api, annotation.pk, "vote", decision="edit", content={"notes": ""})
    assert no_change.status_code == 400 and "changes nothing" in no_change.json()["errors"]["content"][0]


def test_data_manager_endpoints_refuse_other_roles(client_for, sample):
    annotator = client_for(Role.ANNOTATOR)
    assert post(annotator, "/enqueue/", {"sample_ids": [sample.pk]}).status_code == 403
    assert post(annotator, "/assign/", {"sample_ids": [sample.pk], "annotator": None}).status_code == 403
    assert annotator.get("/api/annotation/audit-events/").status_code == 403
    assert post(annotator, "/agreement-reports/", {}).status_code == 403
