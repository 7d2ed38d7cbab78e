"""A non-member cannot use a restricted source through any write: versions, exports, caption jobs,
agreement reports, imports, workflow actions, click segmentation, enqueueing — and nobody but an
admin changes who may see a source, every change audited. The POST routes that take an object id
are generated from the URL conf like the read matrix."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.roles import Role
from captioning.models import CaptionJob
from catalog.models import Sample, Source, SourceEvent, SourceEventKind, Visibility
from releases.models import DatasetVersion, Export

from ..url_routes import url_routes
from .test_access_matrix import ROLES, _fill
from .world import MARK, build_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture
def world(tmp_path, people, vocab, make_user, settings):
    settings.EXPORT_ROOTS = [str(tmp_path)]
    settings.IMPORT_ROOTS = [tmp_path]
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return build_world(tmp_path, people, vocab, make_user(Role.ADMIN))


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("role", ROLES)
def test_no_post_route_acts_on_a_restricted_object_for_a_non_member(world, make_user, role):
    client = _api(make_user(role))
    acted, tried = [], 0
    for route, name, view, kwargs, actions in url_routes():
        if not kwargs or (actions and "post" not in actions) or (not actions and not hasattr(view, "post")):
            continue
        filled = _fill(route, view, kwargs, world.restricted_objects)
        if filled is None or not filled[1]:
            continue
        url = reverse(name, kwargs=filled[0])
        response = client.post(url, {}, format="json")
        tried += 1
        if response.status_code < 300 or response.status_code >= 500 or MARK in response.content.decode():
            acted.append(f"POST {url}: {response.status_code} {response.content[:200]!r}")
    assert not acted, "\n".join(acted)
    assert tried >= 12, tried  # the workflow, caption job, version and export actions


def test_a_non_member_cannot_cut_a_version_of_a_restricted_source(world, make_user):
    outsider = _api(make_user(Role.DATA_MANAGER))

    named = outsider.post(
        "/api/releases/versions/",
        {"title": "grab", "selection": {"sources": [world.restricted.pk], "include_restricted": True}},
        format="json",
    )
    everything = outsider.post(
        "/api/releases/versions/", {"title": "all", "selection": {"include_restricted": True}}, format="json"
    )

    assert named.status_code == 400 and MARK not in named.content.decode()
    assert everything.status_code == 201
    version = DatasetVersion.objects.get(number=everything.json()["number"])
    assert not version.sources.filter(pk=world.restricted.pk).exists()
    assert not version.items.filter(sample__source=world.restricted).exists()
    assert MARK not in everything.content.decode()


def test_a_non_member_cannot_export_a_version_holding_restricted_samples(world, make_user):
    version = world.restricted_objects[DatasetVersion]
    before = Export.objects.count()

    response = _api(make_user(Role.DATA_MANAGER)).post(
        f"/api/releases/versions/{version.number}/exports/",
        {"format": "webdataset", "target": "grab", "include_restricted": True},
        format="json",
    )

    assert response.status_code == 404
    assert Export.objects.count() == before


def test_a_member_exports_a_version_holding_restricted_samples(world, people):
    version = world.restricted_objects[DatasetVersion]
    response = _api(people.manager).post(
        f"/api/releases/versions/{version.number}/exports/",
        {"format": "coco", "target": "member-export", "include_restricted": True},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_caption_job_covers_only_what_its_creator_may_see(world, make_user):
    outsider = _api(make_user(Role.DATA_MANAGER))

    named = outsider.post(
        "/api/captioning/jobs/", {"captioner": "template", "filters": {"sources": [world.restricted.pk]}}, format="json"
    )
    everything = outsider.post("/api/captioning/jobs/", {"captioner": "template"}, format="json")

    assert named.status_code == 400 and MARK not in named.content.decode()
    assert everything.status_code == 201
    job = CaptionJob.objects.get(pk=everything.json()["id"])
    assert world.restricted not in job.sources.all() and world.public in job.sources.all()


def test_a_non_member_cannot_request_an_agreement_report_of_a_restricted_source(world, make_user):
    response = _api(make_user(Role.DATA_MANAGER)).post(
        "/api/annotation/agreement-reports/", {"scope": "dataset", "source": world.restricted.pk}, format="json"
    )
    assert response.status_code == 400 and MARK not in response.content.decode()


def test_an_import_never_changes_who_may_see_a_source(world, make_user, tmp_path):
    outsider = _api(make_user(Role.DATA_MANAGER))
    folder = tmp_path / "drop"
    folder.mkdir()

    into_restricted = outsider.post(
        "/api/import-jobs/", {"format": "folder", "path": str(folder), "source": world.restricted.name}, format="json"
    )
    hide_public = outsider.post(
        "/api/import-jobs/",
        {"format": "folder", "path": str(folder), "source": world.public.name, "restricted": True},
        format="json",
    )

    assert into_restricted.status_code == 400
    assert hide_public.status_code == 400 and "restricted" in hide_public.json()["errors"]
    world.public.refresh_from_db()
    assert world.public.visibility == Visibility.PUBLIC


def test_a_non_member_cannot_segment_enqueue_or_assign_restricted_samples(world, make_user):
    hidden = world.restricted_objects[Sample]
    manager = _api(make_user(Role.DATA_MANAGER))
    annotator = _api(make_user(Role.ANNOTATOR))

    segment = annotator.post(
        "/api/annotation/segment/",
        {"sample": hidden.pk, "backend": "grabcut", "clicks": [{"x": 5, "y": 5, "positive": True}]},
        format="json",
    )
    enqueue = manager.post("/api/annotation/enqueue/", {"sample_ids": [hidden.pk]}, format="json")

    assert segment.status_code in (400, 404) and MARK not in segment.content.decode()
    assert enqueue.status_code == 200 and enqueue.json()["created"] == 0


def test_staff_who_are_not_admins_cannot_change_a_sources_members_or_visibility(world, people, make_user):
    outsider = make_user(Role.DATA_MANAGER)
    browser = Client()
    browser.force_login(outsider)
    url = f"/admin/catalog/source/{world.restricted.pk}/change/"
    form = {"name": world.restricted.name, "kind": "benchmark", "visibility": "public", "members": [outsider.pk]}

    assert browser.get(url).status_code == 302  # hidden: "does not exist", back to the index
    browser.post(url, form)
    world.restricted.refresh_from_db()
    assert world.restricted.visibility == Visibility.RESTRICTED
    assert not world.restricted.members.filter(pk=outsider.pk).exists()

    # A member who is a data manager sees the source but still cannot change who may see it.
    browser.force_login(people.manager)
    page = browser.get(url)
    assert page.status_code == 200 and 'name="members"' not in page.content.decode()
    browser.post(url, {**form, "members": [people.manager.pk, outsider.pk]})
    world.restricted.refresh_from_db()
    assert world.restricted.visibility == Visibility.RESTRICTED
    assert not world.restricted.members.filter(pk=outsider.pk).exists()


def test_an_admin_changes_members_and_visibility_and_each_change_is_audited(world, make_user):
    boss = make_user(Role.ADMIN)
    newcomer = make_user(Role.ANNOTATOR)
    browser = Client()
    browser.force_login(boss)
    members = list(world.restricted.members.values_list("pk", flat=True)) + [newcomer.pk]
    before = SourceEvent.objects.count()

    response = browser.post(
        f"/admin/catalog/source/{world.restricted.pk}/change/",
        {
            "name": world.restricted.name,
            "kind": "benchmark",
            "license": "",
            "provenance": "",
            "visibility": "restricted",
            "members": members,
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert world.restricted.members.filter(pk=newcomer.pk).exists()
    added = SourceEvent.objects.filter(pk__gt=0).order_by("-id").first()
    assert SourceEvent.objects.count() == before + 1
    assert (added.kind, added.actor, added.after["user"]) == (SourceEventKind.MEMBER_ADDED, boss, newcomer.pk)

    browser.post(
        f"/admin/catalog/source/{world.public.pk}/change/",
        {
            "name": world.public.name,
            "kind": "benchmark",
            "visibility": "restricted",
            "members": [],
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
    )
    hidden = SourceEvent.objects.order_by("-id").first()
    assert Source.objects.get(pk=world.public.pk).visibility == Visibility.RESTRICTED
    assert (hidden.kind, hidden.before, hidden.after, hidden.actor) == (
        SourceEventKind.VISIBILITY,
        "public",
        "restricted",
        boss,
    )
