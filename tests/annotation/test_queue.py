"""Claiming: order, filters, reservations, leases, stale writes, visibility, concurrency."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.roles import Role
from annotation import services
from annotation.models import Annotation, AnnotationRevision, AuditEvent, StageClaim
from annotation.queue import QueueFilters, annotation_claim_next
from tests.conftest import USING_POSTGRES

from .conftest import complete_content, enqueue
from .factories import make_sample, make_source
from .helpers import act, claim_next, detail, post

pytestmark = pytest.mark.django_db


def test_gold_first_then_priority_then_oldest(vocab, make_user):
    plain_old, plain_new, urgent, gold = (make_sample() for _ in range(4))
    enqueue(plain_old, plain_new)
    enqueue(urgent, priority=5)
    enqueue(gold, is_gold=True)
    order = []
    for _ in range(4):
        order.append(annotation_claim_next(user=make_user(Role.ANNOTATOR), stage="annotation").pk)

    assert order == [gold.pk, urgent.pk, plain_old.pk, plain_new.pk]


def test_asking_again_returns_the_sample_already_held(annotation, people):
    first = annotation_claim_next(user=people.annotator, stage="annotation")
    enqueue(make_sample())

    assert annotation_claim_next(user=people.annotator, stage="annotation").pk == first.pk


def test_filters_by_domain_source_defect_type_and_language(vocab, make_user):
    other = make_source("other line")
    metal = make_sample(domain="metal")
    crack = make_sample(regions=(("crack", [1, 1, 2, 2]),))
    chinese = make_sample(language="zh")
    elsewhere = make_sample(other)
    enqueue(metal, crack, chinese, elsewhere)

    def claim(**filters):
        found = annotation_claim_next(
            user=make_user(Role.ANNOTATOR), stage="annotation", filters=QueueFilters(**filters)
        )
        return found and found.pk

    assert claim(domain="metal") == metal.pk
    assert claim(defect_type=vocab.surface.pk) == crack.pk  # a category stands for its defect types
    assert claim(language="zh") == chinese.pk
    assert claim(source=other.pk) == elsewhere.pk
    assert claim(domain="metal") is None


def test_claim_next_filters_through_the_api(vocab, client_for, people):
    enqueue(make_sample(regions=(("scratch", [1, 1, 2, 2]),)), make_sample(regions=(("stain", [1, 1, 2, 2]),)))
    api = client_for(user=people.annotator)

    response = claim_next(api, "annotation", defect_type=vocab.stain.pk)

    assert [t["slug"] for t in response.json()["content"]["fields"]["defect_types"]] == ["def-stain"]
    assert claim_next(api, "nonsense").status_code == 400
    assert claim_next(client_for(user=people.annotator2), "annotation", source="x").status_code == 400


def test_bulk_assign_reserves_samples_and_creates_annotations(vocab, people, client_for, make_user):
    manager = client_for(user=people.manager)
    samples = [make_sample() for _ in range(3)]
    enqueue(samples[0])
    services.annotation_claim(user=people.annotator2, sample_id=samples[0].pk)

    response = post(
        manager,
        "/assign/",
        {"sample_ids": [s.pk for s in samples] + [999999], "annotator": people.annotator.pk, "is_gold": True},
    )

    outcomes = [r["outcome"] for r in response.json()["results"]]
    assert outcomes == ["skipped_in_annotation", "assigned", "assigned", "not_found"]
    assert annotation_claim_next(user=people.annotator2, stage="annotation").pk == samples[0].pk  # already held
    assert annotation_claim_next(user=make_user(Role.ANNOTATOR), stage="annotation") is None
    assert annotation_claim_next(user=people.annotator, stage="annotation").pk == samples[1].pk
    events = AuditEvent.objects.filter(annotation_id=samples[2].pk, action="assign")
    assert {(e.field, e.after) for e in events} == {("assignee", people.annotator.pk), ("is_gold", True)}
    unassigned = post(manager, "/assign/", {"sample_ids": [samples[2].pk], "annotator": None})
    assert unassigned.json()["results"][0]["outcome"] == "assigned"
    assert Annotation.objects.get(pk=samples[2].pk).assignee is None


def test_bulk_assign_refuses_non_annotators(people, client_for, sample):
    response = post(
        client_for(user=people.manager), "/assign/", {"sample_ids": [sample.pk], "annotator": people.reviewer.pk}
    )
    assert response.status_code == 400 and "annotator" in response.json()["errors"]


def test_restricted_samples_are_invisible_in_queue_lists_and_api(vocab, people, client_for, make_user):
    partner = make_source("partner", restricted=True)
    secret = make_sample(partner)
    enqueue(secret)
    outsider = client_for(user=people.annotator)
    member = make_user(Role.ANNOTATOR)
    partner.members.add(member)

    assert claim_next(outsider, "annotation").status_code == 204
    assert outsider.get("/api/annotation/annotations/").json()["results"] == []
    assert outsider.get(f"/api/annotation/annotations/{secret.pk}/").status_code == 404
    assert act(outsider, secret.pk, "claim").status_code == 404
    assert (
        post(client_for(user=people.manager), "/assign/", {"sample_ids": [secret.pk], "annotator": member.pk}).json()[
            "results"
        ][0]["outcome"]
        == "not_found"
    )  # the manager is no member either
    assert claim_next(client_for(user=member), "annotation").json()["sample"] == secret.pk
    admin = client_for(Role.ADMIN)
    assert (
        post(admin, "/assign/", {"sample_ids": [secret.pk], "annotator": people.annotator.pk}).json()["results"][0][
            "outcome"
        ]
        == "not_visible_to_annotator"
    )
    assert (
        client_for(user=people.manager).get(f"/api/annotation/audit-events/?sample={secret.pk}").json()["results"] == []
    )


def test_a_stale_write_gets_409_with_the_current_state_and_changes_nothing(annotation, vocab, people, client_for):
    api = client_for(user=people.annotator)
    claimed = claim_next(api, "annotation").json()
    first = act(api, annotation.pk, "save", version=claimed["version"], content={"notes": "first tab"})
    revisions = AnnotationRevision.objects.count()

    second = act(api, annotation.pk, "save", version=claimed["version"], content={"notes": "second tab"})

    assert first.status_code == 200
    assert second.status_code == 409 and second.json()["code"] == "stale_version"
    assert second.json()["current"]["version"] == first.json()["version"] == claimed["version"] + 1
    assert second.json()["current"]["content"]["notes"] == "first tab"
    assert AnnotationRevision.objects.count() == revisions


def test_a_save_that_changes_nothing_is_no_write(annotation, people, client_for):
    api = client_for(user=people.annotator)
    version = claim_next(api, "annotation").json()["version"]
    assert act(api, annotation.pk, "save", version=version, content={"notes": ""}).json()["version"] == version


def test_an_expired_lease_returns_the_sample_to_the_queue(annotation, people, client_for, monkeypatch):
    monkeypatch.setattr("annotation.queue.SWEEP_INTERVAL", 0)  # claims sweep at most every few seconds
    holder, other = client_for(user=people.annotator), client_for(user=people.annotator2)
    version = claim_next(holder, "annotation").json()["version"]
    Annotation.objects.filter(pk=annotation.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    late = act(holder, annotation.pk, "save", version=version, content={"notes": "too late"})
    taken = claim_next(other, "annotation")

    assert late.status_code == 409 and late.json()["code"] == "lease_expired"
    assert taken.json()["sample"] == annotation.pk and taken.json()["lease_holder"] == people.annotator2.pk
    assert AuditEvent.objects.filter(annotation=annotation, action="lease_expired", actor=None).count() == 1
    assert list(StageClaim.objects.filter(annotation=annotation).values_list("outcome", flat=True)) == ["expired", ""]
    stale = act(holder, annotation.pk, "save", version=version, content={"notes": "much too late"})
    assert stale.status_code == 409


def test_the_expiry_sweep_puts_each_stage_back_in_its_queue(annotation, people, vocab):
    from annotation.queue import leases_release_expired

    services.annotation_claim(user=people.annotator, sample_id=annotation.pk)
    services.annotation_submit(
        annotator=people.annotator,
        sample_id=annotation.pk,
        version=annotation.version + 1,
        content=complete_content(vocab),
    )
    services.annotation_claim(user=people.reviewer, sample_id=annotation.pk)

    assert leases_release_expired(now=timezone.now() + timedelta(hours=2)) == 1
    swept = Annotation.objects.get(pk=annotation.pk)
    assert (swept.state, swept.queue, swept.reviewer, swept.lease_holder) == ("submitted", "review", None, None)


def test_renewing_a_lease_extends_it_without_a_new_version(annotation, people, client_for):
    api = client_for(user=people.annotator)
    claimed = claim_next(api, "annotation").json()
    Annotation.objects.filter(pk=annotation.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=5))

    renewed = act(api, annotation.pk, "renew-lease").json()

    assert renewed["version"] == claimed["version"]
    assert Annotation.objects.get(pk=annotation.pk).lease_expires_at > timezone.now() + timedelta(minutes=20)
    assert act(client_for(user=people.annotator2), annotation.pk, "renew-lease").status_code == 403


def test_renewing_a_lease_refuses_a_body_it_would_not_read(annotation, people, client_for):
    api = client_for(user=people.annotator)
    claim_next(api, "annotation")
    soon = timezone.now() + timedelta(seconds=5)
    Annotation.objects.filter(pk=annotation.pk).update(lease_expires_at=soon)

    response = post(api, f"/annotations/{annotation.pk}/renew-lease/", {"force": True})

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"force": ["unknown field; this action takes no request body"]}
    assert Annotation.objects.get(pk=annotation.pk).lease_expires_at == soon  # not renewed
    assert api.post(f"/api/annotation/annotations/{annotation.pk}/renew-lease/").status_code == 200  # no body


def test_release_hands_the_sample_back(annotation, people, client_for):
    api = client_for(user=people.annotator)
    claim_next(api, "annotation")
    released = act(api, annotation.pk, "release").json()
    assert (released["state"], released["queue"], released["annotator"]) == ("unassigned", "annotation", None)
    assert claim_next(client_for(user=people.annotator2), "annotation").json()["sample"] == annotation.pk


def test_list_is_keyset_paginated_and_filtered(vocab, people, client_for):
    samples = [make_sample() for _ in range(5)]
    enqueue(*samples)
    services.annotation_claim(user=people.annotator, sample_id=samples[1].pk)
    api = client_for(user=people.annotator)

    seen, url = [], "/api/annotation/annotations/?page_size=2"
    while url:
        page = api.get(url).json()
        seen += [a["sample"] for a in page["results"]]
        url = page["next"]
    held = api.get("/api/annotation/annotations/?held=me").json()["results"]
    by_state = api.get("/api/annotation/annotations/?state=unassigned").json()["results"]

    assert seen == sorted((s.pk for s in samples), reverse=True)
    assert [a["sample"] for a in held] == [samples[1].pk]
    assert len(by_state) == 4
    assert api.get("/api/annotation/annotations/?source=abc").status_code == 400


@pytest.mark.skipif(not USING_POSTGRES, reason="SKIP LOCKED needs PostgreSQL (CI runs on it)")
@pytest.mark.django_db(transaction=True)
def test_many_concurrent_claimers_never_get_the_same_sample(make_user):
    from .factories import Vocabulary

    Vocabulary()
    enqueue(*[make_sample() for _ in range(120)])
    threads_count, claims_per_thread = 12, 8
    users = [[make_user(Role.ANNOTATOR) for _ in range(claims_per_thread)] for _ in range(threads_count)]
    barrier = threading.Barrier(threads_count)
    claimed: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claimer(my_users):
        try:
            barrier.wait()
            for user in my_users:
                annotation = annotation_claim_next(user=user, stage="annotation")
                with lock:
                    claimed.append((annotation.pk, user.pk))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(group,)) for group in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    samples = [sample for sample, _ in claimed]
    assert len(samples) == threads_count * claims_per_thread == len(set(samples))
    holders = dict(Annotation.objects.filter(lease_holder__isnull=False).values_list("pk", "lease_holder_id"))
    assert holders == dict(claimed)
    assert StageClaim.objects.count() == len(claimed)


def test_detail_shows_the_sample_size_for_mask_editors(annotation, people, client_for):
    info = detail(client_for(user=people.annotator), annotation.pk)["sample_info"]
    assert (info["width"], info["height"]) == (40, 30)


@pytest.mark.skipif(not USING_POSTGRES, reason="row locks need PostgreSQL (CI runs on it)")
@pytest.mark.django_db(transaction=True)
def test_one_person_claiming_from_many_tabs_at_once_holds_one_sample(make_user):
    from .factories import Vocabulary

    Vocabulary()
    enqueue(*[make_sample() for _ in range(20)])
    person = make_user(Role.ANNOTATOR)
    tabs = 8
    barrier = threading.Barrier(tabs)
    claimed: list[int] = []
    errors: list[BaseException] = []

    def tab():
        try:
            barrier.wait()
            claimed.append(annotation_claim_next(user=person, stage="annotation").pk)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=tab) for _ in range(tabs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len(set(claimed)) == 1, claimed
    assert Annotation.objects.filter(lease_holder=person).count() == 1
    assert StageClaim.objects.filter(user=person).count() == 1


def test_claim_next_refuses_a_misspelled_filter_instead_of_claiming_from_the_whole_queue(vocab, client_for, people):
    tiles = make_source("Magnetic Tile")
    enqueue(make_sample(), make_sample(tiles))

    response = claim_next(client_for(user=people.annotator), "annotation", sourse=tiles.pk)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert response.json()["errors"] == {
        "sourse": ["unknown field; expected one of: source, domain, defect_type, language"]
    }
    assert not Annotation.objects.filter(lease_holder=people.annotator).exists()  # nothing was claimed


@pytest.mark.parametrize("named", ["source", "defect_type"])
def test_claim_next_refuses_an_id_filter_that_names_nothing_instead_of_answering_nothing_to_do(
    vocab, client_for, people, named
):
    enqueue(make_sample(regions=(("crack", [1, 1, 2, 2]),)))

    response = claim_next(client_for(user=people.annotator), "annotation", **{named: 987654})

    assert response.status_code == 400, response.content
    expected = {"source": "no source 987654", "defect_type": "no term 987654"}[named]
    assert response.json() == {"code": "invalid", "detail": f"invalid {named}", "errors": {named: [expected]}}
    assert not Annotation.objects.filter(lease_holder=people.annotator).exists()  # nothing was claimed


def test_claim_next_refuses_a_defect_type_filter_naming_a_term_of_another_facet(vocab, client_for, people):
    enqueue(make_sample())

    response = claim_next(client_for(user=people.annotator), "annotation", defect_type=vocab.glass.pk)

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {
        "defect_type": [f"term {vocab.glass.pk} ({vocab.glass.slug}) is a material term, not a defect type or category"]
    }


def test_claim_next_answers_for_a_source_you_may_not_see_as_for_one_that_does_not_exist(
    vocab, client_for, people, make_user
):
    partner = make_source("partner", restricted=True)
    (secret,) = enqueue(make_sample(partner))
    missing = partner.pk + 1000
    outsider = client_for(user=people.annotator)

    hidden = claim_next(outsider, "annotation", source=partner.pk)
    absent = claim_next(outsider, "annotation", source=missing)

    assert hidden.status_code == absent.status_code == 400
    assert hidden.content.replace(str(partner.pk).encode(), b"N") == absent.content.replace(str(missing).encode(), b"N")
    member = make_user(Role.ANNOTATOR)
    partner.members.add(member)
    assert claim_next(client_for(user=member), "annotation", source=partner.pk).json()["sample"] == secret.pk


def test_claim_next_with_a_source_that_has_nothing_left_still_answers_nothing_to_do(vocab, client_for, people):
    empty = make_source("empty line")
    enqueue(make_sample())

    assert claim_next(client_for(user=people.annotator), "annotation", source=empty.pk).status_code == 204
