"""The workflow endpoints the review pages need: skip with a reason, the consensus tally, the
readable timeline, and the data managers' priority and gold flag."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from annotation import services
from annotation.consensus import consensus_tally
from annotation.models import Annotation, AnnotationState, AuditEvent
from annotation.queue import QueueFilters

from .conftest import complete_content, drive, enqueue
from .factories import make_sample, make_source
from .helpers import claim_next

pytestmark = pytest.mark.django_db


def version(sample_id: int) -> int:
    return Annotation.objects.get(pk=sample_id).version


def test_skip_releases_with_the_reason_and_leases_another_sample(vocab, people):
    first, second = enqueue(make_sample(), make_sample())
    held = services.annotation_claim_next(user=people.annotator, stage="annotation")
    assert held.pk == first.pk  # the queue's order: oldest first
    following = services.annotation_skip(
        user=people.annotator, sample_id=held.pk, version=version(held.pk), reason="  blurred  "
    )
    assert following is not None and following.pk == second.pk
    skipped = Annotation.objects.get(pk=held.pk)
    assert skipped.state == AnnotationState.UNASSIGNED and skipped.lease_holder is None
    assert Annotation.objects.get(pk=following.pk).lease_holder == people.annotator
    reason = AuditEvent.objects.get(annotation_id=held.pk, field="reason")
    assert (reason.action, reason.after, reason.actor) == ("skip", "blurred", people.annotator)


def test_skipping_the_only_sample_returns_none_and_still_skips(vocab, people):
    (only,) = enqueue(make_sample())
    services.annotation_claim(user=people.annotator, sample_id=only.pk)
    assert (
        services.annotation_skip(user=people.annotator, sample_id=only.pk, version=version(only.pk), reason="x") is None
    )
    assert Annotation.objects.get(pk=only.pk).state == AnnotationState.UNASSIGNED


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"reason": "blurred"}, 400, "invalid"),  # no version
        ({"version": 1, "reason": "blurred"}, 409, "stale_version"),
        ({"version": None, "reason": ""}, 400, "invalid"),
        ({"version": "current", "reason": "x" * 501}, 400, "invalid"),
    ],
)
def test_a_bad_skip_is_refused_and_keeps_the_sample_held(client_for, vocab, people, body, status, code):
    (only,) = enqueue(make_sample())
    services.annotation_claim(user=people.annotator, sample_id=only.pk)
    if body.get("version") == "current":
        body = {**body, "version": version(only.pk)}
    if body.get("version") is None and "version" in body:
        body = {**body, "version": version(only.pk)}
    response = client_for(user=people.annotator).post(
        reverse("api:annotation-skip", args=[only.pk]), body, format="json"
    )
    assert response.status_code == status and response.json()["code"] == code, response.json()
    assert Annotation.objects.get(pk=only.pk).lease_holder == people.annotator


def test_skip_through_the_api_names_the_next_sample(client_for, vocab, people):
    first, second = enqueue(make_sample(), make_sample())
    services.annotation_claim(user=people.annotator, sample_id=first.pk)
    response = client_for(user=people.annotator).post(
        reverse("api:annotation-skip", args=[first.pk]), {"version": version(first.pk), "reason": "dark"}, format="json"
    )
    assert response.status_code == 200 and response.json() == {"skipped": first.pk, "next": second.pk}


def skip_via_api(api, sample_id: int, **filters):
    body = {"version": version(sample_id), "reason": "outside my expertise", **filters}
    return api.post(reverse("api:annotation-skip", args=[sample_id]), body, format="json")


def test_a_skip_with_a_source_filter_hands_over_the_next_sample_of_that_source(client_for, vocab, people):
    tiles = make_source("Magnetic Tile")
    first_tile, elsewhere, second_tile = enqueue(make_sample(tiles), make_sample(), make_sample(tiles))
    services.annotation_claim(user=people.annotator, sample_id=first_tile.pk)

    response = skip_via_api(client_for(user=people.annotator), first_tile.pk, source=tiles.pk)

    # Unfiltered, the queue's order would hand over `elsewhere` (older than second_tile).
    assert response.status_code == 200 and response.json() == {"skipped": first_tile.pk, "next": second_tile.pk}
    assert Annotation.objects.get(pk=elsewhere.pk).lease_holder is None


def test_a_skip_with_a_filter_returns_null_when_only_samples_outside_it_remain(client_for, vocab, people):
    tiles = make_source("Magnetic Tile")
    only_tile, elsewhere = enqueue(make_sample(tiles), make_sample(domain="metal"))
    services.annotation_claim(user=people.annotator, sample_id=only_tile.pk)

    response = skip_via_api(client_for(user=people.annotator), only_tile.pk, source=tiles.pk)

    assert response.status_code == 200 and response.json() == {"skipped": only_tile.pk, "next": None}
    assert Annotation.objects.get(pk=only_tile.pk).state == AnnotationState.UNASSIGNED  # skipped all the same
    assert Annotation.objects.get(pk=elsewhere.pk).lease_holder is None


def test_a_skip_takes_every_filter_claim_next_takes(vocab, people):
    metal, crack, chinese, plain = enqueue(
        make_sample(domain="metal"),
        make_sample(regions=(("crack", [1, 1, 2, 2]),)),
        make_sample(language="zh"),
        make_sample(),
    )
    held = services.annotation_claim(user=people.annotator, sample_id=plain.pk)
    for filters, expected in (
        ({"domain": "metal"}, metal),
        ({"defect_type": vocab.surface.pk}, crack),  # a category stands for its defect types
        ({"language": "zh"}, chinese),
    ):
        following = services.annotation_skip(
            user=people.annotator,
            sample_id=held.pk,
            version=version(held.pk),
            reason="x",
            filters=QueueFilters(**filters),
        )
        assert following.pk == expected.pk, filters
        held = following


@pytest.mark.parametrize(
    "bad", [{"source": "x"}, {"defect_type": "tiles"}, {"source": -1}, {"source": 987654}, {"defect_type": 987654}]
)
def test_a_skip_with_a_bad_filter_is_refused_as_claim_next_refuses_it(client_for, vocab, people, bad):
    (only,) = enqueue(make_sample())
    services.annotation_claim(user=people.annotator, sample_id=only.pk)
    api = client_for(user=people.annotator)

    refused = skip_via_api(api, only.pk, **bad)

    from_claim_next = claim_next(client_for(user=people.annotator2), "annotation", **bad)
    assert refused.status_code == from_claim_next.status_code == 400
    assert refused.json() == from_claim_next.json()
    assert Annotation.objects.get(pk=only.pk).lease_holder == people.annotator


def test_the_tally_counts_live_votes_on_the_current_revision(settings, annotation, people, vocab, client_for):
    settings.ANNOTATION_CONSENSUS_QUORUM = 2
    settings.ANNOTATION_CONSENSUS_PANEL = 3
    drive(annotation, people, vocab, to="in_consensus")  # expert1 approved
    url = reverse("api:annotation-consensus", args=[annotation.pk])
    tally = client_for(user=people.manager).get(url).json()
    assert tally == {"quorum": 2, "panel": 3, "approvals": 1, "rejections": 0, "voters": 1, "stale": 0}
    # expert2 edits: a new revision; expert1's approval is now on an older one.
    services.annotation_claim(user=people.expert2, sample_id=annotation.pk)
    services.consensus_vote(
        expert=people.expert2,
        sample_id=annotation.pk,
        version=version(annotation.pk),
        decision="edit",
        content=complete_content(vocab, fields={"locations": [vocab.edge.pk]}),
    )
    tally = client_for(user=people.expert3).get(url).json()
    assert (tally["approvals"], tally["stale"], tally["voters"]) == (1, 1, 2)
    detail = client_for(user=people.expert3).get(reverse("api:annotation-detail", args=[annotation.pk])).json()
    assert detail["consensus"] == tally


def test_the_tally_decides_as_the_workflow_does(settings, annotation, people, vocab):
    """Oracle: the tally's outcome is the state the sample ends in, vote by vote."""
    settings.ANNOTATION_CONSENSUS_QUORUM = 2
    drive(annotation, people, vocab, to="in_consensus")
    current = Annotation.objects.get(pk=annotation.pk)
    assert consensus_tally(current).outcome is None and current.state == AnnotationState.IN_CONSENSUS
    services.annotation_claim(user=people.expert2, sample_id=annotation.pk)
    services.consensus_vote(
        expert=people.expert2, sample_id=annotation.pk, version=version(annotation.pk), decision="approve"
    )
    current = Annotation.objects.get(pk=annotation.pk)
    assert consensus_tally(current).outcome == current.state == AnnotationState.VERIFIED


def test_the_timeline_reads_as_moments_with_term_labels(client_for, annotation, people, vocab):
    drive(annotation, people, vocab, to="submitted")
    moments = client_for(user=people.reviewer).get(reverse("api:annotation-timeline", args=[annotation.pk])).json()
    actions = [m["action"] for m in moments]
    assert actions[:2] == ["submit", "claim"] and actions[-1] == "create"
    submit = moments[0]
    assert submit["state"] == {"before": "in_annotation", "after": "submitted"}
    materials = next(c for c in submit["changes"] if c["field"] == "fields.materials")
    assert materials["after"] == [{"en": "glass", "zh": "glass(zh)", "ja": "glass(ja)"}]


def test_the_timeline_hides_other_people_in_blind_mode(settings, client_for, annotation, people, vocab):
    settings.ANNOTATION_BLIND_MODE = True
    drive(annotation, people, vocab, to="submitted")
    moments = client_for(user=people.reviewer).get(reverse("api:annotation-timeline", args=[annotation.pk])).json()
    assert {m["actor"] for m in moments} == {None} and {m["actor_name"] for m in moments} == {None}
    seen_by_manager = (
        client_for(user=people.manager).get(reverse("api:annotation-timeline", args=[annotation.pk])).json()
    )
    assert seen_by_manager[0]["actor_name"] == people.annotator.username


def test_marking_a_held_sample_gold_does_not_make_its_annotators_next_save_stale(annotation, people, vocab):
    # Priority and gold order the queue; they are not the work. A manager ticking a page of rows
    # must not send every annotator holding one of them into the "someone saved first" dialog.
    drive(annotation, people, vocab, to="in_annotation")
    opened_at = Annotation.objects.get(pk=annotation.pk).version
    services.annotations_set_priority(by=people.manager, sample_ids=[annotation.pk], is_gold=True, priority=7)
    saved = services.annotation_save(
        user=people.annotator, sample_id=annotation.pk, version=opened_at, content={"notes": "checked the rim"}
    )
    assert saved.is_gold and saved.priority == 7 and saved.version == opened_at + 1
    assert AuditEvent.objects.filter(annotation_id=annotation.pk, field="is_gold", after=True).exists()


def test_priority_and_gold_change_only_what_the_manager_may_see(client_for, make_user, vocab):
    public, hidden = enqueue(make_sample(), make_sample(make_source("partner", restricted=True)))
    manager = make_user(Role.DATA_MANAGER)
    response = client_for(user=manager).post(
        reverse("api:annotation-priority"),
        {"sample_ids": [public.pk, hidden.pk], "is_gold": True, "priority": 7},
        format="json",
    )
    assert response.status_code == 200 and response.json() == {"changed": 1}
    assert Annotation.objects.filter(is_gold=True, priority=7).get().pk == public.pk
    assert AuditEvent.objects.filter(annotation_id=public.pk, field="is_gold", after=True).exists()
    bad = client_for(user=manager).post(reverse("api:annotation-priority"), {"sample_ids": [public.pk]}, format="json")
    assert bad.status_code == 400 and "priority" in bad.json()["errors"]
    annotator = client_for(Role.ANNOTATOR).post(
        reverse("api:annotation-priority"), {"sample_ids": [public.pk], "is_gold": False}, format="json"
    )
    assert annotator.status_code == 403


def test_a_skip_with_a_misspelled_filter_is_refused_and_keeps_the_sample_held(client_for, vocab, people):
    tiles = make_source("Magnetic Tile")
    first_tile, elsewhere = enqueue(make_sample(tiles), make_sample())
    services.annotation_claim(user=people.annotator, sample_id=first_tile.pk)

    response = skip_via_api(client_for(user=people.annotator), first_tile.pk, sourse=tiles.pk)

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {
        "sourse": ["unknown field; expected one of: version, source, domain, defect_type, language, reason"]
    }
    assert Annotation.objects.get(pk=first_tile.pk).lease_holder == people.annotator
    assert Annotation.objects.get(pk=elsewhere.pk).lease_holder is None


def test_a_skip_naming_a_source_you_may_not_see_is_refused_as_one_naming_no_source(client_for, vocab, people):
    partner = make_source("partner", restricted=True)
    only, _secret = enqueue(make_sample(), make_sample(partner))
    services.annotation_claim(user=people.annotator, sample_id=only.pk)
    api = client_for(user=people.annotator)
    missing = partner.pk + 1000

    hidden = skip_via_api(api, only.pk, source=partner.pk)
    absent = skip_via_api(api, only.pk, source=missing)

    assert hidden.status_code == absent.status_code == 400
    assert hidden.json()["errors"] == {"source": [f"no source {partner.pk}"]}
    assert hidden.content.replace(str(partner.pk).encode(), b"N") == absent.content.replace(str(missing).encode(), b"N")
    assert Annotation.objects.get(pk=only.pk).lease_holder == people.annotator  # not skipped
