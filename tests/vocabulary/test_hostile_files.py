"""Vocabulary files as people (and attackers) make them: refused with a message naming the row,
never half-loaded and never a database traceback."""

import json

import pytest

from vocabulary import services
from vocabulary.formats import records_from_csv, records_from_json, records_to_csv, records_to_json
from vocabulary.models import Term
from vocabulary.records import TermRecord, VocabularyFileError, validation_problems

pytestmark = pytest.mark.django_db


def term(**changes) -> dict:
    data = {
        "slug": "def-test",
        "facet": "defect_type",
        "labels": {"en": "test defect", "zh": "测试缺陷", "ja": "テスト欠陥"},
        "aliases": {"en": ["tests"]},
        "definition": "A test term.",
    }
    data.update(changes)
    return data


def document(*terms: dict) -> str:
    return json.dumps({"format": "imdd-vocabulary", "format_version": 1, "terms": list(terms)}, ensure_ascii=False)


def problems_of(text: str, reader=records_from_json) -> list[str]:
    with pytest.raises(VocabularyFileError) as error:
        reader(text)
    return error.value.problems


def test_a_string_where_a_list_of_aliases_belongs_is_refused_not_split_into_letters():
    problems = problems_of(document(term(aliases={"en": "abc"})))
    assert problems == ["term 1 (def-test): aliases.en must be a list of strings, not str"]


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"labels": {"en": "bad\x00label", "zh": "测", "ja": "テ"}},
            "term 1 (def-test): labels.en contains a NUL byte",
        ),
        ({"aliases": {"zh": ["ok", "x\x00"]}}, "term 1 (def-test): aliases.zh[1] contains a NUL byte"),
        ({"definition": "d\x00"}, "term 1 (def-test): definition contains a NUL byte"),
        (
            {"labels": {"en": "x" * 201, "zh": "测", "ja": "テ"}},
            "term 1 (def-test): labels.en is 201 characters long (at most 200)",
        ),
        ({"aliases": {"en": ["y" * 300]}}, "term 1 (def-test): aliases.en[0] is 300 characters long (at most 200)"),
        ({"slug": "s" * 101}, "slug is 101 characters long (at most 100)"),
        (
            {"labels": {"en": ["a list"], "zh": "测", "ja": "テ"}},
            "term 1 (def-test): labels.en must be a string, not list",
        ),
        (
            {"aliases": {"en": [{"text": "copper", "context": "dom-pcb"}]}},
            "aliases.en[0].context must be a list of term slugs",
        ),
    ],
)
def test_bad_values_are_refused_with_the_row_named(changes, expected):
    problems = problems_of(document(term(**changes)))
    assert any(expected in problem for problem in problems), problems


def test_every_bad_row_of_a_csv_file_is_listed_and_nothing_loads():
    good = TermRecord(slug="def-good", facet="defect_type", labels={"en": "g", "zh": "好", "ja": "良"}, definition="d")
    text = records_to_csv([good]).replace("def-good", "def-a", 1)
    text += text.splitlines()[1].replace("def-a", "def-b").replace("g,", "g\x00,", 1) + "\n"
    text += "def-c,defect_type,,approved,," + "x" * 250 + ",好,良,,,,d\n"
    problems = problems_of(text, records_from_csv)
    assert any(p.startswith("row 3") and "NUL" in p for p in problems), problems
    assert any(p.startswith("row 4") and "250 characters" in p for p in problems), problems
    assert not Term.objects.exists()


def test_a_json_file_with_a_byte_order_mark_reads_like_one_without():
    text = document(term())
    assert [r.slug for r in records_from_json("\ufeff" + text)] == [r.slug for r in records_from_json(text)]


def test_a_loaded_file_with_a_bad_value_leaves_the_database_untouched(vocabulary):
    before = Term.objects.count()
    with pytest.raises(VocabularyFileError):
        services.vocabulary_load(records=records_from_json(document(term(), term(slug="def-x", definition="\x00"))))
    assert Term.objects.count() == before


def test_the_cycle_check_finds_a_cycle_at_the_end_of_a_long_chain():
    chain = [
        TermRecord(
            slug=f"loc-{index}",
            facet="location",
            labels={"en": f"l{index}", "zh": f"位{index}", "ja": f"位{index}"},
            definition="d",
            parent=f"loc-{index + 1}" if index < 1999 else "loc-1990",
        )
        for index in range(2000)
    ]
    problems = [p for p in validation_problems(chain) if "cycle" in p]
    assert len(problems) == 1 and "loc-1990 -> " in problems[0]


def test_ambiguous_aliases_round_trip_through_json_csv_and_the_database(vocabulary):
    copper = next(r for r in services.vocabulary_records() if r.slug == "def-spurious-copper")
    assert copper.alias_context("en", "copper") == ["dom-pcb-fabrication", "dom-pcb-assembly"]
    for write, read in ((records_to_json, records_from_json), (records_to_csv, records_from_csv)):
        again = next(r for r in read(write([copper])) if r.slug == copper.slug)
        assert again.as_dict() == copper.as_dict(), write.__name__


def test_an_ambiguous_alias_naming_an_unknown_context_term_is_refused():
    record = TermRecord(
        slug="def-x",
        facet="defect_type",
        labels={"en": "x", "zh": "叉", "ja": "バツ"},
        definition="d",
        aliases={"en": ["ex"]},
        contexts={"en": {"ex": ["dom-nowhere"]}},
    )
    assert validation_problems([record]) == ["def-x: en alias 'ex' names unknown context term(s) ['dom-nowhere']"]
