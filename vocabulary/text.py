"""Text folding shared by the normalizer, autocomplete and label lookup.

Folding keeps every character's position (one character in, one out), so spans found in the
folded text are spans of the original text.
"""

import re

# Fullwidth forms of ASCII (ＰＣＢ, ５ｍｍ, Ｏ－ｒｉｎｇ), common in Chinese and Japanese text: read as
# the ASCII characters they stand for, one for one. (NFKC would do it too, but it also changes
# the length of other characters, such as ㎜, and positions must hold.) Only a text with a
# fullwidth letter or digit is translated: nearly every Chinese text has fullwidth punctuation
# (，：？), which matters to no name, and translating would cost the normalizer a third of its rate.
_FULLWIDTH_TO_ASCII = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HAS_FULLWIDTH_LETTER_OR_DIGIT = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_SEPARATORS = {"_": " ", "-": " ", "\u3000": " ", "\t": " ", "\n": " ", "\r": " "}
_ASCII_SEPARATORS = str.maketrans({separator: space for separator, space in _SEPARATORS.items() if separator.isascii()})


def fold_char(char: str) -> str:
    lowered = char.lower()
    if len(lowered) != 1:  # e.g. 'İ' lowers to two code points: keep it, keep positions
        lowered = char
    return _SEPARATORS.get(lowered, lowered)


def fold(text: str) -> str:
    """Lower-case, read fullwidth ASCII as ASCII, and treat '_' and '-' as spaces (raw class
    names such as 'rolled-in_scale')."""
    if text.isascii():  # an English caption: no fullwidth form, and lower() keeps the length
        folded = text.lower()
        if "_" in folded or "-" in folded or "\t" in folded or "\n" in folded or "\r" in folded:
            folded = folded.translate(_ASCII_SEPARATORS)
        return folded
    if _HAS_FULLWIDTH_LETTER_OR_DIGIT.search(text):
        text = text.translate(_FULLWIDTH_TO_ASCII)
    folded = text.lower()
    if len(folded) != len(text):
        return "".join(fold_char(c) for c in text)
    for separator, space in _SEPARATORS.items():
        if separator in folded:
            folded = folded.replace(separator, space)
    return folded
