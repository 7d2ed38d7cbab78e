"""Every page of the Django admin either works or is not offered, for every staff role. Nothing is
listed by hand: each model in the admin registry is opened (list, add, change of a real object) and
its add and change forms are posted empty, unchanged and with plausible-but-wrong input, as a
superuser, an admin, and a data manager and an ML engineer who are not members of the restricted
source. A model registered later is covered by itself.

Asserted for every page: no server error; a refused form re-renders with field-level errors and
keeps what was typed; a success message never appears beside an error; a non-member never sees a
restricted source's text."""

import re
from html import escape

import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts.roles import Role

from ..access.test_access_matrix import _reaches_a_source
from ..access.world import MARK, build_world
from .forms import BROKEN_JSON, TYPED, UNKNOWN_KEY_JSON, form_data, form_of, json_fields

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SUCCESS = re.compile(r"was (added|changed) successfully|added successfully")
ERROR_ON_PAGE = ('class="errornote"', 'class="errorlist')


@pytest.fixture
def world(tmp_path, people, vocab, make_user, settings):
    settings.EXPORT_ROOTS = [str(tmp_path)]
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    return build_world(tmp_path, people, vocab, make_user(Role.ADMIN))


class Visit:
    """One person's walk through the admin; every problem is collected, not raised, so one run
    lists all of them."""

    def __init__(self, user, *, sees_restricted: bool):
        self.client = Client(raise_request_exception=False)
        self.client.force_login(user)
        self.sees_restricted = sees_restricted
        self.problems: list[str] = []
        self.pages = 0

    def request(self, method: str, url: str, data=None, follow=False):
        response = getattr(self.client, method)(url, data or {}, follow=follow)
        self.pages += 1
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode("utf-8", "replace")
        if response.status_code >= 500:
            error = response.exc_info[1] if getattr(response, "exc_info", None) else ""
            self.problems.append(f"{method.upper()} {url}: {response.status_code} {type(error).__name__}: {error}")
        elif not self.sees_restricted and MARK in text:
            self.problems.append(f"{method.upper()} {url}: shows the restricted source's text to a non-member")
        elif SUCCESS.search(text) and (any(mark in text for mark in ERROR_ON_PAGE) or 'class="error"' in text):
            self.problems.append(f"{method.upper()} {url}: a success message beside an error")
        return response, text

    def post_unknown_json_keys(self, url: str, page) -> None:
        """JSON that parses but says something no input knows: either a field error, or (for a
        free-form JSON field) accepted, but never an error and a success at once, wherever the
        person lands."""
        names = json_fields(page)
        if not names:
            return
        data, _ = form_data(page, break_fields=False)
        data.update({name: UNKNOWN_KEY_JSON for name in names})
        response, text = self.request("post", url, data, follow=True)
        levels = {level for level, _ in _messages(text)}
        if "error" in levels and "success" in levels:
            self.problems.append(f"POST {url} (unknown JSON keys in {names}): an error and a success at once")
        if "None" in text and "doesn" in text:
            self.problems.append(f"POST {url} (unknown JSON keys in {names}): landed on a page for id None")

    def post_form(self, url: str, page, *, what: str, break_fields: bool, blank: bool = False):
        """Post the form the page `page` rendered; returns the response's text."""
        data, broken = form_data(page, break_fields=break_fields)
        if blank:
            data = {key: value for key, value in data.items() if "-" in key and key.endswith("FORMS")}
        if break_fields and not broken:
            return  # nothing on this form can be wrong
        response, text = self.request("post", url, data)
        if response.status_code >= 500:
            return
        expects_errors = blank or break_fields
        if expects_errors and response.status_code == 302:
            # Accepted: only fine for a blank form whose fields are all optional.
            if break_fields:
                self.problems.append(f"POST {url} ({what}): accepted wrong input in {broken}")
            else:
                self.request("get", response["Location"])  # the page the person lands on
            return
        if expects_errors and response.status_code == 200:
            self.check_refusal(url, response, text, what=what, typed=data if break_fields else None)

    def check_refusal(self, url: str, response, text: str, *, what: str, typed: dict | None):
        """A re-rendered form says what is wrong, field by field, and keeps what was typed (`typed`:
        the data posted, when wrong input was typed)."""
        if not any(mark in text for mark in ERROR_ON_PAGE):
            self.problems.append(f"POST {url} ({what}): re-rendered without saying what is wrong")
        form = form_of(response)
        if form is not None and not form.errors:
            self.problems.append(f"POST {url} ({what}): no field-level error")
        if typed is not None:
            for value in (BROKEN_JSON, TYPED):
                if value in str(typed.values()) and escape(value) not in text and value not in text:
                    self.problems.append(f"POST {url} ({what}): lost the input {value!r}")


def _messages(text: str) -> list[tuple[str, str]]:
    return re.findall(r'<li class="(success|error|warning|info)">(.*?)</li>', text, flags=re.S)


def _has_form(response) -> bool:
    return response.status_code == 200 and form_of(response) is not None


def walk_admin(visit: Visit, objects: dict) -> None:
    for model, _model_admin in admin_site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        visit.request("get", reverse(f"{info}_changelist"))

        add_url = reverse(f"{info}_add")
        response, _ = visit.request("get", add_url, follow=True)
        if _has_form(response):
            url = response.redirect_chain[-1][0] if response.redirect_chain else add_url
            visit.post_form(url, response, what="empty add form", break_fields=False, blank=True)
            visit.post_form(url, response, what="wrong add form", break_fields=True)
            visit.post_unknown_json_keys(url, response)

        instance = objects.get(model)
        if instance is None and not _reaches_a_source(model):
            instance = model._default_manager.order_by("pk").first()  # users, groups, terms: any row will do
        if instance is None:
            continue
        try:
            change_url = reverse(f"{info}_change", args=[instance.pk])
        except NoReverseMatch:
            continue
        response, _ = visit.request("get", change_url)
        if _has_form(response) and response.context["adminform"].form.fields:
            visit.post_form(change_url, response, what="wrong change form", break_fields=True)


@pytest.mark.parametrize("role", ["superuser", Role.ADMIN, Role.DATA_MANAGER, Role.ML_ENGINEER])
def test_every_admin_page_works_or_is_not_offered(world, make_user, role):
    if role == "superuser":
        person = make_user(None, is_staff=True, is_superuser=True)
    else:
        person = make_user(role)
    sees_restricted = role in ("superuser", Role.ADMIN)
    visit = Visit(person, sees_restricted=sees_restricted)

    walk_admin(visit, world.public_objects)
    walk_admin(visit, world.restricted_objects)

    print(f"admin walk as {role}: {visit.pages} requests, {len(visit.problems)} problems")
    assert not visit.problems, f"as {role}:\n" + "\n".join(visit.problems)
    assert visit.pages > 3 * len(admin_site._registry)


def test_a_bad_split_plan_is_a_field_error_that_keeps_the_input(world, make_user):
    client = Client()
    client.force_login(make_user(Role.DATA_MANAGER))
    url = reverse("admin:releases_datasetversion_add")
    typed_plan = '{"train": 0.9, "val": 0.3, "test": 0.1}'

    response = client.post(url, {"title": "spring release", "selection": "{}", "split_plan": typed_plan})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "sum to 1" in " ".join(errors["split_plan"])
    assert escape(typed_plan) in response.content.decode() or typed_plan in response.content.decode()
    assert "spring release" in response.content.decode()
    assert not SUCCESS.search(response.content.decode())


def test_a_selection_naming_a_hidden_source_is_a_field_error(world, make_user):
    client = Client()
    client.force_login(make_user(Role.DATA_MANAGER))  # not a member of the restricted source
    selection = f'{{"sources": [{world.restricted.pk}]}}'

    response = client.post(
        reverse("admin:releases_datasetversion_add"), {"title": "x", "selection": selection, "split_plan": "{}"}
    )

    assert response.status_code == 200
    assert f"no source with id(s) {world.restricted.pk}" in " ".join(
        response.context["adminform"].form.errors["selection"]
    )


def test_a_good_version_form_freezes_a_version(world, make_user):
    from releases.models import DatasetVersion

    client = Client()
    client.force_login(make_user(Role.DATA_MANAGER))
    response = client.post(
        reverse("admin:releases_datasetversion_add"),
        {
            "title": "autumn",
            "selection": f'{{"sources": [{world.public.pk}]}}',
            "split_plan": '{"train": 1, "val": 0, "test": 0}',
        },
    )

    version = DatasetVersion.objects.get(title="autumn")
    assert response.status_code == 302
    assert response["Location"].endswith(reverse("admin:releases_datasetversion_changelist"))
    assert version.sample_count >= 1


def test_a_wrong_caption_filter_is_a_field_error_that_keeps_the_input(world, make_user):
    client = Client()
    client.force_login(make_user(Role.DATA_MANAGER))
    typed = '{"states": ["finished"], "limit": 5}'

    response = client.post(
        reverse("admin:captioning_captionjob_add"), {"captioner": "template", "languages": "en", "filters": typed}
    )

    assert response.status_code == 200
    assert "unknown state(s) finished" in " ".join(response.context["adminform"].form.errors["filters"])
    assert escape(typed) in response.content.decode()
    assert not SUCCESS.search(response.content.decode())


def test_an_annotation_page_shows_its_audit_trail_as_a_timeline(world, make_user):
    from annotation.models import Annotation, AuditEvent

    annotation = world.public_objects[Annotation]
    client = Client()
    client.force_login(make_user(Role.DATA_MANAGER))

    page = client.get(reverse("admin:annotation_annotation_change", args=[annotation.pk])).content.decode()

    assert "audit timeline" in page.lower()
    events = AuditEvent.objects.filter(annotation=annotation)
    assert page.count("<tr><td>20") == events.count()  # one row per event, each starting with its date
    assert all(action in page for action in events.values_list("action", flat=True))


def test_the_import_job_list_offers_no_add_and_says_where_imports_start(make_user):
    client = Client()
    client.force_login(make_user(Role.DATA_MANAGER))

    page = client.get(reverse("admin:catalog_importjob_changelist")).content.decode()

    assert reverse("admin:catalog_importjob_add") not in page
    assert "manage.py import_dataset" in page and "POST /api/import-jobs/" in page
    assert client.get(reverse("admin:catalog_importjob_add")).status_code == 403
