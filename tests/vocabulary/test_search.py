"""Term search (selectors.term_search): what experts type finds the terms they mean, best first.

English matches at the start of any word of a name ("steel" finds "stainless steel", "teel" finds
nothing); Chinese and Japanese match anywhere in a name, since their head noun ends a compound
(钢 finds 不锈钢, 亀裂 finds 表面亀裂).
"""

import pytest

from accounts.roles import Role
from vocabulary import selectors, services
from vocabulary.records import TermRecord

pytestmark = pytest.mark.django_db

# slug -> facet, (en, zh, ja) labels, English aliases
TERMS = {
    "mat-steel": ("material", ("steel", "钢", "鋼"), []),
    "mat-steel-wire": ("material", ("steel wire", "钢丝", "鋼線"), []),
    "mat-stainless-steel": ("material", ("stainless steel", "不锈钢", "ステンレス鋼"), ["inox"]),
    "mat-carbon-steel": ("material", ("carbon steel", "碳钢", "炭素鋼"), []),
    "mat-galvanized-steel": ("material", ("galvanized steel", "镀锌钢", "亜鉛めっき鋼"), []),
    "def-crack": ("defect_type", ("crack", "裂纹", "亀裂"), []),
    "def-hairline-crack": ("defect_type", ("hairline crack", "发丝裂纹", "ヘアラインクラック"), []),
    "def-surface-crack": ("defect_type", ("surface crack", "表面裂纹", "表面亀裂"), []),
    # Sorts before "hairline crack" by label, but only an alias starts with "hair".
    "def-fine-crack": ("defect_type", ("fine crack", "细裂纹", "微細亀裂"), ["hair-like crack"]),
}
LANGUAGES = ("en", "zh", "ja")
STEELS = {"mat-steel", "mat-steel-wire", "mat-stainless-steel", "mat-carbon-steel", "mat-galvanized-steel"}


@pytest.fixture
def terms(db):
    services.vocabulary_load(
        records=[
            TermRecord(
                slug=slug,
                facet=facet,
                labels=dict(zip(LANGUAGES, labels, strict=True)),
                aliases={"en": aliases},
                definition=f"A {labels[0]}.",
            )
            for slug, (facet, labels, aliases) in TERMS.items()
        ]
    )


def found(query: str, **options) -> set[str]:
    return set(selectors.term_search(query=query, **options).values_list("slug", flat=True))


def ordered(query: str, **options) -> list[str]:
    return list(selectors.term_search(query=query, **options).values_list("slug", flat=True))


def _labels(language: str) -> dict[str, str]:
    return {slug: labels[LANGUAGES.index(language)] for slug, (_, labels, _) in TERMS.items()}


def _holding(language: str, part: str) -> set[str]:
    """The terms whose label in `language` holds `part` where the search should find it: at a word
    start in English, anywhere in Chinese and Japanese."""
    if language == "en":
        return {slug for slug, label in _labels(language).items() if any(w.startswith(part) for w in label.split())}
    return {slug for slug, label in _labels(language).items() if part in label}


# Per language: the start of "stainless steel", its head noun and crack's, a piece from inside a
# word, and a material the vocabulary does not hold.
QUERIES = {
    "en": {"prefix": "stain", "head": ("steel", "crack"), "inside": "teel", "absent": "copper"},
    "zh": {"prefix": "不锈", "head": ("钢", "裂纹"), "inside": "锈", "absent": "铜"},
    "ja": {"prefix": "ステン", "head": ("鋼", "亀裂"), "inside": "ンレス", "absent": "銅"},
}
MATRIX = [
    pytest.param(language, kind, query, id=f"{language}-{kind}-{query}")
    for language, queries in QUERIES.items()
    for kind in ("prefix", "head", "inside", "absent")
    for query in (queries[kind] if kind == "head" else (queries[kind],))
]


@pytest.mark.parametrize("language, kind, query", MATRIX)
def test_search_finds_names_by_word_start_in_english_and_anywhere_in_chinese_and_japanese(terms, language, kind, query):
    expected = _holding(language, query)
    if kind == "prefix":
        assert expected == {"mat-stainless-steel"}
    elif kind == "head":
        assert len(expected) >= 3  # the compounds, not only the bare head noun
    elif kind == "inside":
        # A piece of a word: noise in English, a real part of a compound in Chinese and Japanese.
        assert expected == (set() if language == "en" else {"mat-stainless-steel"})
    else:
        assert expected == set()

    assert found(query) == expected


@pytest.mark.parametrize("query", ["STEEL", "Steel", "ｓｔｅｅｌ", "  steel "])
def test_search_folds_the_query_as_the_names_are_folded(terms, query):
    assert found(query) == STEELS


@pytest.mark.parametrize(
    "query, expected",
    [
        ("steel wi", "mat-steel-wire"),
        ("wire", "mat-steel-wire"),
        ("hair-like", "def-fine-crack"),
        ("like c", "def-fine-crack"),
    ],
)
def test_search_finds_a_phrase_at_a_word_start(terms, query, expected):
    assert found(query) == {expected}


def test_search_orders_exact_name_then_name_start_then_word_matches(terms):
    # Exact, starts with "steel", then the compounds by label (carbon, galvanized, stainless).
    assert ordered("steel") == [
        "mat-steel",
        "mat-steel-wire",
        "mat-carbon-steel",
        "mat-galvanized-steel",
        "mat-stainless-steel",
    ]


@pytest.mark.parametrize("query", ["钢", "鋼"])
def test_search_orders_chinese_and_japanese_the_same_way(terms, query):
    assert ordered(query)[:2] == ["mat-steel", "mat-steel-wire"]
    assert set(ordered(query)[2:]) == {"mat-carbon-steel", "mat-galvanized-steel", "mat-stainless-steel"}


def test_search_puts_a_label_match_before_an_alias_match_of_the_same_kind(terms):
    # Both names start with "hair"; "fine crack" would come first by label, but only its alias matches.
    assert ordered("hair") == ["def-hairline-crack", "def-fine-crack"]


def test_search_breaks_ties_by_facet_then_label(terms):
    # Names starting with "c" (facet first: defect_type before material), then names with a word that does.
    assert ordered("c") == [
        "def-crack",
        "mat-carbon-steel",
        "def-fine-crack",
        "def-hairline-crack",
        "def-surface-crack",
    ]


def test_search_keeps_the_facet_filter(terms):
    assert found("steel", facet="defect_type") == set()
    assert found("裂纹", facet="defect_type") == {
        "def-crack",
        "def-hairline-crack",
        "def-surface-crack",
        "def-fine-crack",
    }


def test_autocomplete_returns_the_best_matches_first(client_for, terms):
    response = client_for(Role.ANNOTATOR).get("/api/vocabulary/autocomplete/", {"q": "steel", "limit": 2})

    assert response.status_code == 200
    assert [term["slug"] for term in response.json()] == ["mat-steel", "mat-steel-wire"]


def test_term_list_filters_by_word_and_by_chinese_substring(client_for, terms):
    api = client_for(Role.ANNOTATOR)

    by_word = api.get("/api/vocabulary/terms/", {"q": "crack"})
    by_substring = api.get("/api/vocabulary/terms/", {"q": "裂纹"})

    cracks = {"def-crack", "def-hairline-crack", "def-surface-crack", "def-fine-crack"}
    assert {term["slug"] for term in by_word.json()["results"]} == cracks
    assert {term["slug"] for term in by_substring.json()["results"]} == cracks


@pytest.mark.parametrize(
    "query, facet, first",
    [
        ("alum", "material", "mat-aluminium-alloy"),
        ("stainless", "material", "mat-stainless-steel"),
        ("裂纹", "defect_type", "def-crack"),
        ("亀裂", "defect_type", "def-crack"),
    ],
)
def test_typeahead_first_choice_on_the_bundled_vocabulary(client_for, vocabulary, query, facet, first):
    # The typeahead shows the server's order and Enter takes the first term.
    response = client_for(Role.ANNOTATOR).get("/api/vocabulary/autocomplete/", {"q": query, "facet": facet})

    assert [term["slug"] for term in response.json()][0] == first
