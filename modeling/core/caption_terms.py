"""The vocabulary terms a caption names: what Stage 2's grounding loss grounds the masks on.

Grounding on every caption token could not learn on real captions: template and LLM captions of ~42
words share most of their words ("a close-up of ... surface ... likely caused by ...") across
images, so an image's queries cannot tell its caption from the others' (the loss stayed at chance,
ln 8, over 800 real steps). The terms (product, material, defect type, location, morphology, root
cause) are what differ, and each is one phrase whose CLIP embedding a query can match.

Where they come from, first found wins:
  1. a caption-terms file (``data.caption_terms``), JSON lines ``{"key": "0000012345", "terms":
     [{"slug": "def-crack", "facet": "defect_type", "label": "crack"}, ...]}``: the terms the
     vocabulary's normalizer found in each sample's English caption. The platform writes it
     (modeling/caption_terms.py, ``manage.py caption_terms``), since the normalizer lives in Django's
     world and this package imports none of it;
  2. otherwise the sample json's own terms (its template fields and region terms) whose English
     label the English caption contains as whole words: the caption's terms as far as the
     annotation names them.
The phrase grounded on is the term's English label, so aliases and inflections in the caption
ground on the same embedding.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from modeling.core.errors import ConfigError


def read_caption_terms(path: str | Path) -> dict[str, list[str]]:
    """A caption-terms file: sample key -> the English labels of its caption's terms, in file order."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data.caption_terms: no such file {path}")
    terms: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key, entries = row["key"], row["terms"]
                labels = [entry["label"] for entry in entries]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}:{number}: not a caption-terms line ({exc})") from None
            terms[str(key)] = _unique([label.strip() for label in labels if isinstance(label, str) and label.strip()])
    return terms


def annotation_terms_in_caption(annotation: dict[str, Any], caption: str) -> list[str]:
    """The English labels of the annotation's terms (template fields, then regions) that the caption
    contains as whole words, case-insensitively, in the order the annotation lists them."""
    labels = []
    for field_terms in (annotation.get("terms") or {}).values():
        for term in field_terms or []:
            labels.append(((term or {}).get("labels") or {}).get("en"))
    for region in annotation.get("regions") or []:
        labels.append((((region or {}).get("term") or {}).get("labels") or {}).get("en"))
    text = f" {_words(caption)} "
    return _unique([label for label in labels if label and f" {_words(label)} " in text])


def _words(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
