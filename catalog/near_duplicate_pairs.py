"""Near-duplicate pairs, stored (NearDuplicatePair) as the embedding batches find them, so that the
groups of a selection are read from the database instead of searched in the index per request.

Who writes them:
- each embedding batch, after adding its vectors to the index: `near_duplicate_pairs_add` asks the
  index for each new vector's neighbours within NEAR_DUPLICATE_MAX_COSINE_DISTANCE, and compares the
  batch's vectors with one another (exactly: they may be missing from an index that another process
  has just saved over this one's);
- the job's last step, once the index holds every stored vector (embedding_index_sync):
  `near_duplicate_pairs_find(since=the job's start)` asks again for every vector stored since then.
  A batch's search can miss a pair whose other vector was being stored at the same time, by a
  concurrent job or by the job's previous batch in another worker whose index was not saved yet; the
  later of the two jobs' last steps finds it;
- `manage.py embedding_index --pairs` (`near_duplicate_pairs_find` over the whole space): the repair
  after a job that never reached its last step, or after raising NEAR_DUPLICATE_MAX_COSINE_DISTANCE.

Adding is idempotent (one row per pair, conflicts ignored), and vectors never change within a
space, so a stored pair never goes stale: it goes only with one of its samples (FK cascade).
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from .embedding_index import READ_BATCH, embedding_index_open, embedding_vectors
from .models import EmbeddingSpace, NearDuplicatePair, SampleEmbedding
from .near_duplicates import embedding_pairs

INSERT_BATCH = 5000


def _pairs_among(ids: np.ndarray, vectors: np.ndarray, *, max_distance: float):
    """Yield (a, b, distance), a < b, for the rows of this small set within max_distance (exact)."""
    if len(ids) < 2:
        return
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    distances = 1.0 - unit @ unit.T
    for i, j in zip(*np.nonzero(np.triu(distances <= max_distance, k=1)), strict=True):
        a, b = int(ids[i]), int(ids[j])
        yield min(a, b), max(a, b), max(0.0, float(distances[i, j]))


def _store(space: EmbeddingSpace, found: dict[tuple[int, int], float]) -> int:
    """Insert these pairs whose both samples still have a vector in the space (the index may still
    hold a deleted sample's id until the next sync). Returns how many were stored or already there."""
    if not found:
        return 0
    try:
        return _insert(space, found)
    except IntegrityError:  # a sample deleted between the look and the insert: look once more
        return _insert(space, found)


def _insert(space: EmbeddingSpace, found: dict[tuple[int, int], float]) -> int:
    partners = sorted({sample_id for pair in found for sample_id in pair})
    present: set[int] = set()
    for start in range(0, len(partners), READ_BATCH):
        chunk = partners[start : start + READ_BATCH]
        present.update(
            SampleEmbedding.objects.filter(space=space, sample_id__in=chunk).values_list("sample_id", flat=True)
        )
    rows = [
        NearDuplicatePair(space=space, sample_a_id=a, sample_b_id=b, cosine_distance=distance)
        for (a, b), distance in found.items()
        if a in present and b in present
    ]
    with transaction.atomic():  # a savepoint: a failed insert leaves the caller's transaction usable
        NearDuplicatePair.objects.bulk_create(rows, batch_size=INSERT_BATCH, ignore_conflicts=True)
    return len(rows)


def _keep_closest(found: dict[tuple[int, int], float], pairs) -> None:
    for a, b, distance in pairs:
        key = (a, b)
        if key not in found or distance < found[key]:
            found[key] = distance


def near_duplicate_pairs_add(*, space: EmbeddingSpace, sample_ids: list[int]) -> int:
    """Store the pairs of these samples' vectors (a batch's new ones): their neighbours in the
    space's index, and one another. Returns the number of pairs stored or already there.

    A random-init space stores none: a random tower puts distinct images within any useful threshold
    (measured on 50 real bottle images: 0.0003-0.02 apart), so its pairs would be noise that grows
    with the square of the samples."""
    if space.random_init:
        return 0
    max_distance = settings.NEAR_DUPLICATE_MAX_COSINE_DISTANCE
    ids, vectors = embedding_vectors(space, sample_ids)
    if not len(ids):
        return 0
    found: dict[tuple[int, int], float] = {}
    index = embedding_index_open(space)
    if index is not None:
        _keep_closest(found, embedding_pairs(index, ids, vectors, among=None, max_distance=max_distance))
    _keep_closest(found, _pairs_among(ids, vectors, max_distance=max_distance))
    return _store(space, found)


def near_duplicate_pairs_find(*, space: EmbeddingSpace, since=None) -> dict:
    """Ask the index again for the neighbours of every vector of the space (stored at or after
    `since`, a datetime, when given) and store the pairs missing. Run it after embedding_index_sync,
    so that the index holds every stored vector. Returns {"queried": n, "pairs_found": n, "pairs": n}."""
    max_distance = settings.NEAR_DUPLICATE_MAX_COSINE_DISTANCE
    index = embedding_index_open(space)
    rows = SampleEmbedding.objects.filter(space=space)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    queried = found_total = 0
    last = -1
    while index is not None and not space.random_init:  # see near_duplicate_pairs_add
        chunk = list(
            rows.filter(sample_id__gt=last).order_by("sample_id").values_list("sample_id", flat=True)[:READ_BATCH]
        )
        if not chunk:
            break
        last = chunk[-1]
        ids, vectors = embedding_vectors(space, chunk)
        found: dict[tuple[int, int], float] = {}
        _keep_closest(found, embedding_pairs(index, ids, vectors, among=None, max_distance=max_distance))
        found_total += _store(space, found)
        queried += len(ids)
    return {
        "queried": queried,
        "pairs_found": found_total,
        "pairs": NearDuplicatePair.objects.filter(space=space).count(),
    }
