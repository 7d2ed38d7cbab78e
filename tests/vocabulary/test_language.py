"""The normalizer on real expert language: each kind of miss found on real expert text in each language,
negation, ambiguous aliases and word boundaries, on the bundled vocabulary."""

import pytest

from benchmarks.bench_vocabulary import bundled_matcher
from vocabulary.matching import NEGATABLE_FACETS, Name, TermMatcher


@pytest.fixture(scope="module")
def matcher():
    return bundled_matcher()


def findings(matcher, text, **options):
    return {m.term for m in matcher.findings(text, **options)}


def negated(matcher, text, **options):
    return {m.term for m in matcher.find(text, **options) if m.negated}


# Inflected forms, synonyms, new terms, generic materials, products and plural products: every
# cause of a miss the issue lists, as (text, term that must be found), per language.
MISS_CATEGORIES = {
    "inflection": [
        ("Several deformations along the flange.", "def-deformation"),
        ("The imprint is smudged.", "def-smear"),
        ("Three indentations on the face.", "def-indentation"),
        ("Creases across the film.", "def-fold"),
        ("Two punctures in the foil.", "def-hole"),
        ("The glass is chipped at the rim.", "def-chip"),
        ("A dented can.", "def-dent"),
        ("The board carries two PCBs.", "prod-printed-circuit-board"),
        ("A tray of hazelnuts.", "prod-hazelnut"),
    ],
    "synonym": [
        ("foreign material on the lens", "def-foreign-particle"),
        ("a scorched edge", "def-burn-mark"),
        ("the cap is out of alignment", "def-misalignment"),
        ("an excess component on the pad", "def-extra-component"),
        ("small nicks on the edge", "def-chip"),
        ("brown blotches on the surface", "def-stain"),
        ("dirt on the housing", "def-contamination"),
        ("表面有刮伤", "def-scratch"),
        ("外壳上有脏污", "def-contamination"),
        ("边缘有一个缺口", "def-chip"),
        ("表面にキズがある", "def-scratch"),
        ("筐体に汚れがある", "def-contamination"),
        ("縁にひびが入っている", "def-crack"),
    ],
    "new term": [
        ("the label is torn", "def-tear"),
        ("the food package was opened and resealed", "def-opened-package"),
        ("the wax has melted", "def-melt"),
        ("two pieces stuck together", "def-stuck-together"),
        ("a spoiled apple", "def-spoilage"),
        ("a bruise on the fruit", "def-bruise"),
        ("a kink in the hose", "def-kink"),
        ("a logical anomaly in the box", "def-logical-anomaly"),
        ("a structural anomaly on the connector", "def-structural-anomaly"),
        ("包装封口撕裂", "def-tear"),
        ("两片粘连在一起", "def-stuck-together"),
        ("蜡烛融化", "def-melt"),
        ("シールが破れている", "def-tear"),
        ("パッケージが開封されている", "def-opened-package"),
    ],
    "generic material": [
        ("a metal bracket", "mat-metal"),
        ("a plastic housing", "mat-plastic"),
        ("the outer textile layer", "mat-textile"),
        ("drops of wax", "mat-wax"),
        ("塑料外壳", "mat-plastic"),
        ("金属の針", "mat-metal"),
    ],
    "product": [
        ("a pushpin", "prod-pushpin"),
        ("a food package", "prod-food-package"),
        ("a cigarette box", "prod-cigarette-box"),
        ("a plastic bag", "prod-plastic-bag"),
        ("一枚图钉", "prod-pushpin"),
        ("烟盒", "prod-cigarette-box"),
        ("画鋲が2個", "prod-pushpin"),
        ("ビニール袋", "prod-plastic-bag"),
    ],
}


@pytest.mark.parametrize(
    "category, text, term",
    [(category, text, term) for category, cases in MISS_CATEGORIES.items() for text, term in cases],
)
def test_each_miss_category_is_found(matcher, category, text, term):
    assert term in findings(matcher, text), f"{category}: {text!r}"


# Words that are ordinary language in the sentence, not the term an alias would make them.
ORDINARY_WORDS = [
    ("Test points are color-coded at the center of the board.", {"def-color-defect", "def-wafer-center-pattern"}),
    ("The thread of the screw is clean.", {"def-stray-thread", "prod-yarn"}),
    ("A knot in the pine board.", {"def-knot"}),
    ("The zipper's fabric tape.", {"prod-woven-fabric"}),
    ("The cashew nut is whole.", {"prod-metal-nut"}),
    ("The hazelnut shell is cracked open.", {"def-open-circuit"}),
    ("Copper wiring of the motor.", {"def-spurious-copper"}),
    ("A short scratch.", {"def-short-circuit"}),
    ("One capsule is cracked at the cap.", {"prod-bottle-cap"}),
    ("An LCD with a dead pixel in the upper area.", {"prod-shoe-upper"}),
]


@pytest.mark.parametrize("text, not_expected", ORDINARY_WORDS)
def test_ambiguous_aliases_do_not_fire_on_ordinary_words(matcher, text, not_expected):
    assert not (findings(matcher, text) & not_expected)


@pytest.mark.parametrize(
    "text, options, term",
    [
        ("a patch of copper beside the pad", {"context": ["dom-pcb-fabrication"]}, "def-spurious-copper"),
        ("copper between two traces of the bare PCB", {}, "def-spurious-copper"),  # a neighbouring PCB term
        ("an open on the third trace", {"context": ["prod-bare-pcb"]}, "def-open-circuit"),
        ("a knot", {"context": ["dom-textile"]}, "def-knot"),
        ("color", {"facet_hint": "defect_type"}, "def-color-defect"),
        ("thread", {"context": ["prod-woven-fabric"]}, "def-stray-thread"),  # a domain supports through its products
    ],
)
def test_ambiguous_aliases_fire_with_supporting_context(matcher, text, options, term):
    assert term in findings(matcher, text, **options)


NEGATIONS = [
    ("No visible cracks or scratches on the rim.", {"def-crack", "def-scratch"}, set()),
    ("Inspected on both faces: no porosity, no cracks and no cold shuts were observed.", {"def-crack"}, set()),
    ("The weld is free of undercut and porosity.", {"def-undercut"}, set()),
    ("The scratch is not visible under diffuse light.", {"def-scratch"}, set()),
    ("The surface is scratch-free but a dent is present.", {"def-scratch"}, {"def-dent"}),
    # A "-free" compound negates the words it is built on, not the clause before it.
    ("A crack in the lead-free solder joint.", set(), {"def-crack"}),
    ("Scratches on a burr-free edge.", {"def-burr"}, {"def-scratch"}),
    ("The cover is scratch and dent free.", {"def-scratch", "def-dent"}, set()),
    ("A dent near the rim; no cracks, a scratch on the cap.", {"def-crack"}, {"def-dent", "def-scratch"}),
    ("Not only scratches but also dents.", set(), {"def-scratch", "def-dent"}),
    # A trigger right after punctuation: the substring prefilter once looked for " no " only.
    ("Surface OK (no cracks), a dent near the rim.", {"def-crack"}, {"def-dent"}),
    ("Checked:no cracks.", {"def-crack"}, set()),
    ("表面无划痕，但有一处凹坑。", {"def-scratch"}, {"def-pit"}),
    ("裂纹、划痕均未发现。", {"def-crack", "def-scratch"}, set()),
    ("无规则的划痕。", set(), {"def-scratch"}),  # 无规则 is "irregular", not a negation
    ("傷や割れは見られない。", {"def-scratch", "def-crack"}, set()),
    ("左端に傷があり、右端には割れはない。", {"def-crack"}, {"def-scratch"}),
    ("傷が少ない。", set(), {"def-scratch"}),  # 少ない is "few"
    ("ブローホール、割れ、湯境はいずれも認められなかった。", {"def-blowhole", "def-crack", "def-cold-shut"}, set()),
    ("リード浮きでパッドに接触していない。", set(), {"def-lifted-lead"}),  # a negated action, not an absence
]


@pytest.mark.parametrize("text, absent, present", NEGATIONS)
def test_negated_mentions_are_flagged_and_never_findings(matcher, text, absent, present):
    assert absent <= negated(matcher, text)
    assert not (findings(matcher, text) & absent)
    assert present <= findings(matcher, text)


# One sentence per English trigger of negation.py, in both cases: the matcher finds whether a text
# holds a trigger word with its own automaton, and must then flag exactly what negation.py's scopes say.
ENGLISH_TRIGGER_SENTENCES = [
    "No cracks near the rim.",
    "There are not any scratches on the cap.",
    "A housing without dents or scratches.",
    "None of the welds shows porosity.",
    "Never a crack on this face.",
    "Neither cracks nor dents on the rim.",
    "The surface is free of scratches.",
    "Free from porosity, the weld is sound.",
    "Absence of cracks on the flange.",
    "Cracks are absent; a dent near the rim.",
    "Lack of scratches on the cover.",
    "The plate lacks cracks.",
    "The panel is lacking scratches, with a dent.",
    "Devoid of porosity.",
    "Inspection rules out cracks.",
    "We rule out scratches on the cap.",
    "Cracks were ruled out.",
    "Porosity was excluded.",
    "Excluding cracks, the part is sound.",
    "Negative for porosity.",
    "I cannot see a crack.",
    "I can't see a crack on the rim.",
    "The crack isn't visible.",
    "Scratches aren't seen on the lid.",
    "The dent wasn't observed.",
    "Cracks weren't found.",
    "Zero scratches on the cap.",
    "Scratches: none.",
    "The coating is scratch-free.",
    "The scratch is not visible under diffuse light.",
    "A notch, another crack and a nothing-like dent.",  # words that hold a trigger's letters, no trigger
]


@pytest.mark.parametrize("text", ENGLISH_TRIGGER_SENTENCES + [t.upper() for t in ENGLISH_TRIGGER_SENTENCES])
def test_english_negation_found_by_the_automaton_is_negation_py_s(matcher, text):
    from vocabulary.negation import english_scopes, is_negated

    scopes = english_scopes(text)  # the trigger expression itself, with no prefilter
    expected = [
        (m.term, m.start, m.facet in NEGATABLE_FACETS and is_negated(scopes, m.start, m.end))
        for m in matcher.find(text)
    ]
    assert [(m.term, m.start, m.negated) for m in matcher.find(text)] == expected
    assert bool(scopes) != text.lower().startswith("a notch"), text


def test_products_are_never_negated(matcher):
    assert "prod-glass-bottle" in findings(matcher, "No cracks on the glass bottle.")


def test_normal_in_a_defect_description_is_not_defect_free(matcher):
    assert findings(matcher, "The left half looks normal but the right has a crack.", facets=["defect_type"]) == {
        "def-crack"
    }
    assert findings(matcher, "The part looks normal.", facets=["defect_type"]) == {"def-defect-free"}


@pytest.mark.parametrize(
    "text, not_expected",
    [
        ("損傷が見られる。", "def-scratch"),
        ("外傷の痕跡がある。", "def-scratch"),
        ("最大長さは5mm。", "morph-large"),
        ("いずれも問題ない。", "dcat-misalignment"),
        ("深度较浅。", "morph-deep"),
    ],
)
def test_one_character_and_short_kana_names_do_not_cut_across_words(matcher, text, not_expected):
    assert not_expected not in {m.term for m in matcher.find(text)}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("表面に傷がある。", "def-scratch"),
        ("瓶の口に欠け。", "prod-glass-bottle"),
        ("部品の位置ずれ。", "dcat-misalignment"),
    ],
)
def test_one_character_names_that_are_words_still_count(matcher, text, expected):
    assert expected in {m.term for m in matcher.find(text)}


def test_the_api_exposes_negation_flags(client_for, vocabulary):
    client = client_for("annotator")
    response = client.post(
        "/api/vocabulary/normalize/",
        {"text": "No cracks, but copper near the open trace.", "context": ["dom-pcb-fabrication"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"def-crack"} == set(body["negated"])
    assert {"def-spurious-copper", "def-open-circuit"} <= set(body["findings"])
    assert any(m["negated"] for m in body["mentions"])


def test_the_api_reads_a_text_with_the_names_of_the_languages_it_is_told(client_for, vocabulary):
    """線路 is a Japanese name of rail (track) and folds to the Chinese label of a PCB trace, 线路: read
    with every language both count, read as Japanese (and English) only the Japanese one does."""
    client = client_for("annotator")

    def findings(**options):
        response = client.post("/api/vocabulary/normalize/", {"text": "線路に傷がある。", **options}, format="json")
        assert response.status_code == 200, response.content
        return set(response.json()["findings"])

    assert {"prod-steel-rail", "loc-trace"} <= findings()
    as_japanese = findings(languages=["ja", "en"])
    assert "prod-steel-rail" in as_japanese and "loc-trace" not in as_japanese
    assert "loc-trace" in findings(languages=["zh"])


def test_the_api_names_a_language_it_does_not_know(client_for, vocabulary):
    response = client_for("annotator").post(
        "/api/vocabulary/normalize/", {"text": "線路", "languages": ["jp"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"languages[0]": ['"jp" is not a valid choice.']}


def test_inflected_forms_keep_an_ambiguous_alias_ambiguous():
    matcher = TermMatcher([Name("print", "def-print", "defect_type", "en", is_label=False, context=())])
    assert matcher.findings("the printed side") == []
    assert [m.term for m in matcher.findings("the printed side", facet_hint="defect_type")] == ["def-print"]


@pytest.mark.parametrize(
    "name, facets, expected",
    [
        ("crack", {"defect_type"}, {"cracks", "cracked"}),
        ("metal nut", {"product"}, {"metal nuts"}),
        ("pcb", {"product"}, {"pcbs"}),  # a word lemminflect does not know: regular plural
        # A name whose last word is already inflected is not inflected again ("endses", "removeds").
        ("can ends", {"defect_type"}, set()),
        ("scale not removed", {"defect_type"}, set()),
        ("burrs", {"defect_type"}, set()),
        ("pcbs", {"product"}, set()),
    ],
)
def test_inflected_names_are_words_people_write(name, facets, expected):
    from vocabulary.inflection import inflected_names

    forms = inflected_names(name, facets)
    assert expected <= forms if expected else forms == set()
