"""The normalizer: find the controlled terms a text mentions, in English, Chinese or Japanese.

Two compiled matchers, one per kind of script, each scanning the text once in C:

* Latin-script names go into an Aho-Corasick automaton (pyahocorasick) over a "word view" of the
  text: every character that is not a Latin letter or digit becomes a space (one for one, so
  positions hold), and each name is stored with a trailing space. A name therefore always ends on
  a word boundary ("pit " is not in "pitting"), and a match is kept only where it also starts on
  one ("pit " inside "spit " is dropped). The automaton yields leftmost-longest matches
  ("scratch mark" before "scratch").
* The other names (CJK, or mixed such as PCB板) go into a second automaton. CJK text has no
  spaces, so these match anywhere, except that a one-ideograph alias (米) must not follow another
  ideograph (毫米), where it is nearly always part of a longer word. The automaton looks up a
  node's children one by one, and CJK names start with thousands of different characters: so both
  names and text are spelled as their UTF-16 bytes (utf16_letters), an alphabet of 256. A match
  that starts on the second byte of a character straddles two characters and is dropped.

A matcher runs only on text that has its script (an English caption never enters the automaton);
mixed text runs both and the spans are merged, leftmost-longest.

Matching runs on the folded text (lower-cased, '_' and '-' read as spaces: text.fold), which keeps
every character's position, so spans are spans of the original text. No Django here: benchmarks and
workers share this module.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from .text import fold

LATIN_WORD_CHARS = "a-z0-9\u00c0-\u024f"
IDEOGRAPHS = "\u3400-\u9fff"


@dataclass(frozen=True)
class Name:
    text: str
    term: str  # the term's slug
    facet: str
    language: str
    is_label: bool = True


class Mention(NamedTuple):  # a tuple: the normalizer makes millions of them
    term: str
    facet: str
    start: int
    end: int  # exclusive: text[start:end] is the mention
    text: str
    language: str  # the language of the name that matched


def _is_latin(char: str) -> bool:
    return bool(re.match(f"[{LATIN_WORD_CHARS}]", char))


def _is_ideograph(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff"


def word_view(folded: str) -> str:
    """The folded text with every character that is not a Latin letter or digit turned into a space,
    plus one space at the end (so the last word ends on a boundary too). Positions are unchanged."""
    if folded.isascii():  # bytes.translate is a plain table lookup, several times faster than str's
        return folded.encode("ascii").translate(_ASCII_NON_WORD).decode("ascii") + " "
    return _NON_WORD.sub(" ", folded) + " "


def _is_latin_name(key: str) -> bool:
    """Starts with a Latin letter or digit and has no letter of another script (PCB板 is not)."""
    return _is_latin(key[0]) and not any(char.isalnum() and not _is_latin(char) for char in key)


def utf16_letters(text: str) -> str:
    """Each character as the two bytes of its UTF-16 code, read as two Latin-1 letters: an alphabet
    of 256, so no automaton node has more children than that. Characters beyond the BMP (four
    bytes) are replaced first, so character i is always letters 2i and 2i+1."""
    letters = text.encode("utf-16-be").decode("latin-1")
    if len(letters) != 2 * len(text):
        letters = _BEYOND_BMP.sub("\ufffd", text).encode("utf-16-be").decode("latin-1")
    return letters


class TermMatcher:
    def __init__(self, names: Iterable[Name]):
        owners: dict[str, dict[str, tuple[str, list[str]]]] = {}
        labels: set[str] = set()
        for name in names:
            key = fold(name.text.strip())
            if key:
                facet, languages = owners.setdefault(key, {}).setdefault(name.term, (name.facet, []))
                if name.language not in languages:
                    languages.append(name.language)
                if name.is_label:
                    labels.add(key)
        self.size = len(owners)

        # Latin names are looked up by their word view ("o-ring" and "o ring" are one name); names
        # that share a word view share their owners.
        by_lookup: dict[str, dict[str, tuple[str, list[str]]]] = {}
        self._latin = ahocorasick.Automaton()
        self._cjk = ahocorasick.Automaton()
        for key, by_term in owners.items():
            if _is_latin_name(key):
                lookup = word_view(key)[:-1].strip()
                if not lookup:
                    continue
                merged = by_lookup.setdefault(lookup, {})
                for term, (facet, languages) in by_term.items():
                    merged.setdefault(term, (facet, []))[1].extend(
                        language for language in languages if language not in merged[term][1]
                    )
                # A multi-word match dropped for its start may hide a later match: see _latin_spans.
                self._latin.add_word(lookup + " ", (len(lookup) + 1, lookup, " " in lookup))
            else:
                by_lookup[key] = by_term
                # A one-ideograph alias (米 for rice grain) is too often the tail of a longer word
                # (毫米, millimetre): it counts only where no ideograph stands right before it.
                # One-ideograph labels (小, 硅, 傷) are the canonical words and always count.
                single_alias = len(key) == 1 and _is_ideograph(key) and key not in labels
                self._cjk.add_word(utf16_letters(key), (len(key), single_alias, key, _is_latin(key[0])))
        # lookup -> ((term, facet, languages it is a name in), ...): one mention per term and span
        self._owners = {
            lookup: tuple((term, facet, tuple(languages)) for term, (facet, languages) in by_term.items())
            for lookup, by_term in by_lookup.items()
        }
        for automaton in (self._latin, self._cjk):
            if len(automaton):
                automaton.make_automaton()
        self._has_latin = len(self._latin) > 0
        self._has_cjk = len(self._cjk) > 0

    def _latin_spans(self, words: str) -> list[tuple[int, int, str]]:
        spans = []
        position = 0
        while True:
            restart = None
            for last, (size, lookup, multi_word) in self._latin.iter_long(words, position):
                start = last - size + 1
                if start and words[start - 1] != " ":
                    if multi_word:  # "it dent" in "spit dent" would hide "dent": look again past its start
                        restart = start + 1
                        break
                    continue
                spans.append((start, last, lookup))  # `last` is the trailing space: the end, exclusive
            if restart is None:
                return spans
            position = restart

    def _cjk_spans(self, folded: str) -> list[tuple[int, int, str]]:
        letters = utf16_letters(folded)
        spans = []
        position = 0
        while True:
            restart = None
            for last, (size, single_alias, key, starts_latin) in self._cjk.iter_long(letters, position):
                first = last + 1 - 2 * size
                if first % 2:  # straddles two characters; it may hide a real match: look again past it
                    restart = first + 1
                    break
                start = first // 2
                if start > 0:
                    before = folded[start - 1]
                    if (single_alias and _is_ideograph(before)) or (starts_latin and _is_latin(before)):
                        continue
                spans.append((start, start + size, key))
            if restart is None:
                return spans
            position = restart

    def find(
        self, text: str, *, facets: Iterable[str] | None = None, languages: Iterable[str] | None = None
    ) -> list[Mention]:
        """Mentions in reading order; one per term for a span that names terms of several facets.

        `languages` keeps only names of those languages (a Japanese caption is read with Japanese
        and English names: the Chinese label 大 must not count inside 最大)."""
        if not text:
            return []
        folded = fold(text)
        spans = []
        if self._has_latin and _HAS_LATIN.search(folded):
            spans = self._latin_spans(word_view(folded))
        if self._has_cjk and not folded.isascii():
            cjk_spans = self._cjk_spans(folded)
            spans = _merge(spans, cjk_spans) if spans else cjk_spans

        owners_of = self._owners
        make = tuple.__new__  # builds the NamedTuple without its Python-level __new__
        mentions = []
        if facets is None and languages is None:  # the hot path: no filter
            for start, end, key in spans:
                mentioned = text[start:end]
                for term, facet, names_languages in owners_of[key]:
                    mentions.append(make(Mention, (term, facet, start, end, mentioned, names_languages[0])))
            return mentions
        wanted = set(facets) if facets is not None else None
        wanted_languages = set(languages) if languages is not None else None
        for start, end, key in spans:
            for term, facet, names_languages in owners_of[key]:
                if wanted is not None and facet not in wanted:
                    continue
                language = names_languages[0]
                if wanted_languages is not None:
                    language = next((lang for lang in names_languages if lang in wanted_languages), None)
                    if language is None:
                        continue
                mentions.append(make(Mention, (term, facet, start, end, text[start:end], language)))
        return mentions

    def terms(
        self, text: str, *, facets: Iterable[str] | None = None, languages: Iterable[str] | None = None
    ) -> set[str]:
        return {mention.term for mention in self.find(text, facets=facets, languages=languages)}


_HAS_LATIN = re.compile(f"[{LATIN_WORD_CHARS}]")
_NON_WORD = re.compile(f"[^{LATIN_WORD_CHARS}]")
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")
_ASCII_NON_WORD = bytes(ord(" ") if _NON_WORD.match(chr(c)) else c for c in range(256))


def _merge(first: list[tuple], second: list[tuple]) -> list[tuple]:
    """Both matchers' spans in reading order; where they overlap (rare), the longer span wins."""
    merged: list[tuple] = []
    for span in sorted(first + second, key=lambda s: (s[0], s[0] - s[1])):
        if merged and span[0] < merged[-1][1]:
            if span[1] - span[0] > merged[-1][1] - merged[-1][0]:
                merged[-1] = span
            continue
        merged.append(span)
    return merged
