"""The caption validator on one sample's captions in three languages."""

import pytest

from vocabulary import services
from vocabulary.models import Term
from vocabulary.selectors import caption_validator

pytestmark = pytest.mark.django_db

GOOD = {
    "en": (
        "A thin scratch runs diagonally across the upper-left corner of the stainless steel plate; the groove is "
        "shallow and bright, about twenty millimetres long, with clean edges and no burr, and it was most likely "
        "left by a tool or fixture sliding over the surface during handling."
    ),
    "zh": (
        "不锈钢板左上角有一条斜向的细划痕，浅而发亮，长约二十毫米，"
        "边缘整齐，无毛刺，很可能是搬运时工具或夹具划过表面造成的。"
    ),
    "ja": (
        "ステンレス鋼板の左上隅に斜めの細い傷がある。浅く光沢があり長さ約20ミリで、"
        "縁はきれいでバリはない。取り扱い中に工具や治具が表面を擦ったことが原因と考えられる。"
    ),
}


def codes(report):
    return sorted((f.code, f.language) for f in report.findings)


def test_consistent_captions_pass(vocabulary):
    report = caption_validator().validate(GOOD)

    assert report.passed, report.as_dict()["findings"]
    assert {"def-scratch", "loc-upper-left", "mat-stainless-steel"} <= set(report.captions["zh"].terms)
    assert report.captions["en"].detected_language == "en"
    assert report.captions["ja"].detected_language == "ja"
    assert 29 <= report.captions["en"].word_count <= 55


def test_a_caption_in_the_wrong_language_is_an_error(vocabulary):
    report = caption_validator().validate({**GOOD, "ja": GOOD["zh"]})

    assert not report.passed
    assert ("wrong_language", "ja") in codes(report)


def test_a_term_missing_in_one_language_is_reported(vocabulary):
    without_scratch = GOOD["zh"].replace("细划痕", "细线")

    report = caption_validator().validate({**GOOD, "zh": without_scratch})

    gaps = [f for f in report.findings if f.code == "missing_in_language" and f.severity == "error"]
    assert [(f.term, f.language) for f in gaps] == [("def-scratch", "zh")]
    assert "划痕" in gaps[0].message


def test_an_out_of_vocabulary_defect_word_is_flagged_with_suggestions(vocabulary):
    caption = GOOD["en"].replace("scratch", "scrathc")

    report = caption_validator().validate({"en": caption})

    oov = [f for f in report.findings if f.code == "out_of_vocabulary"]
    assert len(oov) == 1 and "'scrathc'" in oov[0].message
    assert "def-scratch" in [s["term"] for s in oov[0].suggestions]
    assert caption[oov[0].span[0] : oov[0].span[1]] == "scrathc"


def test_an_unknown_chinese_defect_word_is_flagged(vocabulary):
    report = caption_validator().validate({"zh": "钢板表面有一处蹭痕。"})

    flagged = [f for f in report.findings if f.code == "out_of_vocabulary"]
    assert [f.message for f in flagged] == ["'蹭痕' looks like a defect term but is not in the vocabulary"]


def test_length_is_checked_against_the_target(vocabulary):
    report = caption_validator().validate({"en": "A scratch on the plate."})
    assert ("length", "en") in codes(report) and report.passed  # a warning, not an error


def test_a_deprecated_term_is_flagged_with_its_replacement(vocabulary):
    services.term_deprecate(term=Term.objects.get(slug="def-scuff"), replacement=Term.objects.get(slug="def-scratch"))

    report = caption_validator().validate({"en": GOOD["en"] + " A scuff sits nearby."})

    deprecated = [f for f in report.findings if f.code == "deprecated_term"]
    assert deprecated and "use scratch" in deprecated[0].message


def test_an_empty_caption_is_an_error(vocabulary):
    report = caption_validator().validate({"en": GOOD["en"], "zh": "  "})
    assert ("empty", "zh") in codes(report) and not report.passed
