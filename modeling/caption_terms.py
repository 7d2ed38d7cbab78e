"""The caption-terms file Stage 2 grounds on (modeling/core/caption_terms.py): for every sample of a
dataset version, the vocabulary terms the normalizer finds in its English caption.

The normalizer needs the vocabulary's names from the database, which the torch core never reads,
so the platform writes this plain JSON-lines file beside the run and hands it to the trainer
(``--set data.caption_terms=PATH``). Keys are the shards' sample keys (releases.exports.sample_key).
"""

from __future__ import annotations

import json
from pathlib import Path

from annotation.models import Caption
from releases.sample_documents import sample_key
from releases.models import DatasetVersion, DatasetVersionItem
from vocabulary.models import Term
from vocabulary.selectors import vocabulary_matcher

BATCH = 5000


def caption_terms_write(*, version: DatasetVersion, path: Path) -> dict[str, int]:
    """Write the caption-terms file of ``version``; returns counts of samples, captions and terms found."""
    matcher = vocabulary_matcher()
    labels = dict(Term.objects.values_list("slug", "label_en"))
    items = (
        DatasetVersionItem.objects.filter(version=version).order_by("sample_id").values_list("sample_id", "revision_id")
    )
    counts = {"samples": 0, "captions": 0, "terms": 0}
    partial = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("w", encoding="utf-8") as out:
        batch: list[tuple[int, int]] = []
        for item in items.iterator(chunk_size=BATCH):
            batch.append(item)
            if len(batch) == BATCH:
                _write_batch(out, batch, matcher, labels, counts)
                batch = []
        _write_batch(out, batch, matcher, labels, counts)
    partial.replace(path)
    return counts


def _write_batch(out, batch, matcher, labels: dict[str, str], counts: dict[str, int]) -> None:
    captions = dict(
        Caption.objects.filter(revision_id__in=[revision for _, revision in batch], language="en").values_list(
            "revision_id", "text"
        )
    )
    for sample_id, revision_id in batch:
        counts["samples"] += 1
        text = captions.get(revision_id, "")
        found: dict[str, dict] = {}
        if text:
            counts["captions"] += 1
            for mention in matcher.find(text, languages=["en"]):
                found.setdefault(
                    mention.term,
                    {"slug": mention.term, "facet": mention.facet, "label": labels.get(mention.term) or mention.text},
                )
        counts["terms"] += len(found)
        out.write(json.dumps({"key": sample_key(sample_id), "terms": list(found.values())}, ensure_ascii=False) + "\n")
