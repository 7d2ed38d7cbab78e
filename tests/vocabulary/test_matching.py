"""The normalizer on English, Chinese, Japanese and mixed text."""

import pytest

from vocabulary.matching import Name, TermMatcher
from vocabulary.selectors import vocabulary_matcher


def small_matcher():
    return TermMatcher(
        [
            Name("scratch", "def-scratch", "defect_type", "en"),
            Name("scratches", "def-scratch", "defect_type", "en"),
            Name("scratch mark", "def-scratch-mark", "defect_type", "en"),
            Name("pit", "def-pit", "defect_type", "en"),
            Name("划痕", "def-scratch", "defect_type", "zh"),
            Name("划", "def-cut", "defect_type", "zh"),
            Name("傷", "def-scratch", "defect_type", "ja"),
            Name("wood", "dom-wood", "domain", "en"),
            Name("wood", "mat-wood", "material", "en"),
            Name("rolled-in_scale", "def-rolled-in-scale", "defect_type", "en"),
        ]
    )


def spans(mentions):
    return [(m.text, m.term, m.start, m.end) for m in mentions]


def test_the_longest_of_overlapping_names_wins():
    assert spans(small_matcher().find("A Scratch Mark, then scratches.")) == [
        ("Scratch Mark", "def-scratch-mark", 2, 14),
        ("scratches", "def-scratch", 21, 30),
    ]


def test_latin_names_need_word_boundaries():
    assert small_matcher().find("spitting hospital pitch") == []
    # "pitted" is a form of "pit" (inflection.py), not a word boundary failure
    assert [m.term for m in small_matcher().find("a pitted face")] == ["def-pit"]
    assert spans(small_matcher().find("a pit.")) == [("pit", "def-pit", 2, 5)]


def test_cjk_names_match_without_spaces_and_longest_wins():
    assert spans(small_matcher().find("表面有一条划痕")) == [("划痕", "def-scratch", 5, 7)]


def test_a_digit_next_to_letters_starts_no_word():
    matcher = TermMatcher(
        [
            Name("mm", "unit-mm", "morphology", "en"),
            Name("24", "num-24", "morphology", "en"),
            Name("3d printing", "proc-3d-printing", "root_cause", "en"),
            Name("m3 bolt", "prod-m3-bolt", "product", "en"),
        ]
    )
    for prefix in ("", "钢板 "):  # an ASCII text and one that is not take different paths
        n = len(prefix)
        assert matcher.find(prefix + "a 5mm dent in 2024") == []
        assert matcher.find(prefix + "no a3d printing here") == []
        assert spans(matcher.find(prefix + "2 mm, 24 and 3D-printing")) == [
            ("mm", "unit-mm", n + 2, n + 4),
            ("24", "num-24", n + 6, n + 8),
            ("3D-printing", "proc-3d-printing", n + 13, n + 24),
        ]
        assert spans(matcher.find(prefix + "an M3 bolt")) == [("M3 bolt", "prod-m3-bolt", n + 3, n + 10)]


def test_non_letters_of_the_latin_blocks_separate_words():
    assert spans(small_matcher().find("2×pit")) == [("pit", "def-pit", 2, 5)]
    assert small_matcher().find("spité") == []


def test_mixed_language_text():
    text = "钢板scratch，表面に傷あり"
    assert spans(small_matcher().find(text)) == [("scratch", "def-scratch", 2, 9), ("傷", "def-scratch", 13, 14)]


def test_one_span_naming_terms_of_two_facets_gives_both_and_facets_filter():
    matcher = small_matcher()
    assert {m.term for m in matcher.find("oak wood board")} == {"dom-wood", "mat-wood"}
    assert {m.term for m in matcher.find("oak wood board", facets=["material"])} == {"mat-wood"}


def test_separators_in_raw_class_names_are_folded():
    for text in ("rolled-in_scale", "rolled in scale", "Rolled-In Scale"):
        assert small_matcher().terms(text) == {"def-rolled-in-scale"}, text


def test_fullwidth_latin_is_read_as_latin():
    matcher = TermMatcher(
        [
            Name("pcb", "prod-pcb", "product", "en"),
            Name("o-ring", "prod-o-ring", "product", "en"),
            Name("mm", "unit-mm", "morphology", "en"),
            Name("划痕", "def-scratch", "defect_type", "zh"),
        ]
    )
    text = "ＰＣＢ板上有划痕，Ｏ－ｒｉｎｇ完好，长５　ｍｍ"
    assert spans(matcher.find(text)) == [
        ("ＰＣＢ", "prod-pcb", 0, 3),
        ("划痕", "def-scratch", 6, 8),
        ("Ｏ－ｒｉｎｇ", "prod-o-ring", 9, 15),
        ("ｍｍ", "unit-mm", 21, 23),
    ]
    assert matcher.find("长５ｍｍ") == matcher.find("长5mm") == []  # as in ASCII: "5mm" is one word
    assert matcher.find("ＰＣＢＡ") == []  # still whole words only


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "A thin scratch near the upper-left corner of the stainless steel plate, caused by handling.",
            {"def-scratch", "loc-upper-left", "loc-corner", "mat-stainless-steel"},
        ),
        ("不锈钢板左上角附近有一条细长的划痕。", {"mat-stainless-steel", "loc-upper-left", "def-scratch"}),
        ("ステンレス鋼板の左上隅付近に細長い傷がある。", {"mat-stainless-steel", "loc-upper-left", "def-scratch"}),
        (
            "crazing, inclusion, patches, pitted_surface, rolled-in_scale and scratches on NEU steel",
            {"def-crazing", "def-inclusion", "def-patches", "def-pitted-surface", "def-rolled-in-scale", "def-scratch"},
        ),
        (
            "MVTec bottle: broken_large, broken_small and contamination",
            {"def-large-breakage", "def-small-breakage", "def-contamination"},
        ),
        (
            "Magnetic tile: Blowhole, Break, Crack, Fray, Uneven",
            {"def-blowhole", "def-break", "def-crack", "def-fray", "def-uneven-surface"},
        ),
    ],
)
def test_normalizer_on_the_shipped_vocabulary(vocabulary, text, expected):
    found = vocabulary_matcher().terms(text)
    assert expected <= found, expected - found


@pytest.mark.django_db
def test_every_span_is_the_text_it_claims(vocabulary):
    text = "不锈钢板に scratch 与 Crack、凹み and an oily stain, 左上角."
    for mention in vocabulary_matcher().find(text):
        assert text[mention.start : mention.end] == mention.text
