"""The normalizer: find the controlled terms a text mentions, in English, Chinese or Japanese.

Two compiled matchers, one per kind of script, each scanning the text once in C:

* Latin-script names are compiled into one regular expression shaped as a trie (names sharing a
  prefix share a branch). At a name's end it tries the longer continuation first
  (``scratch(?: mark)?``) and backs off to the shorter name when the longer one does not fit, which
  gives leftmost-longest matches; lookarounds make names stand on word boundaries, so "pit" is not
  found in "spitting".
* CJK names go into an Aho-Corasick automaton (pyahocorasick), which yields leftmost-longest matches
  itself. CJK text has no spaces, so these match anywhere, except that a one-ideograph alias (米)
  must not follow another ideograph (毫米), where it is nearly always part of a longer word.

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


def trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of `words`, longest first, with shared prefixes merged into a trie."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word

    def build(node: dict) -> str:
        branches, last_chars = [], []
        for char in sorted(key for key in node if key):
            rest = build(node[char])
            if rest:
                branches.append(re.escape(char) + rest)
            else:
                last_chars.append(re.escape(char))
        if last_chars:
            branches.append(last_chars[0] if len(last_chars) == 1 else "[" + "".join(last_chars) + "]")
        if not branches:
            return ""
        pattern = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here: the longer words through this node are optional, greedy
            pattern = f"(?:{pattern})?"
        return pattern

    return build(trie)


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
        # folded name -> ((term, facet, languages it is a name in), ...): one mention per term and span
        self._owners = {
            key: tuple((term, facet, tuple(languages)) for term, (facet, languages) in by_term.items())
            for key, by_term in owners.items()
        }
        self.size = len(self._owners)

        latin = [key for key in self._owners if _is_latin(key[0])]
        # A boundary after a Latin name ending in CJK (PCB板) always holds: the lookahead is harmless.
        self._latin = (
            re.compile(f"(?<![{LATIN_WORD_CHARS}])(?:{trie_pattern(latin)})(?![{LATIN_WORD_CHARS}])") if latin else None
        )
        self._cjk = None
        other = [key for key in self._owners if not _is_latin(key[0])]
        if other:
            self._cjk = ahocorasick.Automaton()
            for key in other:
                # A one-ideograph alias (米 for rice grain) is too often the tail of a longer word
                # (毫米, millimetre): it counts only where no ideograph stands right before it.
                # One-ideograph labels (小, 硅, 傷) are the canonical words and always count.
                single_alias = len(key) == 1 and _is_ideograph(key) and key not in labels
                self._cjk.add_word(key, (len(key), single_alias, key))
            self._cjk.make_automaton()

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
        if self._latin is not None and _HAS_LATIN.search(folded):
            spans = [(match.start(), match.end(), match.group()) for match in self._latin.finditer(folded)]
        if self._cjk is not None and not folded.isascii():
            cjk_spans = []
            for last, (size, single_alias, key) in self._cjk.iter_long(folded):
                start = last - size + 1
                if single_alias and start > 0 and _is_ideograph(folded[start - 1]):
                    continue
                cjk_spans.append((start, last + 1, key))
            spans = _merge(spans, cjk_spans) if spans else cjk_spans

        wanted = set(facets) if facets is not None else None
        wanted_languages = set(languages) if languages is not None else None
        owners_of = self._owners
        make = tuple.__new__  # builds the NamedTuple without its Python-level __new__
        mentions = []
        for start, end, key in spans:
            for term, facet, languages in owners_of[key]:
                if wanted is not None and facet not in wanted:
                    continue
                language = languages[0]
                if wanted_languages is not None:
                    language = next((lang for lang in languages if lang in wanted_languages), None)
                    if language is None:
                        continue
                mentions.append(make(Mention, (term, facet, start, end, text[start:end], language)))
        return mentions

    def terms(
        self, text: str, *, facets: Iterable[str] | None = None, languages: Iterable[str] | None = None
    ) -> set[str]:
        return {mention.term for mention in self.find(text, facets=facets, languages=languages)}


_HAS_LATIN = re.compile(f"[{LATIN_WORD_CHARS}]")


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
