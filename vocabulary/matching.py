"""The normalizer: find the controlled terms a text mentions, in English, Chinese or Japanese.

Two compiled Aho-Corasick automata (ahocorasick_rs: Rust, leftmost-longest, the match list built in
Rust), one for Latin-script names and one for the others; mixed text runs through both and their
matches are merged, leftmost-longest.

* Latin-script names are matched in the text's "match view": every character that is not a Latin
  letter or digit becomes a space (one for one, so positions hold), and each word's first
  character is upper-cased, the rest lower-cased (`title`). Names are stored in the same form with
  a trailing space. A name therefore matches only a whole run of words: "Pit " is not in
  "Spitting " (its p is lower-case there) and "Scratch " is not in "Scratches ". No match needs a
  look in Python afterwards. `title` also capitalizes a letter after a digit and leaves digits
  alone, so where a text has a digit next to a word character ("5mm", "M3", "2024") the view is
  corrected: a letter after a digit is lower-cased, and a digit inside a word becomes a marker.
  Unless the text has Latin letters beyond ASCII (é, ß), the view is built in C as bytes: every
  other character becomes a '?' (one byte each, so positions still hold) and then a space.
* The other names (CJK, or mixed such as PCB板) match the folded text anywhere: CJK text has no
  spaces. Two kinds need a look at the character before them, and only those are looked at: a
  one-ideograph alias (米) must not follow another ideograph (毫米, where it is nearly always part
  of a longer word), and a name that starts with a Latin letter must start a word.

On top of the automata (see README "The controlled vocabulary"):
* English inflected forms of every name (plurals; participles of defect names) are names too
  (inflection.py), so "deformations", "smudged", "PCBs" match without any work at match time.
* A one-character Chinese or Japanese name counts only where a segmenter reads it as a word
  (segmentation.py): 傷 is not in 損傷, 大 is not in 最大.
* An ambiguous alias (TermName.context) counts only with support: a facet hint from the caller,
  a supporting term in the caller's context (the sample's domain or product) or in the text.
* Mentions of the defect facets inside a negation scope (negation.py) are returned flagged
  `negated`; a defect-free mention in a text that names an affirmed defect is dropped.

Matching runs on folded text (text.fold: lower-cased, '_' and '-' read as spaces, fullwidth ASCII as
ASCII, halfwidth katakana as fullwidth, traditional Chinese as simplified), which keeps every
character's position, so spans are spans of the original text. No Django here: benchmarks and
workers share this module.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import NamedTuple

import ahocorasick_rs

from .inflection import inflected_names
from .negation import ENGLISH_TRIGGER_WORDS, cjk_scopes, english_scopes, is_negated
from .segmentation import stands_alone, text_language
from .text import fold, fold_key, split_voiced_kana

# Facets a negation applies to: what is absent is a defect and its shape, never the part itself.
NEGATABLE_FACETS = frozenset({"defect_type", "defect_category", "morphology"})
DEFECT_FREE = "def-defect-free"
# One-character names of these facets may also begin a compound word (铜线 copper wire, 木箱).
COMPOUND_HEAD_FACETS = frozenset({"material", "product", "domain"})

# Latin letters (cased ones only: `title` must see every one as a letter) and digits.
_LATIN_LETTERS = "".join(
    chr(code) for code in range(0xC0, 0x250) if chr(code).islower() or chr(code).isupper() or chr(code).istitle()
)
LATIN_WORD_CHARS = "a-z0-9" + re.escape(_LATIN_LETTERS)
# A digit inside a word is spelled with one of these in the match view ("m3" -> "M$"): ASCII
# punctuation, which the view otherwise never holds.
_INNER_DIGIT = {str(digit): chr(ord("!") + digit) for digit in range(10)}
LEFTMOST_LONGEST = ahocorasick_rs.MATCHKIND_LEFTMOST_LONGEST
_FIRST = itemgetter(0)  # a match's name index; a mention's term
_AMBIGUOUS = attrgetter("ambiguous")


@dataclass(frozen=True)
class Name:
    text: str
    term: str  # the term's slug
    facet: str
    language: str
    is_label: bool = True
    # An ambiguous alias: the slugs of the terms that support it (() = only a facet hint); None = ordinary.
    context: tuple[str, ...] | None = None


class Mention(NamedTuple):  # a tuple: the normalizer makes millions of them
    term: str
    facet: str
    start: int
    end: int  # exclusive: text[start:end] is the mention
    text: str
    language: str  # the language of the name that matched
    negated: bool = False  # inside a negation's scope ("no visible cracks"): not a finding


def _is_latin(char: str) -> bool:
    return bool(_LATIN_WORD.match(char))


def _is_hiragana(char: str) -> bool:
    return "\u3041" <= char <= "\u309f"


def _is_ideograph_or_kana(char: str) -> bool:
    return "\u3040" <= char <= "\u9fff"


def word_view(folded: str) -> str:
    """The folded text with every character that is not a Latin letter or digit turned into a
    space, plus one space at the end (so the last word ends on a boundary too)."""
    return _NON_WORD.sub(" ", folded) + " "


def match_view(words: str) -> str:
    """A word view with each word's first character upper-case and digits inside words replaced
    by markers (see the module's docstring). Depends on each word alone, so a name's view is
    exactly the text's view wherever the name stands as whole words."""
    view = words.title()
    if len(view) != len(words):  # a word starts with a letter whose title case is two (ß -> Ss)
        view = "".join(
            char.title() if (index == 0 or words[index - 1] == " ") and len(char.title()) == 1 else char
            for index, char in enumerate(words)
        )
    return _DIGIT_FIXES.sub(_fix_digit_neighbour, view) if _HAS_DIGIT.search(view) else view


def _ascii_match_view(text: bytes) -> bytes:
    """match_view(word_view(fold(text))) for a text of ASCII bytes (one per character), as bytes:
    a table lookup and `title`, in C."""
    view = text.translate(_ASCII_VIEW).title() + b" "
    if len(view.translate(None, b"0123456789")) != len(view):  # has a digit; 4x faster than a regex search
        view = _DIGIT_FIXES_BYTES.sub(_fix_digit_neighbour_bytes, view)
    return view


def _is_latin_name(key: str) -> bool:
    """Starts with a Latin letter or digit and has no letter of another script (PCB板 is not)."""
    return _is_latin(key[0]) and not any(char.isalnum() and not _is_latin(char) for char in key)


def _merge_owner(row: list, languages: Iterable[str], context: set[str] | None) -> None:
    """Fold another name of the same term into its owner row [facet, languages, context]: context stays
    None (ordinary) once any name of the term is ordinary."""
    row[1].extend(language for language in languages if language not in row[1])
    row[2] = None if row[2] is None or context is None else row[2] | context


def _owners_by_name(names: Iterable[Name]) -> dict[str, dict[str, list]]:
    """Folded name -> term -> [facet, languages, context]."""
    owners: dict[str, dict[str, list]] = {}
    for name in names:
        key = fold_key(name.text.strip())
        if not key:
            continue
        context = None if name.is_label or name.context is None else set(name.context)
        row = owners.setdefault(key, {}).get(name.term)
        if row is None:
            owners[key][name.term] = [name.facet, [name.language], context]
        else:
            _merge_owner(row, [name.language], context)
    return owners


def _latin_and_cjk_names(
    owners: dict[str, dict[str, list]],
) -> tuple[dict[str, dict[str, list]], dict[str, dict[str, list]]]:
    """Latin names are looked up by their match view ("o-ring" and "o ring" are one name); names that
    share it share their owners. The others (CJK) are looked up as they are."""
    latin: dict[str, dict[str, list]] = {}
    cjk: dict[str, dict[str, list]] = {}
    for key, by_term in owners.items():
        if not _is_latin_name(key):
            cjk[key] = by_term
            continue
        lookup = word_view(key)[:-1].strip()
        if not lookup:
            continue
        merged = latin.setdefault(match_view(lookup) + " ", {})
        for term, (facet, languages, context) in by_term.items():
            row = merged.setdefault(term, [facet, [], context])
            _merge_owner(row, languages, context)
    return latin, cjk


class TermMatcher:
    def __init__(self, names: Iterable[Name], *, parents: dict[str, str | None] | None = None):
        """names: every label and alias; parents: term slug -> parent slug, so that a domain in an
        ambiguous alias's context is supported by that domain's products too."""
        owners = _owners_by_name(names)
        _add_inflected_forms(owners)
        _add_split_voiced_forms(owners)
        support = _support_closure(owners, parents or {})
        latin, cjk = _latin_and_cjk_names(owners)
        # English negation triggers are names too, of no term: an ASCII text holds a trigger word exactly
        # where a match's name holds one, so the automaton's one pass also says whether negation.py needs
        # to look (most captions: no). Names holding a trigger word go last, so that the highest name index
        # among the matches tells.
        trigger_views = [f" {match_view(word)} " for word in ENGLISH_TRIGGER_WORDS]
        for view in trigger_views:
            latin.setdefault(view[1:], {})

        def holds_trigger(key: str) -> bool:
            return any(view in f" {key}" for view in trigger_views)

        latin = dict(sorted(latin.items(), key=lambda item: holds_trigger(item[0])))
        self._first_trigger_name = sum(1 for key in latin if not holds_trigger(key))

        # Which CJK names need a look at their neighbourhood: a one-character name (or a short
        # hiragana one) must be a word of its own (segmentation.py); a name that starts with a Latin letter must start a word.
        # Those names go last, so that the highest name index among the matches tells whether any
        # needs the look.
        def check(key: str) -> str | None:
            # Short hiragana names (ずれ, しわ, ひけ) hide inside longer words just as easily (いずれ).
            if (len(key) == 1 and _is_ideograph_or_kana(key)) or (len(key) <= 3 and all(_is_hiragana(c) for c in key)):
                facets = {facet for facet, _, _ in cjk[key].values()}
                return "word or compound head" if facets <= COMPOUND_HEAD_FACETS else "word"
            return "no latin before" if _is_latin(key[0]) else None

        cjk_keys = sorted(cjk, key=lambda key: check(key) is not None)
        self._cjk_checks = [check(key) for key in cjk_keys]
        self._cjk_first_checked = sum(1 for key in cjk_keys if check(key) is None)
        # Owner rows by each automaton's name index; mixed text's matches index one table of both,
        # the CJK ones shifted by the number of Latin names.
        self._latin_owners = [_owner_rows(by_term, support) for by_term in latin.values()]
        self._cjk_owners = [_owner_rows(cjk[key], support) for key in cjk_keys]
        self._owners = self._latin_owners + self._cjk_owners
        self._has_ambiguous = any(row[4] is not None for rows in self._owners for row in rows)
        self._latin = self._latin_bytes = self._cjk = None
        if latin:
            self._latin = ahocorasick_rs.AhoCorasick(list(latin), matchkind=LEFTMOST_LONGEST)
            # Names with letters beyond ASCII become bytes that an ASCII view never holds: they never match there.
            self._latin_bytes = ahocorasick_rs.BytesAhoCorasick(
                [form.encode("utf-8") for form in latin], matchkind=LEFTMOST_LONGEST
            )
        if cjk:
            self._cjk = ahocorasick_rs.AhoCorasick(cjk_keys, matchkind=LEFTMOST_LONGEST)

    def find(
        self,
        text: str,
        *,
        facets: Iterable[str] | None = None,
        languages: Iterable[str] | None = None,
        context: Iterable[str] = (),
        facet_hint: str | None = None,
    ) -> list[Mention]:
        """Mentions in reading order; one per term for a span that names terms of several facets.

        `languages` keeps only names of those languages (a Japanese caption is read with Japanese
        and English names: the Chinese label 大 must not count inside 最大). `context`: slugs the
        text is about (the sample's domain, product); `facet_hint`: the facet the text is known to
        name (a defect-type field): both support ambiguous aliases. Negated mentions are returned
        with negated=True; findings() leaves them out."""
        if not text:
            return []
        found, owners, trim, english_trigger = self._found(text)
        if not found:
            return []
        mentions, pending = _mentions(text, found, owners, trim, facets, languages, self._has_ambiguous)
        if pending:
            mentions = self._supported(mentions, pending, set(context), facet_hint)
        if not mentions:
            return mentions
        scopes = [] if text.isascii() else cjk_scopes(text)
        if english_trigger:
            scopes += english_scopes(text)
        if scopes:
            mentions = [
                m._replace(negated=True) if m.facet in NEGATABLE_FACETS and is_negated(scopes, m.start, m.end) else m
                for m in mentions
            ]
        return _without_contradicted_defect_free(mentions)

    def findings(self, text: str, **options) -> list[Mention]:
        """The mentions that are findings: not negated."""
        return [mention for mention in self.find(text, **options) if not mention.negated]

    def _found(self, text: str) -> tuple[list[tuple[int, int, int]], list, int, bool]:
        """(name index, start, end) of every name in the text, the owner table they index, how
        many characters each end overshoots (the Latin view's trailing space), and whether the text
        holds an English negation trigger word."""
        if text.isascii():  # the hot path: an English caption
            if self._latin is None:
                return [], self._latin_owners, 1, False
            found = self._latin_bytes.find_matches_as_indexes(_ascii_match_view(text.encode("ascii")))
            # 1: not the trailing space. The names holding a trigger word come last (see __init__).
            return found, self._latin_owners, 1, bool(found) and max(found)[0] >= self._first_trigger_name

        folded = fold(text)
        cjk = self._cjk_matches(folded, text) if self._cjk is not None else []
        if self._latin is None or not _LATIN_WORD.search(folded):
            return cjk, self._cjk_owners, 0, False
        if _LATIN_BEYOND_ASCII.search(folded):  # é, ß, ø...: the view is built in Python
            found = self._latin.find_matches_as_indexes(match_view(word_view(folded)))
        else:  # every other character is no Latin letter: as a '?', which the view makes a space
            found = self._latin_bytes.find_matches_as_indexes(_ascii_match_view(folded.encode("ascii", "replace")))
        english_trigger = any(index >= self._first_trigger_name for index, _, _ in found)
        # Matches of a trigger word alone name no term: left out here, so that they never win an overlap.
        latin = [(index, start, end - 1) for index, start, end in found if self._latin_owners[index]]
        if cjk:
            shift = len(self._latin_owners)
            latin = _merge(latin, [(index + shift, start, end) for index, start, end in cjk])
        return latin, self._owners, 0, english_trigger

    def _supported(
        self, mentions: list[Mention], pending: list[tuple[int, frozenset]], context: set[str], facet_hint
    ) -> list[Mention]:
        """Keep each ambiguous mention (by position in `mentions`) that something supports: the
        facet hint, the caller's context, or an ordinary mention of a supporting term."""
        ambiguous = {position for position, _ in pending}
        # Ordinary mentions support, by span, except the ambiguous mention's own span: 'fabric' as
        # the textile domain does not make the same word a woven fabric.
        spans: dict[tuple[int, int], set[str]] = {}
        for position, m in enumerate(mentions):
            if position not in ambiguous:
                spans.setdefault((m.start, m.end), set()).add(m.term)
        dropped = set()
        for position, support in pending:
            mention = mentions[position]
            if mention.facet == facet_hint or not support.isdisjoint(context):
                continue
            if any(
                not support.isdisjoint(terms) for span, terms in spans.items() if span != (mention.start, mention.end)
            ):
                continue
            dropped.add(position)
        return [m for position, m in enumerate(mentions) if position not in dropped]

    def _cjk_matches(self, folded: str, text: str) -> list[tuple[int, int, int]]:
        """(name index, start, end) of the CJK names in the folded text (`text`: the original)."""
        found = self._cjk.find_matches_as_indexes(folded)
        first_checked = self._cjk_first_checked
        if found and max(found)[0] >= first_checked:  # max: the match of the highest name index
            language = text_language(folded)  # once per text: which segmenter reads it
            # jieba's dictionary is simplified Chinese, which the folded text is; MeCab's UniDic knows
            # Japanese kanji as written (損傷, not the folded 损伤), so Japanese is segmented unfolded.
            segmented = folded if language == "zh" else text
            found = [
                match
                for match in found
                if match[0] < first_checked or self._may_start(folded, segmented, language, *match)
            ]
        return found

    def _may_start(self, folded: str, segmented: str, language: str, index: int, start: int, end: int) -> bool:
        check = self._cjk_checks[index]
        if check == "no latin before":
            return start == 0 or not _is_latin(folded[start - 1])
        return stands_alone(segmented, start, end, language=language, may_start_a_word=check == "word or compound head")

    def terms(self, text: str, **options) -> set[str]:
        """The terms the text names as findings (negated mentions left out)."""
        return {mention.term for mention in self.findings(text, **options)}


def _mentions(
    text: str, found: list[tuple[int, int, int]], owners: list, trim: int, facets, languages, has_ambiguous: bool
) -> tuple[list[Mention], list[tuple[int, frozenset]]]:
    """One mention per term that each (owner index, start, end + trim) names, keeping only `facets`
    and names in `languages`; and (position in the list, support) of each ambiguous one
    (`has_ambiguous`: whether any name is ambiguous at all)."""
    make = tuple.__new__  # builds the NamedTuple without its Python-level __new__: millions are made
    pending: list[tuple[int, frozenset]] = []
    if facets is None and languages is None:  # the hot path
        mentions = [
            make(Mention, (term, facet, start, end - trim, text[start : end - trim], language, False))
            for index, start, end in found
            for term, facet, language, _languages, _support in owners[index]
        ]
        if has_ambiguous and any(map(_AMBIGUOUS, map(owners.__getitem__, map(_FIRST, found)))):  # in C
            rows = [row for index, _, _ in found for row in owners[index]]
            pending = [(position, row[4]) for position, row in enumerate(rows) if row[4] is not None]
        return mentions, pending
    wanted = set(facets) if facets is not None else None
    wanted_languages = set(languages) if languages is not None else None
    mentions = []
    for index, start, end in found:
        end -= trim
        for term, facet, language, names_languages, support in owners[index]:
            if wanted is not None and facet not in wanted:
                continue
            if wanted_languages is not None:
                language = next((lang for lang in names_languages if lang in wanted_languages), None)
                if language is None:
                    continue
            if support is not None:
                pending.append((len(mentions), support))
            mentions.append(make(Mention, (term, facet, start, end, text[start:end], language, False)))
    return mentions, pending


class _Owners(tuple):
    """The (term, facet, first language, every language, support) rows of one name; `ambiguous`
    says whether any row needs support, so the hot path asks once per match."""

    ambiguous = False


def _owner_rows(by_term: dict[str, list], support: dict[frozenset, frozenset]) -> _Owners:
    """One row per term the name names: one mention each."""
    rows = _Owners(
        (term, facet, languages[0], tuple(languages), None if context is None else support[frozenset(context)])
        for term, (facet, languages, context) in by_term.items()
    )
    rows.ambiguous = any(row[4] is not None for row in rows)
    return rows


def _add_inflected_forms(owners: dict[str, dict[str, list]]) -> None:
    """Add the English inflected forms of every Latin name (inflection.py) as names of the same
    terms. A form that is a name already keeps its own owners: what the vocabulary says wins."""
    forms: dict[str, dict[str, list]] = {}
    for key, by_term in owners.items():
        if not key.isascii() or not _is_latin_name(key) or not any("en" in row[1] for row in by_term.values()):
            continue
        facets = {row[0] for row in by_term.values()}
        for form in inflected_names(key, facets):
            if form in owners:  # a name already ("blistered" is a shape): the vocabulary's word wins
                continue
            merged = forms.setdefault(form, {})
            for term, (facet, _languages, context) in by_term.items():
                row = merged.get(term)
                if row is None:
                    merged[term] = [facet, ["en"], None if context is None else set(context)]
                else:
                    row[2] = None if row[2] is None or context is None else row[2] | context
    owners.update(forms)


def _add_split_voiced_forms(owners: dict[str, dict[str, list]]) -> None:
    """Add each name holding a voiced katakana (ガス) as a halfwidth text folds it, the kana and its
    mark apart (text.py): the same owners, so ｶﾞｽ matches where it stands, with no position map."""
    for key in [key for key in owners if split_voiced_kana(key) != key]:
        owners.setdefault(split_voiced_kana(key), owners[key])


def _support_closure(owners: dict[str, dict[str, list]], parents: dict[str, str | None]) -> dict:
    """For each context of an ambiguous alias: the context's terms and all their descendants (a
    domain supports through its products), as frozensets, shared between names."""
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        if parent:
            children.setdefault(parent, []).append(child)
    closures: dict[frozenset, frozenset] = {}
    for by_term in owners.values():
        for _facet, _languages, context in by_term.values():
            if context is None or frozenset(context) in closures:
                continue
            seen, stack = set(), list(context)
            while stack:
                slug = stack.pop()
                if slug not in seen:
                    seen.add(slug)
                    stack.extend(children.get(slug, ()))
            closures[frozenset(context)] = frozenset(seen)
    return closures


def _without_contradicted_defect_free(mentions: list[Mention]) -> list[Mention]:
    """'Normal' or 'good' in a text that names a defect describes the rest of the part, not the
    sample: the defect-free mention is dropped when an affirmed defect type stands beside it."""
    if DEFECT_FREE not in map(_FIRST, mentions):  # the terms, compared in C
        return mentions
    if not any(m.facet == "defect_type" and m.term != DEFECT_FREE and not m.negated for m in mentions):
        return mentions
    return [m for m in mentions if m.term != DEFECT_FREE]


def _fix_digit_neighbour(match: re.Match) -> str:
    char = match.group()
    return _INNER_DIGIT.get(char) or char.lower()


def _fix_digit_neighbour_bytes(match: re.Match) -> bytes:
    return _fix_digit_neighbour_bytes_table[match.group()]


_LATIN_WORD = re.compile(f"[{LATIN_WORD_CHARS}]")
_LATIN_BEYOND_ASCII = re.compile(f"[{re.escape(_LATIN_LETTERS)}]")
_NON_WORD = re.compile(f"[^{LATIN_WORD_CHARS}]")
_HAS_DIGIT = re.compile("[0-9]")
# In a titled view: a digit after a word character is inside a word; a letter after a digit was
# capitalized by `title` though it does not start a word. Spaces are the only non-word characters.
_DIGIT_FIXES = re.compile("(?<=[^ ])[0-9]|(?<=[0-9])[^ 0-9]")
_DIGIT_FIXES_BYTES = re.compile(b"(?<=[^ ])[0-9]|(?<=[0-9])[^ 0-9]")
_fix_digit_neighbour_bytes_table = {
    bytes([code]): (_INNER_DIGIT.get(chr(code)) or chr(code).lower()).encode("ascii") for code in range(128)
}
_ASCII_VIEW = bytes(ord(" ") if _NON_WORD.match(chr(code).lower()) else ord(chr(code).lower()) for code in range(256))


def _merge(first: list[tuple], second: list[tuple]) -> list[tuple]:
    """Both matchers' (index, start, end) in reading order; where they overlap (rare), the longer wins."""
    merged: list[tuple] = []
    for match in sorted(first + second, key=lambda m: (m[1], m[1] - m[2])):
        if merged and match[1] < merged[-1][2]:
            if match[2] - match[1] > merged[-1][2] - merged[-1][1]:
                merged[-1] = match
            continue
        merged.append(match)
    return merged
