"""The review pages on the server side: sign-in, home, claim next, the work page's shell, the
sample browser and the language switch (the browser tests in tests/browser drive the scripts)."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.services import user_assign_role
from annotation.models import Annotation, AnnotationState
from annotation.web import sample_browser, selectors

from .conftest import drive, enqueue
from .factories import box_mask, make_sample, make_source

pytestmark = pytest.mark.django_db


def page_data(response) -> dict:
    """The JSON the work page embeds for its scripts."""
    html = response.content.decode()
    start = html.index('<script id="work-data" type="application/json">') + len(
        '<script id="work-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def signed_in(client, make_user):
    def sign_in(role=None, user=None, **fields):
        user = user or make_user(role, **fields)
        client.force_login(user)
        return user

    return sign_in


def test_anonymous_visitors_are_sent_to_the_sign_in_page(client):
    response = client.get(reverse("review:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("review:login"))


def test_signing_in_with_the_form_leads_home(client, make_user):
    make_user(Role.ANNOTATOR, username="ana")
    response = client.post(reverse("review:login"), {"username": "ana", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == reverse("review:home")
    assert "ana" in client.get(reverse("review:home")).content.decode()


def test_a_wrong_password_is_named_on_the_sign_in_page(client, make_user):
    make_user(Role.ANNOTATOR, username="ana")
    response = client.post(reverse("review:login"), {"username": "ana", "password": "nope"})
    assert response.status_code == 200
    assert "do not match" in response.content.decode()


def test_home_counts_what_waits_in_each_of_my_stages(client, signed_in, sample, vocab):
    enqueue(sample, make_sample(), make_sample())
    signed_in(Role.ANNOTATOR)
    response = client.get(reverse("review:home"))
    queues = response.context["queues"]
    assert [(q["stage"], q["waiting"]) for q in queues] == [("annotation", 3)]
    assert 'action="/next/annotation/"' in response.content.decode()


def test_home_caps_a_long_queue(client, signed_in, monkeypatch, vocab):
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 2)
    enqueue(*(make_sample() for _ in range(4)))
    signed_in(Role.ANNOTATOR)
    response = client.get(reverse("review:home"))
    assert "2+" in response.content.decode()


def test_next_leases_the_next_sample_and_opens_its_work_page(client, signed_in, annotation):
    user = signed_in(Role.ANNOTATOR)
    response = client.post(reverse("review:next", args=["annotation"]))
    assert response.status_code == 302 and response["Location"] == reverse("review:work", args=[annotation.pk])
    annotation.refresh_from_db()
    assert annotation.state == AnnotationState.IN_ANNOTATION and annotation.lease_holder == user


def test_next_on_an_empty_queue_goes_home_and_says_so(client, signed_in):
    signed_in(Role.ANNOTATOR)
    response = client.post(reverse("review:next", args=["annotation"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review:home")
    assert "Nothing is left for you" in response.content.decode()


def test_next_without_the_stages_role_is_refused_with_a_message(client, signed_in, annotation):
    signed_in(Role.ANNOTATOR)
    response = client.post(reverse("review:next", args=["review"]), follow=True)
    assert "Your role does not allow this step." in response.content.decode()
    annotation.refresh_from_db()
    assert annotation.lease_holder is None


def test_next_is_a_post_only(client, signed_in, annotation):
    signed_in(Role.ANNOTATOR)
    assert client.get(reverse("review:next", args=["annotation"])).status_code == 405


def test_the_work_page_of_a_held_sample_is_in_its_stage(client, signed_in, annotation):
    signed_in(Role.ANNOTATOR)
    client.post(reverse("review:next", args=["annotation"]))
    response = client.get(reverse("review:work", args=[annotation.pk]))
    data = page_data(response)
    assert data["mode"] == "annotation"
    assert data["urls"]["next"] == reverse("review:next", args=["annotation"])
    assert [f["name"] for f in data["template"]] == [
        "product",
        "materials",
        "defect_types",
        "locations",
        "morphology",
        "root_causes",
    ]
    assert data["detail"]["content"]["regions"][0]["defect_type"]["slug"] == "def-scratch"
    assert data["detail"]["sample_info"]["width"] == 40


def test_a_sample_someone_else_may_claim_is_shown_read_only_with_a_claim_button(
    client, signed_in, annotation, people, vocab
):
    drive(annotation, people, vocab, to="submitted")
    signed_in(Role.REVIEWER)
    data = page_data(client.get(reverse("review:work", args=[annotation.pk])))
    assert data["mode"] == "view" and data["claimable"] == "review"


def test_the_annotator_cannot_claim_their_own_submitted_sample_for_review(client, annotation, people, vocab):
    drive(annotation, people, vocab, to="submitted")
    client.force_login(people.annotator)
    data = page_data(client.get(reverse("review:work", args=[annotation.pk])))
    assert data["mode"] == "view" and data["claimable"] is None


def test_an_annotator_who_also_reviews_gets_no_claim_button_on_their_own_submitted_sample(
    client, annotation, people, vocab
):
    drive(annotation, people, vocab, to="submitted")
    user_assign_role(user=people.annotator, role=Role.REVIEWER)
    client.force_login(people.annotator)
    data = page_data(client.get(reverse("review:work", args=[annotation.pk])))
    assert data["mode"] == "view" and data["claimable"] is None


def test_an_expert_who_already_voted_on_the_current_revision_gets_no_claim_button(client, annotation, people, vocab):
    drive(annotation, people, vocab, to="in_consensus")
    client.force_login(people.expert1)
    data = page_data(client.get(reverse("review:work", args=[annotation.pk])))
    assert data["mode"] == "view" and data["claimable"] is None


def test_the_annotator_whose_lease_ran_out_is_offered_the_claim_again(client, annotation, people, vocab):
    # Back from lunch: the lease expired, nobody has claimed the sample since; the claim would
    # succeed (it returns the expired lease to the queue first), so the page offers it.
    drive(annotation, people, vocab, to="in_annotation")
    Annotation.objects.filter(pk=annotation.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(people.annotator)
    data = page_data(client.get(reverse("review:work", args=[annotation.pk])))
    assert data["mode"] == "view" and data["claimable"] == "annotation"


def test_a_restricted_sample_is_not_found_for_outsiders(client, signed_in, vocab):
    hidden = enqueue(make_sample(make_source("partner", restricted=True)))[0]
    signed_in(Role.ANNOTATOR)
    assert client.get(reverse("review:work", args=[hidden.pk])).status_code == 404


def test_the_sample_browser_is_for_data_managers(client, signed_in):
    signed_in(Role.ANNOTATOR)
    assert client.get(reverse("review:samples")).status_code == 403


def test_a_sample_number_that_is_not_there_opens_a_page_in_my_language_with_the_way_home(client, signed_in, vocab):
    # "Go to #" with a mistyped number, or one of a partner's samples: the review pages' own
    # page in the person's language, not Django's bare English one.
    hidden = enqueue(make_sample(make_source("partner", restricted=True)))[0]
    signed_in(Role.ANNOTATOR, preferred_language="ja")
    response = client.get(reverse("review:work", args=[hidden.pk]))
    html = response.content.decode()
    assert response.status_code == 404
    assert "ページが見つかりません" in html and reverse("review:home") in html


def test_a_page_of_another_role_is_refused_in_my_language(client, signed_in):
    signed_in(Role.EXPERT, preferred_language="zh-hans")
    response = client.get(reverse("review:samples"))
    html = response.content.decode()
    assert response.status_code == 403
    assert "你的角色无法打开此页面" in html and reverse("review:home") in html


def test_the_sample_browser_filters_by_status_and_names_a_bad_filter(client, signed_in, annotation, vocab):
    waiting = annotation
    loose = make_sample()
    signed_in(Role.DATA_MANAGER)
    response = client.get(reverse("review:samples"), {"status": "unassigned"})
    assert [row["sample"].pk for row in response.context["rows"]] == [waiting.pk]
    response = client.get(reverse("review:samples"), {"status": "none"})
    assert [row["sample"].pk for row in response.context["rows"]] == [loose.pk]
    response = client.get(reverse("review:samples"), {"status": "lost", "synthetic": "maybe"})
    assert response.context["filters"].errors == {"status": "lost", "synthetic": "maybe"}
    assert "status=lost" in response.content.decode()


def test_the_sample_browser_filters_by_defect_type_stage_source_and_language(client, signed_in, vocab):
    other_source = make_source("other")
    scratched = make_sample(regions=(("scratch", box_mask(40, 30, 1, 1, 5, 5)),))
    cracked = make_sample(other_source, regions=(("crack", box_mask(40, 30, 1, 1, 5, 5)),), language="zh")
    enqueue(scratched, cracked)
    signed_in(Role.DATA_MANAGER)

    def listed(**query):
        return [row["sample"].pk for row in client.get(reverse("review:samples"), query).context["rows"]]

    assert listed(defect_type=vocab.scratch.pk) == [scratched.pk]
    assert listed(source=other_source.pk) == [cracked.pk]
    assert listed(language="zh") == [cracked.pk]
    assert listed(stage="annotation") == [cracked.pk, scratched.pk]
    assert listed(stage="review") == []


def test_the_sample_browser_pages_by_keyset_both_ways(client, signed_in, monkeypatch):
    monkeypatch.setattr(sample_browser, "BROWSER_PAGE_SIZE", 2)
    ids = [make_sample().pk for _ in range(5)]  # newest first: ids[4], ids[3], ...
    user = signed_in(Role.DATA_MANAGER)
    first = sample_browser.sample_page(user, sample_browser.SampleFilters(), size=2)
    assert [s.pk for s in first.samples] == [ids[4], ids[3]] and first.previous_before is None
    second = sample_browser.sample_page(user, sample_browser.SampleFilters(), after=first.next_after, size=2)
    assert [s.pk for s in second.samples] == [ids[2], ids[1]]
    last = sample_browser.sample_page(user, sample_browser.SampleFilters(), after=second.next_after, size=2)
    assert [s.pk for s in last.samples] == [ids[0]] and last.next_after is None
    back = sample_browser.sample_page(user, sample_browser.SampleFilters(), before=last.previous_before, size=2)
    assert [s.pk for s in back.samples] == [ids[2], ids[1]]
    response = client.get(reverse("review:samples"), {"after": first.next_after})
    html = response.content.decode()
    assert f"before={ids[2]}" in html and f"after={ids[1]}" in html


def test_switching_the_language_is_remembered_on_the_user(client, signed_in):
    user = signed_in(Role.ANNOTATOR)
    response = client.post(reverse("review:language"), {"language": "zh-hans", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    user.refresh_from_db()
    assert user.preferred_language == "zh-hans"
    assert response.cookies["django_language"].value == "zh-hans"
    html = client.get(reverse("review:home")).content.decode()
    assert '<html lang="zh-hans">' in html and "我的队列" in html


def test_the_users_language_wins_over_the_browsers(client, signed_in):
    signed_in(Role.ANNOTATOR, preferred_language="ja")
    response = client.get(reverse("review:home"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert '<html lang="ja">' in response.content.decode() and "マイキュー" in response.content.decode()
    assert response.cookies["django_language"].value == "ja"


def test_an_unknown_language_is_refused(client, signed_in):
    signed_in(Role.ANNOTATOR)
    response = client.post(reverse("review:language"), {"language": "xx"})
    assert response.status_code == 400 and b"unknown language 'xx'" in response.content


def test_the_language_switch_does_not_redirect_off_site(client, signed_in):
    signed_in(Role.ANNOTATOR)
    response = client.post(reverse("review:language"), {"language": "ja", "next": "https://evil.example/"})
    assert response["Location"] == reverse("review:home")


def test_my_figures_count_my_finished_work(client, annotation, people, vocab):
    drive(annotation, people, vocab, to="verified")
    client.force_login(people.annotator)
    figures = client.get(reverse("review:home")).context["figures"]
    assert figures.annotator == {
        "submitted": 1,
        "reviewed": 1,
        "first_pass": 1,
        "verified": 1,
        "rejected": 0,
        "first_pass_share": 100.0,
    }
    client.force_login(people.expert1)
    figures = client.get(reverse("review:home")).context["figures"]
    assert figures.expert == {"votes": 1, "decided": 1, "agreed": 1, "agreed_share": 100.0}


def test_recent_work_lists_my_claims_newest_first(client, annotation, people, vocab):
    drive(annotation, people, vocab, to="submitted")
    client.force_login(people.annotator)
    recent = client.get(reverse("review:home")).context["recent"]
    assert [(r["claim"].annotation_id, r["claim"].stage, r["claim"].outcome) for r in recent] == [
        (annotation.pk, "annotation", "done")
    ]
    assert Annotation.objects.get(pk=annotation.pk).state == AnnotationState.SUBMITTED


def test_samples_sent_back_come_first_and_a_sample_is_listed_once(client, annotation, people, vocab):
    from annotation import services

    drive(annotation, people, vocab, to="changes_requested")
    client.force_login(people.annotator)
    html = client.get(reverse("review:home")).content.decode()
    assert html.index("Sent back to you") < html.index("My queues")
    assert f'data-sample="{annotation.pk}"' in html
    # Claimed again for the changes: two claims of one sample, one row of recent work.
    services.annotation_claim(user=people.annotator, sample_id=annotation.pk)
    recent = client.get(reverse("review:home")).context["recent"]
    assert [row["claim"].annotation_id for row in recent] == [annotation.pk]
    assert client.get(reverse("review:home")).context["sent_back"][0].pk == annotation.pk


def test_a_data_managers_home_leads_to_the_table_and_dashboards(client, signed_in, annotation):
    signed_in(Role.DATA_MANAGER)
    html = client.get(reverse("review:home")).content.decode()
    assert "You have no annotation" not in html
    assert reverse("review:samples") in html and reverse("review:dashboards") in html
    assert "Backlog now" in html


def test_a_skip_that_found_nothing_says_so_at_home(client, signed_in):
    signed_in(Role.ANNOTATOR)
    response = client.get(reverse("review:home"), {"empty": "annotation"})
    assert "Nothing is left for you in the Annotation queue." in response.content.decode()
    assert "Nothing is left" not in client.get(reverse("review:home"), {"empty": "<script>"}).content.decode()
