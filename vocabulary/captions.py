"""The caption validator: checks one sample's captions (one per language) against the vocabulary
and, when given, the annotation's own terms.

It reports, per caption, the detected language, the controlled terms found and the word count, and
findings ranked by severity (errors first), each with the evidence it rests on (the words of the
caption): a required language missing, a caption in the wrong language, instructions addressed to a
model, an absurd length, a defect type named in a caption but not in the annotation (the same wrong
term in every language included) or annotated but named in no caption, defect terms present in one
language but missing in another, and words that look like defect terms but are not in the
vocabulary (with the nearest terms suggested). Negated mentions ("no raised burr") name nothing.
It never changes a caption: fixing is the annotator's call.
"""

import difflib
import re
from dataclasses import asdict, dataclass, field

from lemminflect import getAllLemmas
from wordfreq import zipf_frequency

from .language import detect_language
from .matching import Mention, Name, TermMatcher
from .segmentation import words_of
from .text import fold

# Facets whose words, misspelt or unknown, are worth a warning: the defect vocabulary.
DEFECT_FACETS = ("defect_type", "defect_category", "morphology")
ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
# Characters that end Chinese / Japanese defect words (划痕, 裂纹, 气孔, 锈斑 ...; 傷, 割れ, 欠け ...).
CJK_DEFECT_ENDINGS = {
    "zh": "痕伤纹孔裂斑洞坑锈污渍疤泡刺屑损印",
    "ja": "傷痕穴裂斑錆汚割凹泡",
}
# One-character words that join others (的, 处, 有 ...), never the first half of a defect word.
CJK_FUNCTION_CHARACTERS = set("的处有和及或在是了个条道块片些与并也都其该此被把将从向于为以及一两三几多")


def _is_ideograph(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff"


# General words that end like a defect word but name no particular defect.
CJK_GENERAL_WORDS = {"损伤", "损坏", "受损", "污染", "損傷", "汚染"}
# Words that begin with a defect ending but are general (痕迹, a trace): the ending starts them.
CJK_GENERAL_STARTS = {"痕迹", "伤害", "孔径", "印刷", "斑点", "泡沫"}
INFLECTIONS = ("ly", "s", "es", "ed", "d", "ing", "al", "ally", "ness")
KATAKANA_RUN = re.compile(r"[\u30a0-\u30ff]{3,}")
# A term of these facets named in one caption and not another is an error; for the descriptive
# facets (location, morphology, root cause, domain) translators legitimately vary: a warning.
CONSISTENCY_ERROR_FACETS = {"defect_type", "defect_category", "product", "material"}
DEFECT_NAME_FACETS = {"defect_type", "defect_category"}
# An English word this common is ordinary language, not an unknown defect term.
COMMON_WORD_ZIPF = 3.5
SEVERITY_RANK = {"error": 0, "warning": 1}
# Beyond these a caption is not a caption: a pasted document, or a fragment.
ABSURD_WORDS = {"max_factor": 4, "min": 5}  # English words: more than 4x the target, fewer than 5
ABSURD_CHARACTERS = {"max": 600, "min": 8}  # Chinese and Japanese characters
# Text addressed to a model rather than describing an image (prompt injection), in any language.
INSTRUCTION_TO_MODEL = re.compile(
    r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding|your)\s+"
    r"(?:instructions?|prompts?|rules?|messages?)"
    r"|\byou\s+are\s+(?:now\s+)?(?:an?\s+)?(?:ai|assistant|language\s+model|chatbot|gpt)\b"
    r"|\b(?:system|developer)\s+prompt\b|\bas\s+an\s+ai\b|\bnew\s+instructions?\s*:"
    r"|\b(?:respond|reply|answer|output)\s+(?:only\s+)?with\b|<\|im_(?:start|end)\|>|\[/?INST\]|###\s*instruction"
    r"|忽略(?:之前|以上|上述|前面|所有)[的]?(?:指令|指示|提示|规则)|你(?:现在)?是一个?(?:AI|人工智能|助手|语言模型)|系统提示"
    r"|(?:以前|前|上記|これまで)の(?:指示|命令|プロンプト)を無視|指示を無視|あなたは(?:AI|アシスタント|言語モデル)",
    re.IGNORECASE,
)


def _candidates_per_span(mentions: list[dict]) -> list[tuple[set[str], bool, str]]:
    """(terms, negated, text) of each distinct span (several terms when a word belongs to several facets)."""
    spans: dict[tuple[int, int], tuple[set[str], bool, str]] = {}
    for mention in mentions:
        spans.setdefault((mention["start"], mention["end"]), (set(), mention["negated"], mention["text"]))[0].add(
            mention["term"]
        )
    return list(spans.values())


@dataclass
class Finding:
    # missing_language | empty | wrong_language | instruction_to_model | length | not_in_annotation |
    # not_in_caption | missing_in_language | out_of_vocabulary | deprecated_term | no_defect_named
    code: str
    severity: str  # error | warning
    language: str
    message: str
    term: str | None = None
    span: tuple[int, int] | None = None
    suggestions: list[dict] = field(default_factory=list)
    evidence: str = ""  # the caption's words the finding rests on


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
        # Single words of English names ('pixel' of 'dead pixel'): their inflections are no misspelling.
        self._name_words = {word for name in names if name.language == "en" for word in fold(name.text).split()}
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

    def validate(
        self,
        captions: dict[str, str],
        *,
        annotation_terms: dict[str, set[str]] | None = None,
        required_languages: tuple[str, ...] | list[str] = (),
        context: tuple[str, ...] | list[str] = (),
    ) -> CaptionReport:
        """annotation_terms: the annotation's terms by facet (at least 'defect_type'), to compare the
        captions with; required_languages: languages that must have a caption; context: slugs the
        sample is about (its domain, product), which support ambiguous aliases."""
        checks: dict[str, CaptionCheck] = {}
        findings: list[Finding] = []
        for language in required_languages:
            if language not in captions:
                findings.append(Finding("missing_language", "error", language, f"there is no {language} caption"))
        for language, text in captions.items():
            text = text or ""
            if not text.strip():
                findings.append(Finding("empty", "error", language, f"the {language} caption is empty"))
                continue
            # A caption is read with the names of its language, and English ones (PCB, SMT ...).
            mentions = self.matcher.find(text, languages={language, "en"}, context=context)
            affirmed = [m for m in mentions if not m.negated]
            detected = detect_language(text)
            checks[language] = CaptionCheck(
                language=language,
                detected_language=detected,
                terms=sorted({m.term for m in affirmed}),
                mentions=[m._asdict() for m in mentions],
                word_count=len(text.split()) if language == "en" else 0,
                character_count=len(text),
            )
            if detected and detected != language:
                findings.append(
                    Finding("wrong_language", "error", language, f"the {language} caption reads as {detected}")
                )
            findings += self._instructions(language, text)
            findings += self._length(language, checks[language])
            findings += self._deprecated(language, affirmed)
            findings += self._out_of_vocabulary(language, text, mentions)
        findings += self._cross_language_gaps(checks)
        findings += self._against_annotation(checks, annotation_terms)
        findings.sort(key=lambda f: (SEVERITY_RANK.get(f.severity, 2), f.language, f.code))
        return CaptionReport(captions=checks, findings=findings)

    def _instructions(self, language: str, text: str) -> list[Finding]:
        match = INSTRUCTION_TO_MODEL.search(text)
        if not match:
            return []
        return [
            Finding(
                "instruction_to_model",
                "error",
                language,
                "the caption holds an instruction addressed to a model, not a description of the image",
                span=(match.start(), match.end()),
                evidence=match.group(),
            )
        ]

    def _length(self, language: str, check: CaptionCheck) -> list[Finding]:
        if language == "en":
            count, unit = check.word_count, "words"
            absurd = count > ABSURD_WORDS["max_factor"] * self.target_words or count < ABSURD_WORDS["min"]
            usual = self.min_words <= count <= self.max_words
            target = f"about {self.target_words} ({self.min_words}-{self.max_words})"
        else:
            count, unit = check.character_count, "characters"
            absurd = not ABSURD_CHARACTERS["min"] <= count <= ABSURD_CHARACTERS["max"]
            usual, target = True, f"{ABSURD_CHARACTERS['min']}-{ABSURD_CHARACTERS['max']}"
        if absurd:
            return [Finding("length", "error", language, f"{count} {unit}: not a caption (expected {target})")]
        if not usual:
            return [Finding("length", "warning", language, f"{count} {unit}; the target is {target}")]
        return []

    def _against_annotation(self, checks: dict[str, CaptionCheck], annotation_terms) -> list[Finding]:
        """Defect types named in a caption but not in the annotation (an error: the caption claims
        what the experts did not record, even when every language agrees), and annotated defect
        types that no caption names (a warning: a caption may say it in other words)."""
        if not checks:
            return []
        findings = []
        if annotation_terms is None:
            if not any(self._defect_types(check) for check in checks.values()):
                findings.append(
                    Finding(
                        "no_defect_named", "warning", "", "no caption names a defect type (or says it is defect-free)"
                    )
                )
            return findings
        annotated = set(annotation_terms.get("defect_type", ()))
        for language, check in sorted(checks.items()):
            named = self._defect_types(check)
            for slug in sorted(named - annotated - {"def-defect-free"}):
                evidence = next((m["text"] for m in check.mentions if m["term"] == slug), "")
                findings.append(
                    Finding(
                        "not_in_annotation",
                        "error",
                        language,
                        f"'{evidence}' names {slug}, which the annotation does not record",
                        term=slug,
                        evidence=evidence,
                    )
                )
        named_anywhere = set().union(*(self._defect_types(check) for check in checks.values()))
        for slug in sorted(annotated - named_anywhere - {"def-defect-free"}):
            info = self.terms.get(slug)
            label = info.labels.get("en", slug) if info else slug
            findings.append(
                Finding(
                    "not_in_caption",
                    "warning",
                    "",
                    f"the annotation records {slug} ('{label}'), no caption names it",
                    term=slug,
                )
            )
        return findings

    def _defect_types(self, check: CaptionCheck) -> set[str]:
        """Affirmed defect types the caption names. A span that also names a term of another facet
        ('fabric border' the location, 'rough' the shape, 'copper' the material) is read as that:
        it claims no defect."""
        return {
            slug
            for terms, negated, _ in _candidates_per_span(check.mentions)
            if not negated and all(self._facet_of(slug) in DEFECT_NAME_FACETS for slug in terms)
            for slug in terms
            if self._facet_of(slug) == "defect_type"
        }

    def _names_another_facet(self, terms: set[str]) -> bool:
        return any(self._facet_of(slug) not in CONSISTENCY_ERROR_FACETS for slug in terms)

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
                        evidence=mention.text,
                    )
                )
        return found

    def _cross_language_gaps(self, checks: dict[str, CaptionCheck]) -> list[Finding]:
        """A defect type or category, product or material named in one caption should be named in
        every other caption too (an error). Locations, shapes and causes are left to the
        translator: 左下角 says "lower left" with no word for "corner", and that is right.

        A word can name terms of several facets ('thread': a location, a product, a defect); such a
        mention is matched by any of its terms in the other language. An affirmed mention is
        matched by affirmed ones, a negated one by negated ones."""
        if len(checks) < 2:
            return []
        present = {
            (language, negated): {m["term"] for m in check.mentions if m["negated"] == negated}
            for language, check in checks.items()
            for negated in (False, True)
        }
        findings = []
        reported: set[tuple[str, str]] = set()
        for language, check in sorted(checks.items()):
            for candidates, negated, evidence in _candidates_per_span(check.mentions):
                if self._names_another_facet(candidates):
                    continue  # a location or shape word that is also a defect name: translators vary
                candidates = {slug for slug in candidates if self._facet_of(slug) in CONSISTENCY_ERROR_FACETS}
                if not candidates:
                    continue
                for other in sorted(checks):
                    if other == language or candidates & present[other, negated]:
                        continue
                    term = min(candidates)
                    if (term, other) in reported:
                        continue
                    reported.add((term, other))
                    info = self.terms.get(term)
                    label = info.labels.get(other, term) if info else term
                    said = "said to be absent" if negated else "named"
                    findings.append(
                        Finding(
                            "missing_in_language",
                            "error",
                            other,
                            f"{term} is {said} in {language} ('{evidence}') but not in {other} (expected e.g. '{label}')",
                            term=term,
                            evidence=evidence,
                        )
                    )
        return findings

    def _facet_of(self, slug: str) -> str:
        info = self.terms.get(slug)
        return info.facet if info else ""

    def _out_of_vocabulary(self, language: str, text: str, mentions: list[Mention]) -> list[Finding]:
        covered = [(m.start, m.end) for m in mentions]

        def inside_mention(start: int, end: int) -> bool:
            return any(s <= start and end <= e for s, e in covered)

        if language == "en":
            candidates = self._english_candidates(text, inside_mention)
        elif language in CJK_DEFECT_ENDINGS:
            candidates = self._cjk_candidates(language, text, inside_mention)
        else:
            candidates = []

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
                    evidence=word,
                )
            )
        return findings

    def _english_candidates(self, text: str, inside_mention) -> list[tuple[int, int, str]]:
        """Uncommon English words outside every mention that are no inflection of a term."""
        candidates = []
        for match in ENGLISH_WORD.finditer(text):
            word = match.group().strip("'-")
            if inside_mention(match.start(), match.end()):
                continue
            if zipf_frequency(word.lower(), "en") >= COMMON_WORD_ZIPF or self._inflects_a_term(word):
                continue
            if self._lemma_is_a_name_word(word):  # 'pixels': the word of 'dead pixel', not a misspelling
                continue
            candidates.append((match.start(), match.end(), word))
        return candidates

    def _cjk_candidates(self, language: str, text: str, inside_mention) -> list[tuple[int, int, str]]:
        """Chinese or Japanese words (as the segmenter reads them) that end like a defect word, and in
        Japanese every katakana run, outside every mention."""
        # Words as the segmenter reads them: a window of two characters cut across 的裂, 处斑.
        endings = CJK_DEFECT_ENDINGS[language]
        words = words_of(text, language=language)
        candidates = []
        for position, (start, end) in enumerate(words):
            word = text[start:end]
            if len(word) == 1 and position > 0:
                # A word the segmenter does not know falls apart into characters (蹭痕 -> 蹭 痕):
                # an ending after a lone ideograph that is no function word is read as one word.
                before_start, before_end = words[position - 1]
                before = text[before_start:before_end]
                if len(before) == 1 and _is_ideograph(before) and before not in CJK_FUNCTION_CHARACTERS:
                    start, word = before_start, before + word
            if len(word) < 2 or word[-1] not in endings or inside_mention(start, end):
                continue
            if word in CJK_GENERAL_WORDS or any(word.startswith(general) for general in CJK_GENERAL_STARTS):
                continue
            if all("\u3400" <= char <= "\u9fff" for char in word):
                candidates.append((start, end, word))
        if language == "ja":
            for match in KATAKANA_RUN.finditer(text):
                if not inside_mention(match.start(), match.end()):
                    candidates.append((match.start(), match.end(), match.group()))
        return candidates

    def _lemma_is_a_name_word(self, word: str) -> bool:
        lemmas = {lemma.lower() for forms in getAllLemmas(word.lower()).values() for lemma in forms}
        return bool(lemmas & self._name_words)

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
