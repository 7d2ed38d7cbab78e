"""Pick N samples that cover the embedding space: k-center greedy (Sener & Savarese, "Active
Learning for Convolutional Neural Networks: A Core-Set Approach", 2018).

Each pick is the sample farthest (cosine distance) from everything picked so far, so the picks
spread over every cluster before any cluster gets a second one: a queue filled this way shows the
experts every kind of image early instead of a thousand frames of the most common product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.db.models import QuerySet

from .embedding_index import EmbeddingError, embedding_space_choose, embedding_vectors
from .models import Sample
from .near_duplicates import space_json

MAX_CANDIDATES = 200_000


def k_center_greedy(vectors: np.ndarray, count: int, *, seed: int = 0) -> list[int]:
    """Row indices of `count` rows of vectors (N, D) chosen by k-center greedy on cosine distance;
    the first is a seeded random row. O(N * D) per pick."""
    n = len(vectors)
    if count <= 0 or n == 0:
        return []
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
    first = int(np.random.default_rng(seed).integers(n))
    picked = [first]
    nearest = 1.0 - unit @ unit[first]
    nearest[first] = -np.inf
    for _ in range(min(count, n) - 1):
        chosen = int(np.argmax(nearest))
        picked.append(chosen)
        np.minimum(nearest, 1.0 - unit @ unit[chosen], out=nearest)
        nearest[picked] = -np.inf
    return picked


@dataclass
class DiversePick:
    sample_ids: list[int]
    candidates: int  # samples offered
    without_embedding: int  # offered samples that could not be placed (no vector in the space)
    sampled_from: int  # candidates the greedy ran over (at most MAX_CANDIDATES, a seeded subsample)
    space: dict | None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "picked": len(self.sample_ids),
            "candidates": self.candidates,
            "without_embedding": self.without_embedding,
            "sampled_from": self.sampled_from,
            "space": self.space,
            "warnings": self.warnings,
        }


def diverse_sample_ids(
    *, samples: QuerySet[Sample], count: int, seed: int = 0, space_id: int | None = None
) -> DiversePick:
    """`count` sample ids from `samples` (a visibility-filtered queryset) that cover the space.
    Samples without a vector cannot be placed: they are counted and named in the warnings, never
    silently mixed in."""
    if count < 1:
        raise EmbeddingError("count must be at least 1")
    choice = embedding_space_choose(space_id, among=samples)
    candidates = samples.count()
    if choice.space is None:
        raise EmbeddingError(f"cannot sample for diversity: {choice.warning}")
    ids, vectors = embedding_vectors(choice.space, samples)
    warnings = [choice.warning] if choice.warning else []
    without = candidates - len(ids)
    if without:
        warnings.append(f"{without} candidate sample(s) have no embedding in space {choice.space.pk} and were left out")
    if len(ids) > MAX_CANDIDATES:
        keep = np.sort(np.random.default_rng(seed).choice(len(ids), MAX_CANDIDATES, replace=False))
        ids, vectors = ids[keep], vectors[keep]
        warnings.append(f"the greedy ran over a seeded random {MAX_CANDIDATES} of the candidates")
    picked = k_center_greedy(vectors, count, seed=seed)
    return DiversePick(
        sample_ids=[int(ids[i]) for i in picked],
        candidates=candidates,
        without_embedding=without,
        sampled_from=len(ids),
        space=space_json(choice.space),
        warnings=warnings,
    )
