"""Word boundaries in Chinese and Japanese text, for names one character long.

Chinese and Japanese write no spaces, so a one-character name (傷 scratch, 大 large, 铜 copper) can
sit inside a longer word that means something else: 損傷 (damage), 外傷 (injury), 最大 (maximum),
深度 (depth). Such a match counts only where a segmenter reads the character as a word of its own,
or, for a material, product or domain, as the first character of a compound (铜线 copper wire,
木箱 wooden box). Japanese is read by MeCab with UniDic (fugashi + unidic-lite), Chinese by jieba;
both ship their dictionaries in the package (nothing is downloaded). Only a window around the match
is segmented, and only for one-character names, so the rest of the text costs nothing.
"""

import threading
from functools import lru_cache

# Characters on each side of a match that the segmenter sees: enough for any word around it.
WINDOW = 8
_lock = threading.Lock()
_segmenters: dict[str, object] = {}


def _japanese():
    import fugashi

    tagger = fugashi.Tagger()  # UniDic from unidic-lite
    return lambda text: [word.surface for word in tagger(text)]


def _chinese():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    # HMM off: only dictionary words, so an unknown run of characters is not merged into a guessed word.
    return lambda text: list(tokenizer.cut(text, HMM=False))


def _segmenter(language: str):
    segment = _segmenters.get(language)
    if segment is None:
        with _lock:  # jieba builds its prefix dictionary on first use; once per process
            segment = _segmenters.get(language)
            if segment is None:
                segment = _japanese() if language == "ja" else _chinese()
                _segmenters[language] = segment
    return segment


@lru_cache(maxsize=65536)
def _word_starts_and_ends(language: str, window: str) -> tuple[frozenset[int], frozenset[int]]:
    starts, ends, position = set(), set(), 0
    for word in _segmenter(language)(window):
        starts.add(position)
        position += len(word)
        ends.add(position)
    return frozenset(starts), frozenset(ends)


def stands_alone(text: str, start: int, end: int, *, language: str, may_start_a_word: bool = False) -> bool:
    """Whether text[start:end] is a word of its own for the segmenter of `language` ('zh' or 'ja'),
    or, with may_start_a_word, at least begins one."""
    left = max(0, start - WINDOW)
    window = text[left : end + WINDOW]
    starts, ends = _word_starts_and_ends(language, window)
    if start - left not in starts:
        return False
    return may_start_a_word or end - left in ends


def text_language(text: str) -> str:
    """'ja' when the text has kana, else 'zh': how a CJK text is segmented."""
    return "ja" if any("\u3040" <= char <= "\u30ff" for char in text) else "zh"


def words_of(text: str, *, language: str) -> list[tuple[int, int]]:
    """(start, end) of every word of a Chinese or Japanese text, as its segmenter reads it."""
    spans, position = [], 0
    for word in _segmenter(language)(text):
        spans.append((position, position + len(word)))
        position += len(word)
    return spans


@lru_cache(maxsize=4096)
def part_of_speech(word: str, *, language: str = "ja") -> str:
    """UniDic's coarse part of speech of a Japanese word's last morpheme (名詞, 形状詞 ...)."""
    import fugashi

    tagger = _segmenters.get("ja-tagger")
    if tagger is None:
        tagger = _segmenters.setdefault("ja-tagger", fugashi.Tagger())
    morphemes = list(tagger(word))
    return morphemes[-1].feature.pos1 if morphemes else ""
