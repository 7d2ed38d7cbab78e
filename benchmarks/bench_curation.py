"""Near-duplicate query cost: the HNSW index (catalog/vector_index.py, hnswlib) against brute-force
numpy search over the same vectors, in the same run, at several catalog sizes.

Vectors: 512-d float32 (ViT-B/16's embedding size), drawn around 2,000 random centres so that they
are clustered as image embeddings are (each vector's cosine to its centre is about 0.7). Queries:
near-duplicates of stored vectors (a stored vector plus noise, cosine ~0.995 to it), one query per
call as the API asks (k = 10). For each size: build time (in batches of 10,000, as embedding batches
add them; threads as BENCH_CURATION_THREADS), query p50/p99, recall of the planted original at k=10,
and the same for brute force; then the ratio. Target: p99 <= 50 ms at 1,000,000 vectors.

OPENBLAS_NUM_THREADS=1 python -m benchmarks curation                                   # 10k, 100k, 1M
OPENBLAS_NUM_THREADS=1 BENCH_CURATION_SIZES=10000,100000 python -m benchmarks curation  # a quicker run

OPENBLAS_NUM_THREADS=1 keeps the brute-force baseline on one core, as an HNSW query is; without it
the baseline's BLAS threads fight the machine's other work for the cores.
"""

import os
import time

import numpy as np

from catalog.vector_index import ExactIndex, HnswIndex

DIM = 512
K = 10
CENTRES = 2000
SIZES = [int(size) for size in os.environ.get("BENCH_CURATION_SIZES", "10000,100000,1000000").split(",")]
QUERIES = int(os.environ.get("BENCH_CURATION_QUERIES", "1000"))
BASELINE_QUERIES = int(os.environ.get("BENCH_CURATION_BASELINE_QUERIES", "100"))
THREADS = int(os.environ.get("BENCH_CURATION_THREADS", str(os.cpu_count() or 1)))
BATCH = 10_000
# ef_search values to query the same built index with: recall against query time.
EF_SEARCH = [int(ef) for ef in os.environ.get("BENCH_CURATION_EF", "64,128,256,512").split(",")]


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = unit(rng.standard_normal((CENTRES, DIM)).astype(np.float32))
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):
        end = min(n, start + 100_000)
        noise = rng.standard_normal((end - start, DIM)).astype(np.float32) / np.sqrt(DIM)
        vectors[start:end] = unit(centres[rng.integers(CENTRES, size=end - start)] + noise)
    return vectors


def timed_queries(index, queries: np.ndarray, originals: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-query milliseconds, and the share of queries whose original is among the k found."""
    times, hits = [], 0
    for query, original in zip(queries, originals, strict=True):
        started = time.perf_counter()
        found, _ = index.search(query[None, :], K)
        times.append((time.perf_counter() - started) * 1000)
        hits += int(original in found[0])
    return np.asarray(times), hits / len(queries)


def run() -> None:
    rng = np.random.default_rng(0)
    print(f"   {DIM}-d clustered vectors, k={K}, one query per call; build with {THREADS} thread(s)")
    print(
        f"   {'n':>9} {'build s':>8} {'ef':>4} {'hnsw p50 ms':>12} {'p99 ms':>8} {'recall':>7}"
        f" {'numpy p50 ms':>13} {'p99 ms':>8} {'p50 speed-up':>13}"
    )
    for n in SIZES:
        vectors = clustered(n, rng)
        ids = np.arange(n, dtype=np.int64)
        originals = rng.choice(n, QUERIES, replace=False)
        queries = unit(vectors[originals] + 0.1 * rng.standard_normal((QUERIES, DIM)).astype(np.float32) / np.sqrt(DIM))

        index = HnswIndex(DIM, capacity=n, threads=THREADS)
        started = time.perf_counter()
        for start in range(0, n, BATCH):
            index.add(ids[start : start + BATCH], vectors[start : start + BATCH])
        build = time.perf_counter() - started
        hnsw_rows = []
        for ef in EF_SEARCH:
            index.ef_search = ef
            hnsw_rows.append((ef, *timed_queries(index, queries, originals)))
        del index

        exact = ExactIndex(DIM)
        exact.add(ids, vectors)
        exact_times, exact_recall = timed_queries(exact, queries[:BASELINE_QUERIES], originals[:BASELINE_QUERIES])
        del exact, vectors

        exact_p50, exact_p99 = np.percentile(exact_times, [50, 99])
        for ef, hnsw_times, hnsw_recall in hnsw_rows:
            hnsw_p50, hnsw_p99 = np.percentile(hnsw_times, [50, 99])
            print(
                f"   {n:>9,} {build:>8.1f} {ef:>4} {hnsw_p50:>12.3f} {hnsw_p99:>8.3f} {hnsw_recall:>7.3f}"
                f" {exact_p50:>13.2f} {exact_p99:>8.2f} {exact_p50 / hnsw_p50:>12.0f}x"
                f"   (numpy recall {exact_recall:.3f} over {len(exact_times)} queries)",
                flush=True,
            )
    print(f"   target: HNSW p99 <= 50 ms at 1,000,000 vectors; sizes run: {', '.join(f'{n:,}' for n in SIZES)}")
