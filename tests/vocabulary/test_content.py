"""The vocabulary we ship: enough terms per facet, every term in three languages, real class names covered."""

import re
from collections import Counter

import pytest

from vocabulary.models import Facet, TermStatus
from vocabulary.selectors import term_for_source_label

from .conftest import bundled_records

CJK = re.compile(r"[\u4e00-\u9fff]")
KANA_OR_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

MINIMUM_PER_FACET = {
    Facet.DOMAIN: 60,
    Facet.PRODUCT: 80,
    Facet.MATERIAL: 40,
    Facet.DEFECT_CATEGORY: 12,
    Facet.DEFECT_TYPE: 150,
    Facet.LOCATION: 30,
    Facet.MORPHOLOGY: 60,
    Facet.ROOT_CAUSE: 60,
}


def test_every_facet_has_enough_approved_terms():
    records = bundled_records()
    counts = Counter(r.facet for r in records if r.status == TermStatus.APPROVED)

    for facet, minimum in MINIMUM_PER_FACET.items():
        assert counts[facet] >= minimum, (facet, counts[facet])
    assert sum(counts.values()) >= 500


def test_every_term_has_three_labels_and_a_definition():
    for record in bundled_records():
        assert record.labels["en"] and record.definition.endswith("."), record.slug
        assert CJK.search(record.labels["zh"]), (record.slug, record.labels["zh"])
        assert KANA_OR_KANJI.search(record.labels["ja"]), (record.slug, record.labels["ja"])


def test_hierarchies_point_to_the_right_facets():
    by_slug = {r.slug: r for r in bundled_records()}
    for record in by_slug.values():
        if record.facet == Facet.PRODUCT:
            assert by_slug[record.parent].facet == Facet.DOMAIN, record.slug
        if record.facet == Facet.DEFECT_TYPE and record.slug != "def-defect-free":
            assert by_slug[record.parent].facet == Facet.DEFECT_CATEGORY, record.slug


def test_practitioner_translations_of_common_terms():
    by_slug = {r.slug: r for r in bundled_records()}
    assert by_slug["def-scratch"].labels == {"en": "scratch", "zh": "划痕", "ja": "傷"}
    assert "スクラッチ" in by_slug["def-scratch"].aliases["ja"]
    assert by_slug["def-burr"].labels["zh"] == "毛刺" and by_slug["def-burr"].labels["ja"] == "バリ"


@pytest.mark.django_db
def test_raw_class_names_of_the_real_datasets_map_to_defect_types(vocabulary, real_data):
    raw_names = {("mvtec-ad", p.name) for p in (real_data / "mvtec_ad" / "bottle" / "test").iterdir()}
    raw_names |= {("magnetic-tile", p.name) for p in (real_data / "magnetic_tile").glob("MT_*")}
    raw_names |= {
        ("neu-det", p.stem.rsplit("_", 1)[0]) for p in (real_data / "neu_det" / "NEU-DET" / "IMAGES").iterdir()
    }

    unmapped = sorted(name for name in raw_names if term_for_source_label(name[1], dataset=name[0]) is None)

    assert len(raw_names) >= 16
    assert unmapped == []
    assert term_for_source_label("MT_Free", dataset="magnetic-tile").slug == "def-defect-free"
    assert term_for_source_label("good", dataset="mvtec-ad").slug == "def-defect-free"
    assert term_for_source_label("rolled-in_scale", dataset="neu-det").slug == "def-rolled-in-scale"
