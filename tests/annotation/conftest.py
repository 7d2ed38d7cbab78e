import pytest

from accounts.roles import Role
from annotation.models import Annotation
from annotation.services import annotations_enqueue
from catalog.models import Sample

from .factories import Vocabulary, box_mask, make_sample


@pytest.fixture
def vocab(db) -> Vocabulary:
    return Vocabulary()


@pytest.fixture
def people(make_user):
    """One person per workflow seat: each stage done by someone different."""

    class People:
        annotator = make_user(Role.ANNOTATOR)
        annotator2 = make_user(Role.ANNOTATOR)
        reviewer = make_user(Role.REVIEWER)
        expert1 = make_user(Role.EXPERT)
        expert2 = make_user(Role.EXPERT)
        expert3 = make_user(Role.EXPERT)
        manager = make_user(Role.DATA_MANAGER)

    return People


def enqueue(*samples: Sample, **options) -> list[Annotation]:
    annotations_enqueue(samples=Sample.objects.filter(pk__in=[s.pk for s in samples]), by=None, **options)
    return [Annotation.objects.get(pk=s.pk) for s in samples]


@pytest.fixture
def sample(vocab):
    """A 40x30 bottle sample with an imported 'scratch' mask."""
    return make_sample(regions=(("scratch", box_mask(40, 30, 5, 5, 10, 3)),), product="bottle")


@pytest.fixture
def annotation(sample) -> Annotation:
    return enqueue(sample)[0]


def complete_content(vocab, **overrides) -> dict:
    """What submit needs: the product, typed regions and the three captions."""
    content = {
        "fields": {"product": vocab.bottle.pk, "materials": [vocab.glass.pk], "defect_types": [vocab.scratch.pk]},
        "captions": {
            "en": "A thin scratch near the bottle edge.",
            "zh": "瓶子边缘附近有细划痕。",
            "ja": "瓶の縁に細い傷。",
        },
    }
    content.update(overrides)
    return content


def drive(annotation: Annotation, people, vocab, to: str) -> Annotation:
    """Bring a fresh annotation to state `to` through the services, each stage by its own person."""
    from annotation import services

    sample_id = annotation.pk

    def version() -> int:
        return Annotation.objects.get(pk=sample_id).version

    steps = [
        ("in_annotation", lambda: services.annotation_claim(user=people.annotator, sample_id=sample_id)),
        (
            "submitted",
            lambda: services.annotation_submit(
                annotator=people.annotator, sample_id=sample_id, version=version(), content=complete_content(vocab)
            ),
        ),
        ("in_review", lambda: services.annotation_claim(user=people.reviewer, sample_id=sample_id)),
    ]
    if to == "changes_requested":
        steps.append(
            (
                "changes_requested",
                lambda: services.review_request_changes(
                    reviewer=people.reviewer, sample_id=sample_id, version=version(), comments=[{"text": "redo"}]
                ),
            )
        )
    else:
        steps += [
            (
                "reviewed",
                lambda: services.review_approve(reviewer=people.reviewer, sample_id=sample_id, version=version()),
            ),
            ("claimed_for_consensus", lambda: services.annotation_claim(user=people.expert1, sample_id=sample_id)),
            (
                "in_consensus",
                lambda: services.consensus_vote(
                    expert=people.expert1, sample_id=sample_id, version=version(), decision="approve"
                ),
            ),
            ("claimed_again", lambda: services.annotation_claim(user=people.expert2, sample_id=sample_id)),
        ]
        final = "reject" if to == "rejected" else "approve"
        if to == "rejected":
            steps[-2] = (
                "in_consensus",
                lambda: services.consensus_vote(
                    expert=people.expert1, sample_id=sample_id, version=version(), decision="reject"
                ),
            )
        steps.append(
            (
                to if to in ("verified", "rejected") else "done",
                lambda: services.consensus_vote(
                    expert=people.expert2, sample_id=sample_id, version=version(), decision=final
                ),
            )
        )
    if to != "unassigned":
        for name, step in steps:
            step()
            if name == to:
                break
    return Annotation.objects.get(pk=sample_id)
