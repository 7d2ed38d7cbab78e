"""The bundled vocabulary as captioner inputs, read from the JSON files (no database needed)."""

import functools
import json
from pathlib import Path

from captioning.inputs import TermText
from vocabulary.captions import CaptionValidator, TermInfo
from vocabulary.matching import Name

DATA = Path(__file__).resolve().parents[2] / "vocabulary" / "data"


@functools.cache
def bundled_terms() -> tuple[dict, ...]:
    terms = []
    for path in sorted(DATA.glob("*.json")):
        terms += json.loads(path.read_text(encoding="utf-8"))["terms"]
    return tuple(terms)


def term_texts() -> dict[str, TermText]:
    return {t["slug"]: TermText(t["slug"], t["labels"]) for t in bundled_terms()}


def by_facet() -> dict[str, list[TermText]]:
    texts = term_texts()
    result: dict[str, list[TermText]] = {}
    for term in bundled_terms():
        result.setdefault(term["facet"], []).append(texts[term["slug"]])
    return result


@functools.cache
def validator() -> CaptionValidator:
    terms = bundled_terms()
    names = [
        Name(t["labels"][language], t["slug"], t["facet"], language) for t in terms for language in ("en", "zh", "ja")
    ]
    for t in terms:
        for language in ("en", "zh", "ja"):
            for alias in t["aliases"][language]:  # a string, or {"text", "context"} for an ambiguous alias
                text, context = (alias, None) if isinstance(alias, str) else (alias["text"], tuple(alias["context"]))
                names.append(Name(text, t["slug"], t["facet"], language, False, context))
    infos = {t["slug"]: TermInfo(t["slug"], t["facet"], t["labels"], "approved", parent=t.get("parent")) for t in terms}
    return CaptionValidator(names=names, terms=infos)
