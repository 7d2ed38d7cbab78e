"""Nearest-neighbour search over sample embeddings behind one small interface.

`VectorIndex` is all the platform asks of an index: add(ids, vectors), search(vectors, k),
remove(ids), save(folder) and load(folder). Distances are cosine distances (1 - cosine similarity),
so 0 means the same direction. Two implementations:

- `HnswIndex` (hnswlib): the approximate index used in production; adds and removes in place, so
  the embedding batches update it incrementally, and a query costs about log(n).
- `ExactIndex` (numpy): brute force, every query reads every vector. For tests and for the benchmark's
  baseline; fine up to some tens of thousands of vectors.

A pgvector implementation would fill the same five methods with SQL over a `vector` column (an
`hnsw (embedding vector_cosine_ops)` index; `<=>` is cosine distance, `ORDER BY embedding <=> %s
LIMIT k` is search; save/load are no-ops because the database persists it). Nothing outside this
module knows which implementation it has: callers go through `index_open` / `index_for_folder`.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

META_NAME = "index.json"


class VectorIndexError(ValueError):
    """Bad input to an index (wrong dimension, mismatched ids and vectors); the message says which."""


class VectorIndex(Protocol):
    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """ids: (N,) int64; vectors: (N, dim). An id already present gets the new vector."""

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """vectors: (Q, dim) -> (ids (Q, k) int64, distances (Q, k) float32), nearest first; rows are
        padded with id -1 and distance inf when the index holds fewer than k vectors."""

    def remove(self, ids: np.ndarray) -> None:
        """Forget these ids (ids not present are ignored)."""

    def ids(self) -> np.ndarray:
        """(N,) int64: every id the index holds."""

    def __len__(self) -> int: ...

    def save(self, folder: Path) -> None:
        """Write the index into `folder` atomically: a crash mid-save leaves the previous one."""


def _checked(ids, vectors, dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise VectorIndexError(f"vectors must be (N, {dim}), got {vectors.shape}")
    if len(ids) != len(vectors):
        raise VectorIndexError(f"{len(ids)} ids for {len(vectors)} vectors")
    if len(ids) and ids.min() < 0:
        raise VectorIndexError("ids must be non-negative")
    if not np.isfinite(vectors).all():
        raise VectorIndexError("vectors must be finite")
    return ids, vectors


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        raise VectorIndexError("a zero vector has no direction; cosine distance is undefined")
    return (vectors / norms).astype(np.float32)


def _padded(ids: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    missing = k - ids.shape[1]
    if missing <= 0:
        return ids, distances
    rows = ids.shape[0]
    return (
        np.hstack([ids, np.full((rows, missing), -1, dtype=np.int64)]),
        np.hstack([distances, np.full((rows, missing), np.inf, dtype=np.float32)]),
    )


class ExactIndex:
    """Brute-force cosine search in numpy: exact, and every query costs O(n * dim)."""

    kind = "exact"

    def __init__(self, dim: int):
        self.dim = dim
        self._ids = np.empty(0, dtype=np.int64)
        self._vectors = np.empty((0, dim), dtype=np.float32)

    def add(self, ids, vectors) -> None:
        ids, vectors = _checked(ids, vectors, self.dim)
        self.remove(ids)
        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.vstack([self._vectors, _normalised(vectors)])

    def remove(self, ids) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]

    def search(self, vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _normalised(_checked(np.zeros(len(vectors)), vectors, self.dim)[1])
        n = len(self._ids)
        take = min(k, n)
        if take == 0:
            return _padded(np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32), k)
        # (N, D) @ (D, Q): a matrix-vector product for one query, which BLAS runs at memory speed.
        distances = 1.0 - (self._vectors @ queries.T).T
        nearest = np.argpartition(distances, take - 1, axis=1)[:, :take]
        order = np.take_along_axis(distances, nearest, axis=1).argsort(axis=1)
        nearest = np.take_along_axis(nearest, order, axis=1)
        found = np.take_along_axis(distances, nearest, axis=1).astype(np.float32)
        return _padded(self._ids[nearest], np.maximum(found, 0.0), k)

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def __len__(self) -> int:
        return len(self._ids)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / "vectors.npz.tmp"
        with open(temporary, "wb") as out:
            np.savez(out, ids=self._ids, vectors=self._vectors)
        os.replace(temporary, folder / "vectors.npz")
        _write_meta(folder, {"kind": self.kind, "dim": self.dim})

    @classmethod
    def load(cls, folder: Path, meta: dict) -> ExactIndex:
        index = cls(meta["dim"])
        with np.load(folder / "vectors.npz") as stored:
            index._ids, index._vectors = stored["ids"], stored["vectors"]
        return index


class HnswIndex:
    """hnswlib's HNSW graph in cosine space. Removal marks elements deleted (searches skip them;
    re-adding an id brings it back with its new vector); their slots are not reused, so an index that
    has seen many removals is best rebuilt (`manage.py embedding_index --rebuild`).

    M and ef_construction set the graph's quality and build cost; ef_search (raised to k when k is
    larger) trades query time for recall. At a million clustered 512-d vectors (docs/performance.md,
    `curation`) ef_search 64 found a planted near-copy for 84% of queries, 256 for 98% at 0.46 ms."""

    kind = "hnsw"

    def __init__(
        self, dim: int, *, m: int = 16, ef_construction: int = 100, ef_search: int = 256, capacity=1024, threads=1
    ):
        import hnswlib

        self.dim, self.m, self.ef_construction, self.ef_search = dim, m, ef_construction, ef_search
        self.threads = threads
        self._graph = hnswlib.Index(space="cosine", dim=dim)
        self._graph.init_index(max_elements=capacity, M=m, ef_construction=ef_construction)
        self._deleted: set[int] = set()

    def add(self, ids, vectors) -> None:
        ids, vectors = _checked(ids, vectors, self.dim)
        if not len(ids):
            return
        _normalised(vectors)  # refuse zero vectors here too
        needed = self._graph.element_count + len(ids)
        if needed > self._graph.get_max_elements():
            self._graph.resize_index(max(needed, 2 * self._graph.get_max_elements()))
        # One thread by default: the workers are Celery processes already; a rebuild may use more.
        self._graph.add_items(vectors, ids, num_threads=self.threads)
        self._deleted.difference_update(ids.tolist())

    def remove(self, ids) -> None:
        present = set(self._graph.get_ids_list())
        for sample_id in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            if sample_id in present and sample_id not in self._deleted:
                self._graph.mark_deleted(sample_id)
                self._deleted.add(sample_id)

    def search(self, vectors, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _checked(np.zeros(len(vectors)), vectors, self.dim)[1]
        _normalised(queries)
        take = min(k, len(self))
        if take == 0 or not len(queries):
            return _padded(np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32), k)
        ef = max(self.ef_search, take)
        while True:
            self._graph.set_ef(ef)
            try:
                labels, distances = self._graph.knn_query(queries, k=take, num_threads=1)
                break
            except RuntimeError:
                # Fewer than k live elements reached within ef (many removed ones): widen the search.
                if ef >= self._graph.element_count:
                    raise
                ef *= 4
        return _padded(labels.astype(np.int64), np.maximum(distances.astype(np.float32), 0.0), k)

    def ids(self) -> np.ndarray:
        all_ids = np.asarray(self._graph.get_ids_list(), dtype=np.int64)
        if not self._deleted:
            return all_ids
        return all_ids[~np.isin(all_ids, np.fromiter(self._deleted, dtype=np.int64))]

    def __len__(self) -> int:
        return self._graph.element_count - len(self._deleted)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / "graph.bin.tmp"
        self._graph.save_index(str(temporary))
        os.replace(temporary, folder / "graph.bin")
        deleted = folder / "deleted.npy.tmp"
        with open(deleted, "wb") as out:
            np.save(out, np.fromiter(sorted(self._deleted), dtype=np.int64, count=len(self._deleted)))
        os.replace(deleted, folder / "deleted.npy")
        _write_meta(
            folder,
            {
                "kind": self.kind,
                "dim": self.dim,
                "m": self.m,
                "ef_construction": self.ef_construction,
                "ef_search": self.ef_search,
            },
        )

    @classmethod
    def load(cls, folder: Path, meta: dict) -> HnswIndex:
        import hnswlib

        index = cls.__new__(cls)
        index.dim, index.m = meta["dim"], meta["m"]
        index.ef_construction, index.ef_search = meta["ef_construction"], meta["ef_search"]
        index.threads = 1
        index._graph = hnswlib.Index(space="cosine", dim=index.dim)
        index._graph.load_index(str(folder / "graph.bin"))
        index._deleted = set(np.load(folder / "deleted.npy").tolist())
        return index


INDEX_KINDS: dict[str, type] = {ExactIndex.kind: ExactIndex, HnswIndex.kind: HnswIndex}


def _write_meta(folder: Path, meta: dict) -> None:
    """Written last, so its presence means a complete save; its stamp changes with every save (a file
    time may not: two saves within the file system's clock tick share one)."""
    temporary = folder / (META_NAME + ".tmp")
    temporary.write_text(json.dumps({**meta, "stamp": uuid.uuid4().hex}, indent=2))
    os.replace(temporary, folder / META_NAME)


def index_stamp(folder: Path) -> str | None:
    """What changes with every save of the index in `folder`; None when none was saved there."""
    meta_path = Path(folder) / META_NAME
    try:
        return json.loads(meta_path.read_text()).get("stamp")
    except FileNotFoundError:
        return None


def index_load(folder: Path) -> VectorIndex | None:
    """The index saved in `folder`, or None when none was saved there yet."""
    meta_path = Path(folder) / META_NAME
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("kind") not in INDEX_KINDS:
        raise VectorIndexError(f"{meta_path}: unknown index kind {meta.get('kind')!r}")
    return INDEX_KINDS[meta["kind"]].load(Path(folder), meta)


def index_new(kind: str, dim: int) -> VectorIndex:
    if kind not in INDEX_KINDS:
        raise VectorIndexError(f"unknown index kind {kind!r}; known: {', '.join(sorted(INDEX_KINDS))}")
    return INDEX_KINDS[kind](dim)


@contextmanager
def index_locked(folder: Path):
    """An exclusive lock on the index folder, across processes on one machine (and on shared storage
    that honours flock): two embedding batches never load-add-save the same index at once."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
