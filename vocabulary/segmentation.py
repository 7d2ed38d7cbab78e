"""Word boundaries in Chinese and Japanese text, for names one character long.

Chinese and Japanese write no spaces, so a one-character name (傷 scratch, 大 large, 铜 copper) can
sit inside a longer word that means something else: 損傷 (damage), 外傷 (injury), 最大 (maximum),
深度 (depth). Such a match counts only where a segmenter reads the character as a word of its own,
or, for a material, product or domain, as the first character of a compound (铜线 copper wire,
木箱 wooden box). Japanese is read by MeCab with UniDic (fugashi + unidic-lite) on a window around the match; Chinese
by a lookup in jieba's dictionary of the words that could cover the character; both ship their
dictionaries in the package (nothing is downloaded). Only one-character (and short hiragana) names
are looked at, so the rest of the text costs nothing. The validator segments whole captions.
"""

import re
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


def _chinese_words() -> dict:
    """jieba's dictionary (word -> frequency), loaded once."""
    words = _segmenters.get("zh-words")
    if words is None:
        with _lock:
            words = _segmenters.get("zh-words")
            if words is None:
                import logging

                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.check_initialized()
                words = _segmenters["zh-words"] = tokenizer.FREQ
    return words


def _inside_a_chinese_word(text: str, start: int, end: int, may_start_a_word: bool) -> bool:
    """Whether a dictionary word of two to four characters covers text[start:end] and reaches
    beyond it (最大 over 大, 深度 over 深); with may_start_a_word, only words that begin before it
    count (铜线 begins with 铜). A lookup per candidate, no segmentation of the text: jieba's
    segmentation in pure Python costs a Chinese caption several times the matching itself."""
    words = _chinese_words()
    for length in (2, 3, 4):
        first = max(0, end - length)
        last = start if not may_start_a_word else start - 1
        for left in range(first, last + 1):
            candidate = text[left : left + length]
            if len(candidate) == length and candidate != text[start:end] and words.get(candidate):
                return True
    return False


def stands_alone(text: str, start: int, end: int, *, language: str, may_start_a_word: bool = False) -> bool:
    """Whether text[start:end] is a word of its own for `language` ('zh' or 'ja'), or, with
    may_start_a_word, at least begins one. Japanese is segmented by MeCab (a window around the
    match); Chinese is looked up in jieba's dictionary."""
    if language == "zh":
        return not _inside_a_chinese_word(text, start, end, may_start_a_word)
    left = max(0, start - WINDOW)
    window = text[left : end + WINDOW]
    starts, ends = _word_starts_and_ends(language, window)
    if start - left not in starts:
        return False
    return may_start_a_word or end - left in ends


_KANA = re.compile("[\u3040-\u30ff]")


def text_language(text: str) -> str:
    """'ja' when the text has kana, else 'zh': how a CJK text is segmented."""
    return "ja" if _KANA.search(text) else "zh"


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
