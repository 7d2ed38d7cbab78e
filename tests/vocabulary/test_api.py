import pytest

from accounts.roles import Role
from vocabulary.models import Term, TermStatus, VocabularyVersion

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "prefix, expected",
    [
        ("scra", "def-scratch"),
        ("ｓｃｒａ", "def-scratch"),  # fullwidth, as a Chinese or Japanese keyboard may type it
        ("划", "def-scratch"),
        ("スクラ", "def-scratch"),
        ("rolled-in", "def-rolled-in-scale"),
    ],
)
def test_autocomplete_by_prefix_in_any_language(client_for, vocabulary, prefix, expected):
    response = client_for(Role.ANNOTATOR).get("/api/vocabulary/autocomplete/", {"q": prefix, "facet": "defect_type"})

    assert response.status_code == 200
    slugs = [t["slug"] for t in response.json()]
    assert expected in slugs
    scratch = next(t for t in response.json() if t["slug"] == expected)
    assert set(scratch["labels"]) == {"en", "zh", "ja"}


def test_autocomplete_costs_a_fixed_number_of_queries(client_for, vocabulary, django_assert_max_num_queries):
    # Its speed is measured by `make bench` (normalizer); here only what keeps it fast: the number of
    # queries does not grow with the number of matching terms or languages.
    api = client_for(Role.ANNOTATOR)
    api.get("/api/vocabulary/autocomplete/", {"q": "s"})  # session and caches
    for prefix in ("s", "sc", "cr", "划", "傷", "rust", "edge", "左"):
        with django_assert_max_num_queries(4):
            assert api.get("/api/vocabulary/autocomplete/", {"q": prefix}).status_code == 200


def test_term_list_filters_and_detail(client_for, vocabulary):
    api = client_for(Role.ANNOTATOR)

    listed = api.get("/api/vocabulary/terms/", {"facet": "location", "page_size": 1000}).json()["results"]
    detail = api.get("/api/vocabulary/terms/def-scratch/").json()

    assert len(listed) >= 30 and {t["facet"] for t in listed} == {"location"}
    assert detail["parent"] == "dcat-surface-damage"
    assert "スクラッチ" in detail["aliases"]["ja"]
    assert api.get("/api/vocabulary/terms/", {"facet": "smell"}).status_code == 400


def test_term_lifecycle_through_the_api(client_for, vocabulary):
    curator = client_for(Role.DATA_MANAGER)
    proposal = {
        "slug": "def-rub-mark",
        "facet": "defect_type",
        "parent": "dcat-surface-damage",
        "labels": {"en": "rubbing scar", "zh": "蹭痕", "ja": "こすれ跡"},
        "aliases": {"en": ["rubbing mark"]},
        "definition": "A dull mark left where a surface was rubbed by another part.",
    }

    created = curator.post("/api/vocabulary/terms/", proposal, format="json")
    approved = curator.post("/api/vocabulary/terms/def-rub-mark/approve/")
    deprecated = curator.post(
        "/api/vocabulary/terms/def-rub-mark/deprecate/", {"replacement": "def-scuff"}, format="json"
    )

    assert created.status_code == 201, created.json()
    assert created.json()["status"] == TermStatus.PROPOSED
    assert approved.json()["status"] == TermStatus.APPROVED
    assert deprecated.json()["status"] == TermStatus.DEPRECATED and deprecated.json()["replaced_by"] == "def-scuff"


def test_deprecating_in_favour_of_a_deprecated_term_is_refused(client_for, vocabulary):
    curator = client_for(Role.DATA_MANAGER)
    curator.post("/api/vocabulary/terms/def-scuff/deprecate/", {"replacement": "def-scratch"}, format="json")

    response = curator.post("/api/vocabulary/terms/def-dent/deprecate/", {"replacement": "def-scuff"}, format="json")

    assert response.status_code == 400 and "deprecated" in response.json()["errors"]["replacement"][0]


def test_annotators_cannot_curate(client_for, vocabulary):
    annotator = client_for(Role.ANNOTATOR)
    assert (
        annotator.post("/api/vocabulary/terms/def-scratch/deprecate/", {"replacement": "def-scuff"}).status_code == 403
    )
    assert annotator.post("/api/vocabulary/versions/", {"note": "x"}).status_code == 403


def test_versions_are_immutable_and_diffed(client_for, vocabulary):
    curator = client_for(Role.DATA_MANAGER)
    curator.post("/api/vocabulary/terms/def-scuff/deprecate/", {"replacement": "def-scratch"}, format="json")
    Term.objects.filter(slug="def-dent").update(definition="A shallow depression pressed into a surface.")
    curator.post(
        "/api/vocabulary/terms/",
        {
            "slug": "def-rub-mark",
            "facet": "defect_type",
            "parent": "dcat-surface-damage",
            "labels": {"en": "rubbing scar", "zh": "蹭痕", "ja": "こすれ跡"},
            "definition": "A rubbed mark.",
        },
        format="json",
    )
    curator.post("/api/vocabulary/terms/def-rub-mark/approve/")

    released = curator.post("/api/vocabulary/versions/", {"note": "second"}, format="json")
    diff = curator.get("/api/vocabulary/versions/diff/", {"from": 1, "to": 2}).json()

    assert released.status_code == 201 and released.json()["number"] == 2
    assert diff["added"] == ["def-rub-mark"]
    assert diff["deprecated"] == [{"slug": "def-scuff", "replaced_by": "def-scratch"}]
    assert diff["changed"] == [{"slug": "def-dent", "fields": ["definition"]}]
    first = VocabularyVersion.objects.get(number=1)
    assert next(t for t in first.terms if t["slug"] == "def-scuff")["status"] == TermStatus.APPROVED
    first.note = "rewritten"
    with pytest.raises(ValueError, match="cannot change"):
        first.save()


def test_normalize_and_validate_endpoints(client_for, vocabulary):
    api = client_for(Role.ANNOTATOR)

    mentions = api.post("/api/vocabulary/normalize/", {"text": "表面有划痕和 rust"}, format="json").json()["mentions"]
    report = api.post(
        "/api/vocabulary/validate-captions/", {"captions": {"en": "A scratch.", "zh": "划痕。"}}, format="json"
    ).json()

    assert {(m["text"], m["term"]) for m in mentions} >= {("划痕", "def-scratch"), ("rust", "def-rust")}
    assert report["captions"]["zh"]["terms"] == ["def-scratch"]
    assert api.post("/api/vocabulary/validate-captions/", {"captions": {"fr": "x"}}, format="json").status_code == 400


def test_the_migration_refolds_names_saved_before_fullwidth_folding(vocabulary):
    import importlib

    from django.apps import apps

    from vocabulary.models import TermName

    migration = importlib.import_module("vocabulary.migrations.0002_fold_fullwidth_names")
    term = Term.objects.get(slug="def-scratch")
    saved_before = TermName.objects.create(term=term, language="ja", text="ＰＣＢ傷", normalized="ｐｃｂ傷")
    untouched = TermName.objects.filter(term=term, language="en", is_label=True).get()

    migration.refold_names(apps, None)

    saved_before.refresh_from_db()
    assert saved_before.normalized == "pcb伤"  # fold also reads 傷 as simplified Chinese now (0004)
    assert TermName.objects.get(pk=untouched.pk).normalized == untouched.normalized
