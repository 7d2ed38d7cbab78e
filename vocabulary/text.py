"""Text folding shared by the normalizer, autocomplete and label lookup.

Folding keeps every character's position (one character in, one out), so spans found in the
folded text are spans of the original text.
"""

_SEPARATORS = {"_": " ", "-": " ", "\u3000": " ", "\t": " ", "\n": " ", "\r": " "}


def fold_char(char: str) -> str:
    lowered = char.lower()
    if len(lowered) != 1:  # e.g. 'İ' lowers to two code points: keep it, keep positions
        lowered = char
    return _SEPARATORS.get(lowered, lowered)


def fold(text: str) -> str:
    """Lower-case, and treat '_' and '-' as spaces (raw class names such as 'rolled-in_scale')."""
    folded = text.lower()
    if len(folded) != len(text):
        return "".join(fold_char(c) for c in text)
    for separator, space in _SEPARATORS.items():
        if separator in folded:
            folded = folded.replace(separator, space)
    return folded
