"""Restricted data stays restricted everywhere. The routes are not listed by hand: every GET route of
the URL conf (the API and the review pages) and every page of every model in the admin registry is
requested by each role, as a member and as a non-member of the restricted source, with the ids of
the restricted objects filled in. A non-member must get a refusal (403/404, or a redirect) or a page
without any restricted text (MARK); members and admins must see the restricted objects through the
same URLs, which proves the URLs reach them. A new route or a new admin model is covered by itself;
a route whose parameters the matrix cannot fill fails the test until it is taught how."""

from collections import defaultdict
from urllib.parse import urlparse

import pytest
from django.contrib import admin
from django.contrib.admin.sites import site as admin_site
from django.db import models
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from catalog.admin_access import SourceVisibilityAdmin, SourceVisibilityInline
from catalog.models import Sample, Source

from ..url_routes import url_routes
from .world import MARK, build_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

ROLES = (Role.ANNOTATOR, Role.REVIEWER, Role.EXPERT, Role.DATA_MANAGER, Role.ML_ENGINEER)
# Routes whose parameters are not object ids; what to put in them.
FIXED_PARAMETERS = {"kind": "original", "stage": "annotation"}
# Routes that hold no data of any source (schema, docs, language switches, vocabulary).
SOURCE_FREE_PREFIXES = ("api/schema/", "api/docs/", "i18n/", "jsi18n/", "language/", "login/", "logout/")
REFUSED = {301, 302, 400, 403, 404, 405}


def _view_model(view) -> type[models.Model] | None:
    queryset = getattr(view, "queryset", None)
    return queryset.model if queryset is not None else None


def _fill(route, view, kwargs, objects) -> tuple[dict, bool] | None:
    """The URL kwargs that name the restricted (or public) object of this route, and whether one of
    them names such an object; None when the route names an object the matrix has none of (then the
    test says which route)."""
    model = _view_model(view)
    values, names_object = {}, False
    for kwarg in kwargs:
        if kwarg in FIXED_PARAMETERS:
            values[kwarg] = FIXED_PARAMETERS[kwarg]
        elif kwarg in ("sample", "sample_id"):
            values[kwarg], names_object = objects[Sample].pk, True
        elif kwarg == "number" and "revisions" in route:
            values[kwarg] = 1
        elif model is not None and (model in objects or not _reaches_a_source(model)):
            # A model that holds no source's data (the vocabulary): any row of it will do.
            instance = objects[model] if model in objects else model._default_manager.first()
            if instance is None:
                return None
            values[kwarg] = getattr(instance, getattr(view, "lookup_field", "pk"))
            names_object = names_object or model in objects
        else:
            return None
    return values, names_object


def _reaches_a_source(model, depth=0, seen=None) -> bool:
    """Whether rows of `model` come from a source (through foreign keys and many-to-many)."""
    if model is Source:
        return True
    seen = seen or set()
    if depth > 4 or model in seen:
        return False
    seen.add(model)
    for model_field in model._meta.get_fields():
        if model_field.is_relation and model_field.concrete and model_field.related_model is not None:
            if model_field.related_model._meta.app_label == "auth" or model_field.related_model is model:
                continue
            if model_field.related_model._meta.label == "accounts.User":
                continue
            if _reaches_a_source(model_field.related_model, depth + 1, seen):
                return True
    return False


def _admin_urls(objects) -> list[tuple[str, bool]]:
    """(url, names a restricted object) for every registered model's pages."""
    urls = []
    for model, model_admin in admin_site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        urls.append((reverse("admin:{}_{}_changelist".format(*info)), False))
        # A search for part of MARK: the page echoes the query, but a found row would show all of MARK.
        urls.append((reverse("admin:{}_{}_changelist".format(*info)) + f"?q={MARK[2:10]}", False))
        urls.append((reverse("admin:{}_{}_add".format(*info)), False))
        instance = objects.get(model)
        if instance is not None:
            for page in ("change", "history", "delete"):
                urls.append((reverse(f"admin:{info[0]}_{info[1]}_{page}", args=[instance.pk]), True))
        for field_name in getattr(model_admin, "autocomplete_fields", ()):
            urls.append(
                (
                    reverse("admin:autocomplete")
                    + f"?app_label={info[0]}&model_name={info[1]}&field_name={field_name}&term=",
                    False,
                )
            )
    return urls


@pytest.fixture
def world(tmp_path, people, vocab, make_user, settings):
    settings.EXPORT_ROOTS = [str(tmp_path)]
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return build_world(tmp_path, people, vocab, make_user(Role.ADMIN))


def _get(client, url):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    # A redirect's query may echo the url asked for (the login page's ?next=): only its path counts.
    return response.status_code, body.decode("utf-8", "replace"), urlparse(response.get("Location", "")).path


def _matrix(world) -> list[tuple[str, bool]]:
    """Every GET url with the restricted objects' ids, and whether it names one of them."""
    urls, untaught = [], []
    for route, name, view, kwargs, actions in url_routes():
        if actions and "get" not in actions:
            continue
        if route.startswith(SOURCE_FREE_PREFIXES):
            continue
        filled = _fill(route, view, kwargs, world.restricted_objects)
        if filled is None:
            untaught.append(f"{route} ({name}): kwargs {kwargs}")
            continue
        values, names_object = filled
        url = reverse(name, kwargs=values)
        urls.append((url, names_object))
        if not kwargs:  # list routes: also filtered by the restricted source
            urls.append((url + f"?source={world.restricted.pk}", False))
    assert not untaught, "the access matrix cannot fill these routes; teach _fill:\n" + "\n".join(untaught)
    return urls + _admin_urls(world.restricted_objects)


def test_every_admin_model_that_holds_source_data_filters_by_visibility():
    unfiltered = []
    for model, model_admin in admin_site._registry.items():
        if _reaches_a_source(model) and not isinstance(model_admin, SourceVisibilityAdmin):
            unfiltered.append(model._meta.label)
        for inline in model_admin.inlines:
            if _reaches_a_source(inline.model) and not (
                issubclass(inline, SourceVisibilityInline) or isinstance(model_admin, SourceVisibilityAdmin)
            ):
                unfiltered.append(f"{model._meta.label} inline {inline.model._meta.label}")
    assert not unfiltered, f"admin models showing source data to everyone: {unfiltered}"
    assert isinstance(admin_site, admin.AdminSite)


def _restricted_links(world) -> list[str]:
    """Links to the restricted source's samples: a page that shows one names a sample that, for the
    reader, does not exist (ids alone are small numbers in a test database; links are not)."""
    ids = Sample.objects.filter(source=world.restricted).values_list("pk", flat=True)
    return [reverse("review:work", args=[pk]) for pk in ids] + [reverse("api:sample-detail", args=[pk]) for pk in ids]


def _leaks(client, world) -> tuple[list[str], dict]:
    """What of the restricted source a person who may not see it is shown, over the whole matrix."""
    leaks, served = [], defaultdict(int)
    links = _restricted_links(world)
    for url, names_restricted_object in _matrix(world):
        status, body, location = _get(client, url)
        served[status] += 1
        if status >= 500:
            leaks.append(f"{url}: server error {status}")
        elif MARK in body or MARK in location:
            leaks.append(f"{url}: {status} shows restricted text")
        elif names_restricted_object and status not in REFUSED:
            leaks.append(f"{url}: {status} for a restricted object")
        elif shown := [link for link in links if f'"{link}"' in body]:
            leaks.append(f"{url}: {status} links restricted samples {shown}")
    return leaks, served


@pytest.mark.parametrize("role", ROLES)
def test_a_non_member_sees_nothing_of_a_restricted_source_anywhere(world, make_user, role):
    outsider = make_user(role)
    client = Client()
    client.force_login(outsider)
    leaks, served = _leaks(client, world)
    print(
        f"access matrix, {role} not a member: {sum(served.values())} urls, {len(leaks)} leaks"
    )  # shown with pytest -s
    assert not leaks, f"{role} (not a member) reached restricted data:\n" + "\n".join(leaks)
    assert sum(served.values()) > 60


@pytest.mark.parametrize("seat", ("annotator", "reviewer", "expert1", "manager"))
def test_a_former_member_sees_nothing_of_a_restricted_source_anywhere(world, seat):
    """The workflow seats did the restricted source's work as members; once an admin removes one,
    their own past work there (recent work, figures, reports) is as hidden as the rest."""
    former = getattr(world.people, seat)
    world.restricted.members.remove(former)
    client = Client()
    client.force_login(former)
    leaks, _served = _leaks(client, world)
    assert not leaks, f"{seat} (no longer a member) reached restricted data:\n" + "\n".join(leaks)


@pytest.mark.parametrize("role", ROLES)
def test_a_member_reaches_the_restricted_source_through_the_same_urls(world, make_user, role):
    member = make_user(role)
    world.restricted.members.add(member)
    client = Client()
    client.force_login(member)
    shown, errors = 0, []
    for url, _names_restricted_object in _matrix(world):
        status, body, _location = _get(client, url)
        if status >= 500:
            errors.append(f"{url}: server error {status}")
        shown += MARK in body
    assert not errors, "\n".join(errors)
    # The same urls do reach the restricted objects: the non-member test above can fail.
    assert shown >= 5, shown


def test_an_admin_sees_every_restricted_object_page(world, make_user):
    boss = make_user(Role.ADMIN)
    client = Client()
    client.force_login(boss)
    missing = []
    for url, names_restricted_object in _matrix(world):
        status, body, _location = _get(client, url)
        assert status < 500, (url, status, body[:2000])
        if names_restricted_object and "/delete/" not in url and status != 200:
            missing.append(f"{url}: {status}")
    assert not missing, "admins should reach every restricted object:\n" + "\n".join(missing)
