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

Matching runs on folded text (lower-cased, '_' and '-' read as spaces: text.fold), which keeps
every character's position, so spans are spans of the original text. No Django here: benchmarks and
workers share this module.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick_rs

from .text import fold

# Latin letters (cased ones only: `title` must see every one as a letter) and digits.
_LATIN_LETTERS = "".join(
    chr(code) for code in range(0xC0, 0x250) if chr(code).islower() or chr(code).isupper() or chr(code).istitle()
)
LATIN_WORD_CHARS = "a-z0-9" + re.escape(_LATIN_LETTERS)
# A digit inside a word is spelled with one of these in the match view ("m3" -> "M$"): ASCII
# punctuation, which the view otherwise never holds.
_INNER_DIGIT = {str(digit): chr(ord("!") + digit) for digit in range(10)}
LEFTMOST_LONGEST = ahocorasick_rs.MATCHKIND_LEFTMOST_LONGEST


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
    return bool(_LATIN_WORD.match(char))


def _is_ideograph(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff"


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

        # Latin names are looked up by their match view ("o-ring" and "o ring" are one name);
        # names that share it share their owners.
        latin: dict[str, dict[str, tuple[str, list[str]]]] = {}
        cjk: dict[str, dict[str, tuple[str, list[str]]]] = {}
        for key, by_term in owners.items():
            if _is_latin_name(key):
                lookup = word_view(key)[:-1].strip()
                if not lookup:
                    continue
                merged = latin.setdefault(match_view(lookup) + " ", {})
                for term, (facet, languages) in by_term.items():
                    merged_languages = merged.setdefault(term, (facet, []))[1]
                    merged_languages.extend(language for language in languages if language not in merged_languages)
            else:
                cjk[key] = by_term

        # Which CJK names need the character before them checked: a one-ideograph alias (米 for
        # rice grain) counts only where no ideograph stands before it (毫米 is millimetre; the
        # one-ideograph labels 小, 硅, 傷 are the canonical words and always count); a name that
        # starts with a Latin letter must start a word. Those names go last, so that the highest
        # name index among the matches tells whether any needs the look.
        def check(key: str) -> str | None:
            if len(key) == 1 and _is_ideograph(key) and key not in labels:
                return "no ideograph before"
            return "no latin before" if _is_latin(key[0]) else None

        cjk_keys = sorted(cjk, key=lambda key: check(key) is not None)
        self._cjk_checks = [check(key) for key in cjk_keys]
        self._cjk_first_checked = sum(1 for key in cjk_keys if check(key) is None)
        # Owner rows by each automaton's name index; mixed text's matches index one table of both,
        # the CJK ones shifted by the number of Latin names.
        self._latin_owners = [_owner_rows(by_term) for by_term in latin.values()]
        self._cjk_owners = [_owner_rows(cjk[key]) for key in cjk_keys]
        self._owners = self._latin_owners + self._cjk_owners
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
        self, text: str, *, facets: Iterable[str] | None = None, languages: Iterable[str] | None = None
    ) -> list[Mention]:
        """Mentions in reading order; one per term for a span that names terms of several facets.

        `languages` keeps only names of those languages (a Japanese caption is read with Japanese
        and English names: the Chinese label 大 must not count inside 最大)."""
        if not text:
            return []
        if text.isascii():  # the hot path: an English caption
            if self._latin is None:
                return []
            found = self._latin_bytes.find_matches_as_indexes(_ascii_match_view(text.encode("ascii")))
            return _mentions(text, found, self._latin_owners, 1, facets, languages)  # 1: not the trailing space

        folded = fold(text)
        cjk = self._cjk_matches(folded) if self._cjk is not None else []
        if self._latin is None or not _LATIN_WORD.search(folded):
            return _mentions(text, cjk, self._cjk_owners, 0, facets, languages)
        if _LATIN_BEYOND_ASCII.search(folded):  # é, ß, ø...: the view is built in Python
            found = self._latin.find_matches_as_indexes(match_view(word_view(folded)))
        else:  # every other character is no Latin letter: as a '?', which the view makes a space
            found = self._latin_bytes.find_matches_as_indexes(_ascii_match_view(folded.encode("ascii", "replace")))
        latin = [(index, start, end - 1) for index, start, end in found]
        if cjk:
            shift = len(self._latin_owners)
            latin = _merge(latin, [(index + shift, start, end) for index, start, end in cjk])
        return _mentions(text, latin, self._owners, 0, facets, languages)

    def _cjk_matches(self, folded: str) -> list[tuple[int, int, int]]:
        """(name index, start, end) of the CJK names in the folded text."""
        found = self._cjk.find_matches_as_indexes(folded)
        first_checked = self._cjk_first_checked
        if found and max(found)[0] >= first_checked:  # max: the match of the highest name index
            found = [match for match in found if match[0] < first_checked or self._may_start(folded, *match)]
        return found

    def _may_start(self, folded: str, index: int, start: int, _end: int) -> bool:
        if start == 0:
            return True
        if self._cjk_checks[index] == "no ideograph before":
            return not _is_ideograph(folded[start - 1])
        return not _is_latin(folded[start - 1])

    def terms(
        self, text: str, *, facets: Iterable[str] | None = None, languages: Iterable[str] | None = None
    ) -> set[str]:
        return {mention.term for mention in self.find(text, facets=facets, languages=languages)}


def _mentions(
    text: str, found: list[tuple[int, int, int]], owners: list, trim: int, facets, languages
) -> list[Mention]:
    """One mention per term that each (owner index, start, end + trim) names, keeping only `facets`
    and names in `languages`."""
    make = tuple.__new__  # builds the NamedTuple without its Python-level __new__: millions are made
    if facets is None and languages is None:  # the hot path
        return [
            make(Mention, (term, facet, start, end - trim, text[start : end - trim], language))
            for index, start, end in found
            for term, facet, language, _languages in owners[index]
        ]
    wanted = set(facets) if facets is not None else None
    wanted_languages = set(languages) if languages is not None else None
    mentions = []
    for index, start, end in found:
        end -= trim
        for term, facet, language, names_languages in owners[index]:
            if wanted is not None and facet not in wanted:
                continue
            if wanted_languages is not None:
                language = next((lang for lang in names_languages if lang in wanted_languages), None)
                if language is None:
                    continue
            mentions.append(make(Mention, (term, facet, start, end, text[start:end], language)))
    return mentions


def _owner_rows(by_term: dict[str, tuple[str, list[str]]]) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(term, facet, first language, every language) for each term a name names: one mention each."""
    return tuple((term, facet, languages[0], tuple(languages)) for term, (facet, languages) in by_term.items())


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
