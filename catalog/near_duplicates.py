"""Near-duplicate samples: pairs whose embeddings are close (stored as the embedding batches find
them with the nearest-neighbour index, catalog/near_duplicate_pairs.py) or whose perceptual hashes
differ in few bits, joined into groups.

Callers hand in the samples to look among as a queryset that already went through the visibility
rule (catalog/selectors.py: `samples_visible_to`, or a version's selection made for its requester):
a pair, and so a group, only ever holds samples of that queryset, so a hidden sample never appears,
not even as "a duplicate of something".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from .embedding_index import embedding_index_open, embedding_space_choose, embedding_vectors
from .models import EmbeddingSpace, NearDuplicatePair, Sample, SampleEmbedding

QUERY_BATCH = 1000
MAX_NEIGHBOURS = 1024
PAIRWISE_CELLS = 1 << 21  # hash comparisons held in memory at once
PAIR_READ_BATCH = 10_000  # stored pairs read per round trip


@dataclass
class NearDuplicateGroup:
    sample_ids: list[int]
    # The closest evidence inside the group: the smallest embedding distance and Hamming distance
    # of any of its pairs (None when no pair was found that way).
    min_cosine_distance: float | None = None
    min_hamming: int | None = None


@dataclass
class NearDuplicateReport:
    groups: list[NearDuplicateGroup]
    samples: int  # how many samples were looked at
    without_embedding: int  # of those, how many have no vector in the space (found by pHash only)
    space: dict | None  # the embedding space used: id, model, weights, random_init
    warnings: list[str] = field(default_factory=list)
    max_cosine_distance: float = 0.0
    max_hamming: int = 0

    def to_json(self, *, limit: int | None = None) -> dict:
        groups = self.groups if limit is None else self.groups[:limit]
        return {
            "group_count": len(self.groups),
            "samples_in_groups": sum(len(g.sample_ids) for g in self.groups),
            "groups": [asdict(g) for g in groups],
            "groups_listed": len(groups),
            "samples": self.samples,
            "without_embedding": self.without_embedding,
            "space": self.space,
            "warnings": self.warnings,
            "max_cosine_distance": self.max_cosine_distance,
            "max_hamming": self.max_hamming,
        }


def space_json(space: EmbeddingSpace | None) -> dict | None:
    if space is None:
        return None
    return {"id": space.pk, "model": space.model_name, "weights": space.weights, "random_init": space.random_init}


class _Pairs:
    """Union-find over sample ids, remembering the closest evidence per group."""

    def __init__(self):
        self.parent: dict[int, int] = {}
        self.cosine: dict[int, float] = {}
        self.hamming: dict[int, int] = {}

    def _root(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: int, b: int, *, cosine: float | None = None, hamming: int | None = None) -> None:
        ra, rb = self._root(a), self._root(b)
        root = min(ra, rb)
        for table, value in ((self.cosine, cosine), (self.hamming, hamming)):
            values = [v for v in (table.pop(ra, None), table.pop(rb, None), value) if v is not None]
            if values:
                table[root] = min(values)
        self.parent[ra] = self.parent[rb] = root

    def groups(self) -> list[NearDuplicateGroup]:
        members: dict[int, list[int]] = {}
        for x in self.parent:
            members.setdefault(self._root(x), []).append(x)
        groups = [
            NearDuplicateGroup(
                sample_ids=sorted(ids),
                min_cosine_distance=round(float(self.cosine[root]), 6) if root in self.cosine else None,
                min_hamming=self.hamming.get(root),
            )
            for root, ids in members.items()
            if len(ids) > 1
        ]
        groups.sort(key=lambda g: (-len(g.sample_ids), g.sample_ids[0]))
        return groups


def embedding_pairs(
    index,
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    among: np.ndarray | None,
    max_distance: float,
    neighbours: int = 16,
):
    """Yield (a, b, distance) with a < b, the found sample in `among` (any id the index holds when
    None), for every pair within `max_distance` that the index finds from the query rows (ids,
    vectors). When all k neighbours of a row are within the distance (a cluster of copies larger
    than k), that row is asked again with 4k, up to MAX_NEIGHBOURS, so a big group is not cut at k."""
    among = None if among is None else np.unique(among)
    pending = np.arange(len(ids))
    k = neighbours
    while len(pending) and k <= MAX_NEIGHBOURS:
        saturated = []
        for start in range(0, len(pending), QUERY_BATCH):
            rows = pending[start : start + QUERY_BATCH]
            found, distances = index.search(vectors[rows], k + 1)  # +1: the query itself
            close = (distances <= max_distance) & (found >= 0)
            saturated.extend(rows[close.all(axis=1)].tolist())
            wanted = close if among is None else close & np.isin(found, among)
            for row, column in zip(*np.nonzero(wanted), strict=True):
                a, b = int(ids[rows[row]]), int(found[row, column])
                if a != b:
                    yield min(a, b), max(a, b), float(distances[row, column])
        pending = np.asarray(saturated, dtype=np.int64)
        k *= 4


def phash_pairs(sample_ids: np.ndarray, phashes: list[str], *, max_hamming: int):
    """Yield (a, b, hamming), a < b, pairs that connect every two samples whose hashes are at most
    `max_hamming` bits apart (samples with the same hash are each paired with the first of them;
    two close distinct hashes give one pair of their first samples), without comparing all pairs: split the 64 bits into max_hamming + 1 blocks; two hashes that
    close agree exactly on at least one block (pigeonhole), so only hashes sharing a block value are
    compared (multi-index hashing). Identical hashes are collapsed first, so a thousand copies of a
    blank frame cost one bucket entry."""
    if not len(sample_ids):
        return
    values = np.array([int(h, 16) for h in phashes], dtype=np.uint64)
    unique, inverse = np.unique(values, return_inverse=True)
    members = [[] for _ in range(len(unique))]
    for position, slot in enumerate(inverse.tolist()):
        members[slot].append(int(sample_ids[position]))
    for group in members:  # identical hashes: Hamming distance 0
        first = group[0]
        for other in group[1:]:
            yield min(first, other), max(first, other), 0
    blocks = max_hamming + 1
    edges = np.linspace(0, 64, blocks + 1).astype(int)
    seen: set[tuple[int, int]] = set()
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        mask = np.uint64((1 << (high - low)) - 1)
        keys = (unique >> np.uint64(low)) & mask
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if end - start < 2:
                continue
            bucket = order[start:end]
            hashes = unique[bucket]
            # In row chunks, so that a crowded bucket (many hashes sharing one block) stays small in memory.
            chunk = max(1, PAIRWISE_CELLS // len(bucket))
            for first in range(0, len(bucket), chunk):
                distances = np.bitwise_count(hashes[first : first + chunk, None] ^ hashes[None, :])
                for i, j in zip(*np.nonzero(distances <= max_hamming), strict=True):
                    u, v = int(bucket[first + i]), int(bucket[j])
                    if u >= v or (u, v) in seen:
                        continue
                    seen.add((u, v))
                    a, b = members[u][0], members[v][0]
                    yield min(a, b), max(a, b), int(distances[i, j])


def near_duplicate_groups(
    *,
    samples: QuerySet[Sample],
    space_id: int | None = None,
    max_cosine_distance: float | None = None,
    max_hamming: int | None = None,
    search_index: bool = False,
) -> NearDuplicateReport:
    """The near-duplicate groups among `samples` (a visibility-filtered queryset, see the module).

    The embedding evidence is the stored pairs (NearDuplicatePair, catalog/near_duplicate_pairs.py)
    whose two samples are both in `samples`. A distance above NEAR_DUPLICATE_MAX_COSINE_DISTANCE,
    which the stored pairs do not reach, or `search_index`, asks the index for the neighbours of
    every sample instead (the cost grows with the selection: what `embedding_index --pairs` does)."""
    stored_limit = settings.NEAR_DUPLICATE_MAX_COSINE_DISTANCE
    max_cosine_distance = stored_limit if max_cosine_distance is None else max_cosine_distance
    max_hamming = settings.NEAR_DUPLICATE_MAX_HAMMING if max_hamming is None else max_hamming
    rows = list(samples.order_by("pk").values_list("pk", "phash"))
    sample_ids = np.asarray([pk for pk, _ in rows], dtype=np.int64)
    pairs = _Pairs()
    for a, b, bits in phash_pairs(sample_ids, [phash for _, phash in rows], max_hamming=max_hamming):
        pairs.join(a, b, hamming=bits)

    choice = embedding_space_choose(space_id, among=samples)
    warnings = [choice.warning] if choice.warning else []
    embedded = 0
    if choice.space is not None and choice.space.random_init:  # pHash only (RANDOM_INIT_WARNING says so)
        embedded = SampleEmbedding.objects.filter(space=choice.space, sample_id__in=samples.values("pk")).count()
    elif choice.space is not None and (search_index or max_cosine_distance > stored_limit):
        index = embedding_index_open(choice.space)
        ids, vectors = embedding_vectors(choice.space, samples)
        embedded = len(ids)
        if index is None:
            warnings.append(
                f"embedding space {choice.space.pk} has no index yet: run `manage.py embedding_index --sync`"
            )
        elif len(ids):
            for a, b, distance in embedding_pairs(
                index, ids, vectors, among=sample_ids, max_distance=max_cosine_distance
            ):
                pairs.join(a, b, cosine=distance)
    elif choice.space is not None:
        embedded = SampleEmbedding.objects.filter(space=choice.space, sample_id__in=samples.values("pk")).count()
        stored = NearDuplicatePair.objects.filter(
            space=choice.space,
            sample_a__in=samples.values("pk"),
            sample_b__in=samples.values("pk"),
            cosine_distance__lte=max_cosine_distance,
        )
        for a, b, distance in stored.values_list("sample_a_id", "sample_b_id", "cosine_distance").iterator(
            chunk_size=PAIR_READ_BATCH
        ):
            pairs.join(a, b, cosine=distance)
    without_embedding = len(sample_ids) - embedded
    if without_embedding and choice.space is not None:
        warnings.append(f"{without_embedding} sample(s) have no embedding in space {choice.space.pk}: pHash only")
    return NearDuplicateReport(
        groups=pairs.groups(),
        samples=len(sample_ids),
        without_embedding=without_embedding,
        space=space_json(choice.space),
        warnings=warnings,
        max_cosine_distance=max_cosine_distance,
        max_hamming=max_hamming,
    )


def sample_neighbours(*, sample: Sample, samples: QuerySet[Sample], k: int = 10, space_id: int | None = None):
    """The k nearest samples to one sample, among `samples` (visibility-filtered), with their cosine
    distances: [{"sample": id, "cosine_distance": d}], plus the space and any warning. The index is
    asked for more than k so that neighbours the caller may not see can be dropped."""
    choice = embedding_space_choose(space_id, among=samples)
    result = {"space": space_json(choice.space), "warnings": [choice.warning] if choice.warning else []}
    if choice.space is None:
        return {**result, "neighbours": []}
    ids, vectors = embedding_vectors(choice.space, [sample.pk])
    index = embedding_index_open(choice.space)
    if not len(ids) or index is None:
        result["warnings"].append(f"sample {sample.pk} has no embedding in space {choice.space.pk}")
        return {**result, "neighbours": []}
    ask = k + 1
    while True:
        found, distances = index.search(vectors, ask)
        candidates = [
            (int(i), float(d)) for i, d in zip(found[0], distances[0], strict=True) if i >= 0 and i != sample.pk
        ]
        visible = set(samples.filter(pk__in=[i for i, _ in candidates]).values_list("pk", flat=True))
        neighbours = [{"sample": i, "cosine_distance": round(d, 6)} for i, d in candidates if i in visible][:k]
        if len(neighbours) == k or ask >= min(len(index), MAX_NEIGHBOURS) or (found[0] < 0).any():
            return {**result, "neighbours": neighbours}
        ask *= 4
