"""The caption validator: checks one sample's captions (one per language) against the vocabulary.

It reports, per caption, the detected language, the controlled terms found and the word count, and
across captions: terms present in one language but missing in another, and words that look like
defect terms but are not in the vocabulary (with the nearest terms suggested). It never changes a
caption: fixing is the annotator's call.
"""

import difflib
import re
from dataclasses import asdict, dataclass, field

from wordfreq import zipf_frequency

from .language import detect_language
from .matching import Mention, Name, TermMatcher
from .text import fold

# Facets whose words, misspelt or unknown, are worth a warning: the defect vocabulary.
DEFECT_FACETS = ("defect_type", "defect_category", "morphology")
ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
# Characters that end Chinese / Japanese defect words (划痕, 裂纹, 气孔, 锈斑 ...; 傷, 割れ, 欠け ...).
CJK_DEFECT_ENDINGS = {
    "zh": "痕伤纹孔裂斑洞坑锈污渍疤泡刺屑损印",
    "ja": "傷痕穴裂斑錆汚割凹泡",
}
# General words that end like a defect word but name no particular defect.
CJK_GENERAL_WORDS = {"损伤", "损坏", "受损", "污染", "損傷", "汚染"}
# Words that begin with a defect ending but are general (痕迹, a trace): the ending starts them.
CJK_GENERAL_STARTS = {"痕迹", "伤害", "孔径", "印刷", "斑点", "泡沫"}
INFLECTIONS = ("ly", "s", "es", "ed", "d", "ing", "al", "ally", "ness")
KATAKANA_RUN = re.compile(r"[\u30a0-\u30ff]{3,}")
# A term of these facets named in one caption and not another is an error; for the descriptive
# facets (location, morphology, root cause, domain) translators legitimately vary: a warning.
CONSISTENCY_ERROR_FACETS = {"defect_type", "defect_category", "product", "material"}
# An English word this common is ordinary language, not an unknown defect term.
COMMON_WORD_ZIPF = 3.5


def _candidates_per_span(mentions: list[dict]) -> list[set[str]]:
    """The terms each distinct span names (several when a word belongs to several facets)."""
    spans: dict[tuple[int, int], set[str]] = {}
    for mention in mentions:
        spans.setdefault((mention["start"], mention["end"]), set()).add(mention["term"])
    return list(spans.values())


@dataclass
class Finding:
    code: str  # wrong_language | missing_in_language | out_of_vocabulary | deprecated_term | length | empty
    severity: str  # error | warning
    language: str
    message: str
    term: str | None = None
    span: tuple[int, int] | None = None
    suggestions: list[dict] = field(default_factory=list)


@dataclass
class CaptionCheck:
    language: str
    detected_language: str
    terms: list[str]
    mentions: list[dict]
    word_count: int
    character_count: int


@dataclass
class CaptionReport:
    captions: dict[str, CaptionCheck]
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "captions": {language: asdict(check) for language, check in self.captions.items()},
            "findings": [asdict(f) for f in self.findings],
        }


@dataclass(frozen=True)
class TermInfo:
    slug: str
    facet: str
    labels: dict[str, str]
    status: str
    replaced_by: str | None = None
    parent: str | None = None


class CaptionValidator:
    def __init__(
        self, *, names: list[Name], terms: dict[str, TermInfo], target_words: int = 42, tolerance: float = 0.3
    ):
        self.matcher = TermMatcher(names, parents={slug: info.parent for slug, info in terms.items()})
        self.terms = terms
        self.min_words = round(target_words * (1 - tolerance))
        self.max_words = round(target_words * (1 + tolerance))
        self.target_words = target_words
        # Candidate names for suggestions, per language: the defect vocabulary only.
        self._suggestion_names: dict[str, dict[str, set[str]]] = {}
        for name in names:
            if name.facet in DEFECT_FACETS:
                by_text = self._suggestion_names.setdefault(name.language, {})
                by_text.setdefault(fold(name.text), set()).add(name.term)
                if name.language == "en":  # single words of multi-word names catch misspelt parts
                    for word in fold(name.text).split():
                        if len(word) >= 4:
                            by_text.setdefault(word, set()).add(name.term)

    def validate(self, captions: dict[str, str]) -> CaptionReport:
        checks: dict[str, CaptionCheck] = {}
        findings: list[Finding] = []
        mentions_by_language: dict[str, list[Mention]] = {}
        for language, text in captions.items():
            text = text or ""
            if not text.strip():
                findings.append(Finding("empty", "error", language, f"the {language} caption is empty"))
                continue
            # A caption is read with the names of its language, and English ones (PCB, SMT ...).
            mentions = self.matcher.find(text, languages={language, "en"})
            mentions_by_language[language] = mentions
            detected = detect_language(text)
            checks[language] = CaptionCheck(
                language=language,
                detected_language=detected,
                terms=sorted({m.term for m in mentions}),
                mentions=[m._asdict() for m in mentions],
                word_count=len(text.split()) if language == "en" else 0,
                character_count=len(text),
            )
            if detected and detected != language:
                findings.append(
                    Finding("wrong_language", "error", language, f"the {language} caption reads as {detected}")
                )
            if language == "en" and not self.min_words <= checks[language].word_count <= self.max_words:
                findings.append(
                    Finding(
                        "length",
                        "warning",
                        language,
                        f"{checks[language].word_count} words; the target is about {self.target_words} "
                        f"({self.min_words}-{self.max_words})",
                    )
                )
            findings += self._deprecated(language, mentions)
            findings += self._out_of_vocabulary(language, text, mentions)
        findings += self._cross_language_gaps(checks)
        return CaptionReport(captions=checks, findings=findings)

    def _deprecated(self, language: str, mentions: list[Mention]) -> list[Finding]:
        found = []
        for mention in mentions:
            info = self.terms.get(mention.term)
            if info and info.status == "deprecated":
                replacement = self.terms.get(info.replaced_by) if info.replaced_by else None
                use = f"; use {replacement.labels.get(language) or replacement.slug}" if replacement else ""
                found.append(
                    Finding(
                        "deprecated_term",
                        "warning",
                        language,
                        f"'{mention.text}' is a deprecated term{use}",
                        term=mention.term,
                        span=(mention.start, mention.end),
                    )
                )
        return found

    def _cross_language_gaps(self, checks: dict[str, CaptionCheck]) -> list[Finding]:
        """A controlled term named in one caption should be named in every other caption too.

        A word can name terms of several facets ('thread': a location, a product, a defect); such a
        mention is matched by any of its terms in the other language."""
        if len(checks) < 2:
            return []
        present = {language: set(check.terms) for language, check in checks.items()}
        findings = []
        reported: set[tuple[str, str]] = set()
        for language, check in sorted(checks.items()):
            for candidates in _candidates_per_span(check.mentions):
                for other in sorted(present):
                    if other == language or candidates & present[other]:
                        continue
                    term = min(candidates, key=lambda slug: (self._facet_rank(slug), slug))
                    if (term, other) in reported:
                        continue
                    reported.add((term, other))
                    info = self.terms.get(term)
                    label = info.labels.get(other, term) if info else term
                    severity = "error" if info and info.facet in CONSISTENCY_ERROR_FACETS else "warning"
                    findings.append(
                        Finding(
                            "missing_in_language",
                            severity,
                            other,
                            f"{term} is named in {language} but not in {other} (expected e.g. '{label}')",
                            term=term,
                        )
                    )
        return findings

    def _facet_rank(self, slug: str) -> int:
        info = self.terms.get(slug)
        return 0 if info and info.facet in CONSISTENCY_ERROR_FACETS else 1

    def _out_of_vocabulary(self, language: str, text: str, mentions: list[Mention]) -> list[Finding]:
        covered = [(m.start, m.end) for m in mentions]

        def inside_mention(start: int, end: int) -> bool:
            return any(s <= start and end <= e for s, e in covered)

        candidates: list[tuple[int, int, str]] = []
        if language == "en":
            for match in ENGLISH_WORD.finditer(text):
                word = match.group().strip("'-")
                if inside_mention(match.start(), match.end()):
                    continue
                if zipf_frequency(word.lower(), "en") >= COMMON_WORD_ZIPF or self._inflects_a_term(word):
                    continue
                candidates.append((match.start(), match.end(), word))
        elif language in CJK_DEFECT_ENDINGS:
            endings = CJK_DEFECT_ENDINGS[language]
            for index, char in enumerate(text):
                if char in endings and index > 0 and not inside_mention(index - 1, index + 1):
                    word = text[index - 1 : index + 1]
                    # An ideograph before the ending makes a word (擦痕); kana or punctuation do not.
                    general = word in CJK_GENERAL_WORDS or text[index : index + 2] in CJK_GENERAL_STARTS
                    if "\u3400" <= text[index - 1] <= "\u9fff" and not general:
                        candidates.append((index - 1, index + 1, word))
            if language == "ja":
                for match in KATAKANA_RUN.finditer(text):
                    if not inside_mention(match.start(), match.end()):
                        candidates.append((match.start(), match.end(), match.group()))

        findings = []
        for start, end, word in candidates:
            suggestions = self._suggest(language, word)
            # English and katakana words are flagged only when they resemble a defect term (a
            # misspelling or a variant); a CJK word with a defect ending is flagged even with no close term.
            if (language == "en" or KATAKANA_RUN.fullmatch(word)) and not suggestions:
                continue
            findings.append(
                Finding(
                    "out_of_vocabulary",
                    "warning",
                    language,
                    f"'{word}' looks like a defect term but is not in the vocabulary",
                    span=(start, end),
                    suggestions=suggestions,
                )
            )
        return findings

    def _inflects_a_term(self, word: str) -> bool:
        """'diagonally', 'scratched': an inflection of a controlled term is not an unknown word."""
        lowered = word.lower()
        for suffix in INFLECTIONS:
            stem = lowered.removesuffix(suffix)
            if stem != lowered and len(stem) >= 3 and (self.matcher.terms(stem) or self.matcher.terms(stem + "e")):
                return True
        return False

    def _suggest(self, language: str, word: str, limit: int = 3) -> list[dict]:
        names = self._suggestion_names.get(language, {})
        cutoff = 0.8 if language == "en" or KATAKANA_RUN.fullmatch(word) else 0.5
        close = difflib.get_close_matches(fold(word), list(names), n=limit * 2, cutoff=cutoff)
        suggestions, seen = [], set()
        for name in close:
            for slug in sorted(names[name]):
                if slug in seen or len(suggestions) >= limit:
                    continue
                seen.add(slug)
                info = self.terms.get(slug)
                suggestions.append({"term": slug, "label": info.labels.get(language, name) if info else name})
        return suggestions
