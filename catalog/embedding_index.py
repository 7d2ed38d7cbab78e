"""Sample embeddings: stored as rows (SampleEmbedding), searched through a nearest-neighbour index
kept beside the database, one folder per embedding space under EMBEDDING_INDEX_ROOT.

The rows are the truth; the index is derived from them and updated incrementally: each embedding
batch adds its own vectors (`embedding_index_add`), and the job's finishing step reconciles the index
with the rows (`embedding_index_sync`) so that a worker killed between its commit and its index write
loses nothing. Losing the folder loses nothing either: `manage.py embedding_index --rebuild`.

This module holds no torch: the vectors arrive as float32 arrays from the modeling app's tasks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from .models import EmbeddingSpace, SampleEmbedding
from .vector_index import VectorIndex, index_load, index_locked, index_new, index_stamp

READ_BATCH = 5000


class EmbeddingError(ValueError):
    """Embeddings that cannot be stored or used as asked; the message says why."""


def embedding_index_folder(space: EmbeddingSpace) -> Path:
    return Path(settings.EMBEDDING_INDEX_ROOT) / f"space-{space.pk}"


def embedding_space_get_or_create(*, model_name: str, weights: str, fingerprint: str, random_init: bool):
    """The space of this exact model: the same name, weights and fingerprint (size and modification
    time of the weights, or the random seed) always give the same space, so a resumed or repeated
    job adds to the vectors it started, and a changed weights file starts a new space."""
    key = f"{model_name}|{weights}|{fingerprint}"
    space, _ = EmbeddingSpace.objects.get_or_create(
        key=key, defaults={"model_name": model_name, "weights": weights, "random_init": random_init}
    )
    return space


def sample_embeddings_store(*, space: EmbeddingSpace, sample_ids: list[int], vectors: np.ndarray) -> list[int]:
    """Write the vectors of these samples (rows of `vectors`, in the order of `sample_ids`) unless the
    sample already has one in this space. Returns the ids written. Run it inside the caller's
    transaction; the index is updated afterwards (embedding_index_add), from the committed rows."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(sample_ids):
        raise EmbeddingError(f"{len(sample_ids)} sample ids for vectors of shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise EmbeddingError("embeddings must be finite (a NaN means the image tower broke)")
    dim = vectors.shape[1]
    if space.dim == 0:
        EmbeddingSpace.objects.filter(pk=space.pk, dim=0).update(dim=dim)
        space.refresh_from_db(fields=["dim"])
    if space.dim != dim:
        raise EmbeddingError(f"space {space.pk} holds {space.dim}-d vectors, got {dim}-d")
    existing = set(
        SampleEmbedding.objects.filter(space=space, sample_id__in=sample_ids).values_list("sample_id", flat=True)
    )
    rows = [
        SampleEmbedding(space=space, sample_id=sample_id, vector=vector.astype("<f4").tobytes())
        for sample_id, vector in zip(sample_ids, vectors, strict=True)
        if sample_id not in existing
    ]
    SampleEmbedding.objects.bulk_create(rows)
    return [row.sample_id for row in rows]


def embedding_vectors(space: EmbeddingSpace, sample_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """(ids (N,) int64, vectors (N, dim) float32) of these samples (all of the space's when None),
    in sample id order; samples without a vector are simply absent."""
    rows = SampleEmbedding.objects.filter(space=space).order_by("sample_id")
    if isinstance(sample_ids, QuerySet):
        rows = rows.filter(sample_id__in=sample_ids.values("pk"))
    elif sample_ids is not None:
        rows = rows.filter(sample_id__in=list(sample_ids))
    ids: list[int] = []
    chunks: list[np.ndarray] = []
    last = -1
    while True:
        batch = list(rows.filter(sample_id__gt=last).values_list("sample_id", "vector")[:READ_BATCH])
        if not batch:
            break
        ids.extend(sample_id for sample_id, _ in batch)
        chunks.append(np.frombuffer(b"".join(bytes(v) for _, v in batch), dtype="<f4").reshape(len(batch), -1))
        last = batch[-1][0]
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty((0, space.dim), dtype=np.float32)
    return np.asarray(ids, dtype=np.int64), np.vstack(chunks).astype(np.float32)


# -- the index -------------------------------------------------------------------------------

_cache_lock = threading.Lock()


@dataclass
class _Cached:
    based_on: str | None  # the saved file's stamp this index was loaded from or last saved as
    index: VectorIndex
    saved_monotonic: float  # when this process last saved it (time.monotonic)


_cache: dict[Path, _Cached] = {}


def _saved_at(folder: Path) -> str | None:
    return index_stamp(folder)


def embedding_index_open(space: EmbeddingSpace) -> VectorIndex | None:
    """The space's index, or None when it has none yet. Kept in memory per process (a million 512-d
    vectors take ~2 GB) and read again only when another process has saved a newer one."""
    folder = embedding_index_folder(space)
    saved_at = _saved_at(folder)
    with _cache_lock:
        cached = _cache.get(folder)
        if cached is not None and cached.based_on == saved_at:
            return cached.index
        if saved_at is None:
            return None
        _cache[folder] = _Cached(saved_at, index_load(folder), time.monotonic())
        return _cache[folder].index


def _update(space: EmbeddingSpace, change, *, save: bool = False, fresh: bool = False) -> dict:
    """Apply `change(index) -> report` to the space's index under its lock, and save it when asked
    or when EMBEDDING_INDEX_SAVE_SECONDS have passed since this process last saved it.

    Saving writes the whole index (2 GB at a million vectors), so embedding batches save at most
    that often; meanwhile this process searches its in-memory index. Another process's save makes
    this one reload and drop its unsaved additions: those vectors are stored rows, and the job's
    finishing step (embedding_index_sync, which always saves) puts every row in the index."""
    folder = embedding_index_folder(space)
    with index_locked(folder):
        saved_at = _saved_at(folder)
        with _cache_lock:
            cached = _cache.get(folder)
        if fresh or cached is None or cached.based_on != saved_at:
            if saved_at is not None and not fresh:
                index = index_load(folder)
            else:
                if not space.dim:
                    space.refresh_from_db(fields=["dim"])
                index = index_new(settings.EMBEDDING_INDEX_KIND, space.dim)
            cached = _Cached(saved_at, index, time.monotonic() - settings.EMBEDDING_INDEX_SAVE_SECONDS)
        report = change(cached.index)
        if save or time.monotonic() - cached.saved_monotonic >= settings.EMBEDDING_INDEX_SAVE_SECONDS:
            cached.index.save(folder)
            cached.based_on, cached.saved_monotonic = _saved_at(folder), time.monotonic()
        with _cache_lock:
            _cache[folder] = cached
    return report


def embedding_index_add(*, space: EmbeddingSpace, sample_ids: list[int]) -> int:
    """Add these samples' stored vectors to the space's index (again, harmlessly, if already there)."""
    ids, vectors = embedding_vectors(space, sample_ids)
    if not len(ids):
        return 0

    def add(index):
        index.add(ids, vectors)
        return len(ids)

    return _update(space, add)


def embedding_index_sync(*, space: EmbeddingSpace, rebuild: bool = False) -> dict:
    """Make the index hold exactly the space's stored vectors: add rows it lacks, remove ids whose
    row is gone (a deleted sample). With rebuild, start from an empty index (after many removals,
    or after the folder was lost). Returns {"added": n, "removed": n, "total": n}."""
    stored_ids = np.asarray(
        SampleEmbedding.objects.filter(space=space).values_list("sample_id", flat=True), dtype=np.int64
    )
    folder = embedding_index_folder(space)

    def reconcile(index):
        held = index.ids()
        missing = np.setdiff1d(stored_ids, held)
        gone = np.setdiff1d(held, stored_ids)
        index.remove(gone)
        for start in range(0, len(missing), READ_BATCH):
            ids, vectors = embedding_vectors(space, missing[start : start + READ_BATCH].tolist())
            index.add(ids, vectors)
        return {"added": int(len(missing)), "removed": int(len(gone)), "total": len(index)}

    if not len(stored_ids) and _saved_at(folder) is None:
        return {"added": 0, "removed": 0, "total": 0}
    return _update(space, reconcile, save=True, fresh=rebuild)


# -- which space answers -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceChoice:
    space: EmbeddingSpace | None
    warning: str  # empty, or what a reader of the answer must know (random weights, no embeddings)


RANDOM_INIT_WARNING = (
    "these embeddings come from a randomly initialised image tower, which puts distinct images close together: "
    "near-duplicates are found by pHash only, and similarity and diversity built on these vectors mean nothing. "
    "Embed with real weights (CURATION_CLIP_WEIGHTS)."
)


def embedding_space_choose(space_id: int | None = None, *, among: QuerySet | None = None) -> SpaceChoice:
    """The space asked for, else the newest space with trained or published weights that holds
    vectors, else the newest random-init one (flagged).

    among: the samples the answer is about (already through the visibility rule). The space is then
    one that holds vectors of some of them: a space made only of samples the reader may not see (a
    partner's own model, say) is theirs alone — neither named nor counted against the reader."""
    spaces = EmbeddingSpace.objects.all()
    if space_id is not None:
        space = spaces.filter(pk=space_id).first()
        if space is None:
            raise EmbeddingError(f"no embedding space {space_id}")
    else:
        with_vectors = spaces.filter(dim__gt=0)
        if among is not None:
            embedded = SampleEmbedding.objects.filter(space=OuterRef("pk"), sample__in=among.values("pk"))
            with_vectors = with_vectors.filter(Exists(embedded))
        space = with_vectors.order_by("random_init", "-id").first()
    if space is None:
        return SpaceChoice(None, "no sample has an embedding yet: run `manage.py embed_samples`")
    return SpaceChoice(space, RANDOM_INIT_WARNING if space.random_init else "")
