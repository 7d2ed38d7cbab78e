"""Vocabulary files: lossless round-trips, and bad files refused whole with every problem listed."""

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import SKOS

from vocabulary import services
from vocabulary.formats import (
    BASE_IRI,
    records_from_csv,
    records_from_json,
    records_from_skos,
    records_to_csv,
    records_to_json,
    records_to_skos,
)
from vocabulary.models import Term, TermStatus
from vocabulary.records import TermRecord, VocabularyFileError

from .conftest import bundled_records

pytestmark = pytest.mark.django_db


def as_comparable(records):
    """Records as dicts with alias lists as sets (SKOS keeps no order)."""
    result = {}
    for record in records:
        data = record.as_dict()
        data["aliases"] = {
            language: {name if isinstance(name, str) else (name["text"], tuple(name["context"])) for name in names}
            for language, names in data["aliases"].items()
        }
        result[record.slug] = data
    return result


def test_json_round_trip_through_the_database_is_lossless(vocabulary):
    exported = records_to_json(services.vocabulary_records())
    assert as_comparable(records_from_json(exported)) == as_comparable(bundled_records())


def test_csv_round_trip_is_lossless(vocabulary):
    exported = records_to_csv(services.vocabulary_records())
    assert [r.as_dict() for r in records_from_csv(exported)] == [r.as_dict() for r in services.vocabulary_records()]


def test_skos_parses_back_with_rdflib_with_labels_broader_and_definitions(vocabulary):
    records = services.vocabulary_records()
    turtle = records_to_skos(records, version=1)

    graph = Graph().parse(data=turtle, format="turtle")
    scratch = URIRef(BASE_IRI + "term/def-scratch")
    assert Literal("划痕", lang="zh-Hans") in set(graph.objects(scratch, SKOS.prefLabel))
    assert Literal("スクラッチ", lang="ja") in set(graph.objects(scratch, SKOS.altLabel))
    assert graph.value(scratch, SKOS.broader) == URIRef(BASE_IRI + "term/dcat-surface-damage")
    assert str(graph.value(scratch, SKOS.definition)).endswith(".")
    assert as_comparable(records_from_skos(turtle)) == as_comparable(records)


def test_deprecation_survives_every_format(vocabulary):
    services.term_deprecate(term=Term.objects.get(slug="def-scuff"), replacement=Term.objects.get(slug="def-scratch"))
    records = services.vocabulary_records()
    for write, read in (
        (records_to_json, records_from_json),
        (records_to_csv, records_from_csv),
        (records_to_skos, records_from_skos),
    ):
        scuff = next(r for r in read(write(records)) if r.slug == "def-scuff")
        assert (scuff.status, scuff.replaced_by) == (TermStatus.DEPRECATED, "def-scratch"), write.__name__


def record(slug, facet="defect_type", parent="dcat-surface-damage", **changes):
    data = TermRecord(
        slug=slug,
        facet=facet,
        parent=parent,
        labels={"en": slug.replace("-", " "), "zh": "测试" + slug[-2:], "ja": "テスト" + slug[-2:]},
        definition="A test term.",
    )
    for name, value in changes.items():
        setattr(data, name, value)
    return data


def test_a_bad_file_is_refused_whole_with_every_problem_listed(vocabulary):
    before = Term.objects.count()
    bad = [
        record("def-new-one"),
        record("def-new-one"),  # duplicate slug
        record("def-no-zh", labels={"en": "no zh", "zh": "", "ja": "ない"}),
        record("def-odd", facet="smell"),
        record("def-loop-a", parent="def-loop-b", facet="morphology"),
        record("def-loop-b", parent="def-loop-a", facet="morphology"),
        record("def-old-a", status=TermStatus.DEPRECATED, replaced_by="def-old-b"),
        record("def-old-b", status=TermStatus.DEPRECATED, replaced_by="def-scratch"),
    ]

    with pytest.raises(VocabularyFileError) as refused:
        services.vocabulary_load(records=bad)

    problems = "\n".join(refused.value.problems)
    assert "def-new-one: duplicate slug" in problems
    assert "def-no-zh: missing zh label" in problems
    assert "def-odd: unknown facet 'smell'" in problems
    assert "cycle in parents (def-loop-a -> def-loop-b -> def-loop-a)" in problems
    assert "def-old-a: replacement 'def-old-b' is itself deprecated" in problems
    assert Term.objects.count() == before  # nothing half-loaded


def test_an_alias_shared_by_two_terms_of_one_facet_is_refused(vocabulary):
    clash = record("def-scrape-line", aliases={"en": ["scratch"], "zh": [], "ja": []})
    with pytest.raises(VocabularyFileError, match="'scratch' is also a name of def-scratch"):
        services.vocabulary_load(records=[clash])


def test_malformed_files_name_the_problem():
    with pytest.raises(VocabularyFileError, match="not valid JSON"):
        records_from_json("{")
    with pytest.raises(VocabularyFileError, match="not an imdd-vocabulary file"):
        records_from_json('{"terms": []}')
    with pytest.raises(VocabularyFileError, match="lacks column"):
        records_from_csv("name,label\nx,y\n")
    with pytest.raises(VocabularyFileError, match="not valid Turtle"):
        records_from_skos("this is not turtle {")


def test_load_and_export_commands_round_trip(tmp_path, vocabulary):
    import io

    from django.core.management import call_command

    for format_name, suffix in (("csv", "csv"), ("json", "json"), ("skos", "ttl")):
        target = tmp_path / f"vocabulary.{suffix}"
        call_command("vocabulary_export", format=format_name, output=str(target))
        out = io.StringIO()
        call_command("vocabulary_load", str(target), stdout=out)
        assert " 0 updated" in out.getvalue(), (format_name, out.getvalue())  # one's own export changes nothing
    assert Term.objects.count() == len(bundled_records())


def test_load_command_refuses_a_bad_file_and_loads_nothing(tmp_path, db):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    (tmp_path / "bad.csv").write_text("slug,facet,label_en,label_zh,label_ja,definition\nx-1,material,a,,b,c.\n")
    with pytest.raises(CommandError, match="(?s)nothing was loaded.*x-1: missing zh label"):
        call_command("vocabulary_load", str(tmp_path / "bad.csv"))
    assert not Term.objects.exists()


def test_a_halfwidth_name_of_another_terms_katakana_name_is_refused(vocabulary):
    # ｶﾞｽ is how an older factory system writes ガス: the normalizer reads both as one name, so two
    # terms cannot share it, whichever width each was written in.
    gas = record("def-gas-a", labels={"en": "gas a", "zh": "气体甲", "ja": "ガス"})
    halfwidth = record("def-gas-b", labels={"en": "gas b", "zh": "气体乙", "ja": "ｶﾞｽ"})
    with pytest.raises(VocabularyFileError, match="'ｶﾞｽ' is also a name of def-gas-a"):
        services.vocabulary_load(records=[gas, halfwidth])
