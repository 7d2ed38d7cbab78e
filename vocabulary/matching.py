"""The normalizer: find the controlled terms a text mentions, in English, Chinese or Japanese.

An Aho-Corasick automaton (pyahocorasick, compiled C) scans the folded text once and yields the
leftmost-longest matches itself, so Python sees only real candidates, not every substring. Latin-script
names must stand on word boundaries ("pit" is not found in "spitting"); CJK text has no spaces, so
CJK names match anywhere, except that a one-ideograph name must not follow another ideograph. Pure Python + pyahocorasick: no Django, so benchmarks and workers share it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from .text import fold


@dataclass(frozen=True)
class Name:
    text: str
    term: str  # the term's slug
    facet: str
    language: str


class Mention(NamedTuple):  # a tuple: the normalizer makes millions of them
    term: str
    facet: str
    start: int
    end: int  # exclusive: text[start:end] is the mention
    text: str
    language: str  # the language of the name that matched


def _is_word_char(char: str) -> bool:
    """A character that continues a Latin-script word (CJK ideographs and kana do not)."""
    return char.isalnum() and char < "\u2e80"


def _is_ideograph(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff"


def _stands_alone(folded: str, start: int, end: int, needs_start: bool, needs_end: bool, single_ideograph: bool) -> bool:
    if needs_start and start > 0 and _is_word_char(folded[start - 1]):
        return False
    if needs_end and end < len(folded) and _is_word_char(folded[end]):
        return False
    return not (single_ideograph and start > 0 and _is_ideograph(folded[start - 1]))


class TermMatcher:
    def __init__(self, names: Iterable[Name]):
        self._automaton = ahocorasick.Automaton()
        entries: dict[str, list[Name]] = {}
        for name in names:
            key = fold(name.text.strip())
            if key:
                entries.setdefault(key, []).append(name)
        for key, found in entries.items():
            # Whether the match needs a word boundary before / after it, decided once per key.
            needs_start = _is_word_char(key[0])
            needs_end = _is_word_char(key[-1])
            # A one-ideograph name (米, 傷, 铜) is too often the tail of a longer word (毫米, 損傷):
            # it counts only where no ideograph stands right before it.
            single_ideograph = len(key) == 1 and _is_ideograph(key)
            self._automaton.add_word(key, (len(key), needs_start, needs_end, single_ideograph, tuple(found)))
        self.size = len(entries)
        if entries:
            self._automaton.make_automaton()

    def find(self, text: str, *, facets: Iterable[str] | None = None) -> list[Mention]:
        """Mentions in reading order; one per term for a span that names terms of several facets."""
        if not self.size or not text:
            return []
        wanted = set(facets) if facets is not None else None
        folded = fold(text)
        mentions: list[Mention] = []
        for end, (size, needs_start, needs_end, single_ideograph, names) in self._automaton.iter_long(folded):
            start = end - size + 1
            if _stands_alone(folded, start, end + 1, needs_start, needs_end, single_ideograph):
                self._emit(mentions, text, start, end + 1, names, wanted)
            else:
                # Rare: the longest name here is part of a longer word ('oil stain' in 'oil staining');
                # a shorter name inside the same span ('oil') may still stand alone.
                for inner_start, inner_end, inner_names in self._shorter_inside(folded, start, end + 1):
                    self._emit(mentions, text, inner_start, inner_end, inner_names, wanted)
        return mentions

    def _shorter_inside(self, folded: str, span_start: int, span_end: int):
        candidates = []
        for end, (size, needs_start, needs_end, single_ideograph, names) in self._automaton.iter(
            folded, span_start, span_end
        ):
            start = end - size + 1
            if start >= span_start and _stands_alone(folded, start, end + 1, needs_start, needs_end, single_ideograph):
                candidates.append((start, end + 1, names))
        candidates.sort(key=lambda c: (c[0], c[0] - c[1]))
        covered_until = span_start
        for start, end, names in candidates:
            if start >= covered_until:
                covered_until = end
                yield start, end, names

    @staticmethod
    def _emit(mentions: list, text: str, start: int, end: int, names: tuple, wanted: set | None) -> None:
        if len(names) == 1:  # the usual case: one term owns this name
            name = names[0]
            if wanted is None or name.facet in wanted:
                mentions.append(Mention(name.term, name.facet, start, end, text[start:end], name.language))
            return
        seen_terms = set()
        for name in names:
            if name.term not in seen_terms and (wanted is None or name.facet in wanted):
                seen_terms.add(name.term)
                mentions.append(Mention(name.term, name.facet, start, end, text[start:end], name.language))

    def terms(self, text: str, *, facets: Iterable[str] | None = None) -> set[str]:
        return {mention.term for mention in self.find(text, facets=facets)}
