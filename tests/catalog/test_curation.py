"""Embedding curation in the catalog: the vector index, near-duplicate groups, the diversity sampler."""

import uuid

import numpy as np
import pytest

from catalog.dedup import dedup_scope_for
from catalog.diversity import diverse_sample_ids, k_center_greedy
from catalog.embedding_index import (
    RANDOM_INIT_WARNING,
    EmbeddingError,
    embedding_index_add,
    embedding_index_folder,
    embedding_index_open,
    embedding_index_sync,
    embedding_space_get_or_create,
    sample_embeddings_store,
)
from catalog.models import Sample
from catalog.near_duplicate_pairs import near_duplicate_pairs_add
from catalog.near_duplicates import near_duplicate_groups, phash_pairs
from catalog.selectors import samples_visible_to
from catalog.vector_index import ExactIndex, HnswIndex, VectorIndexError, index_load
from tests.annotation.factories import make_source

DIM = 64


@pytest.fixture(autouse=True)
def index_root(settings, tmp_path):
    settings.EMBEDDING_INDEX_ROOT = str(tmp_path / "index")
    return tmp_path / "index"


def random_unit(rng, n, dim=DIM):
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def planted(rng, n=10_000, copies=20):
    """n random vectors, and `copies` of them again with a little noise (ids n.. n+copies-1)."""
    base = random_unit(rng, n)
    originals = rng.choice(n, copies, replace=False)
    noisy = base[originals] + 0.01 * rng.standard_normal((copies, DIM)).astype(np.float32)
    return base, originals, noisy


@pytest.mark.parametrize("index_class", [HnswIndex, ExactIndex])
def test_the_index_finds_planted_duplicates_among_ten_thousand_random_embeddings(index_class):
    rng = np.random.default_rng(1)
    base, originals, noisy = planted(rng)
    index = index_class(DIM)
    index.add(np.arange(len(base)), base)

    found, distances = index.search(noisy, 1)

    assert found[:, 0].tolist() == originals.tolist()
    assert (distances[:, 0] < 0.01).all()
    # and random vectors are far from each other: nothing else would pass the threshold
    _, background = index.search(random_unit(rng, 50), 1)
    assert (background[:, 0] > 0.3).all()


def test_the_index_updates_incrementally_and_forgets_removed_ids():
    rng = np.random.default_rng(2)
    first, second = random_unit(rng, 500), random_unit(rng, 500)
    index = HnswIndex(DIM, capacity=64)  # must grow while adding

    index.add(np.arange(500), first)
    index.add(np.arange(500, 1000), second)
    index.remove([3, 700])

    assert len(index) == 998
    assert index.search(second[:1], 1)[0][0, 0] == 500
    assert index.search(first[3:4], 1)[0][0, 0] != 3
    assert 700 not in index.ids()
    index.add([3], first[3:4])  # re-adding a removed id brings it back
    assert index.search(first[3:4], 1)[0][0, 0] == 3 and len(index) == 999


@pytest.mark.parametrize("index_class", [HnswIndex, ExactIndex])
def test_a_saved_index_loads_with_the_same_answers(index_class, tmp_path):
    rng = np.random.default_rng(3)
    vectors = random_unit(rng, 300)
    index = index_class(DIM)
    index.add(np.arange(300), vectors)
    index.remove([5])
    queries = random_unit(rng, 10)

    index.save(tmp_path / "saved")
    loaded = index_load(tmp_path / "saved")

    assert type(loaded) is index_class and len(loaded) == 299
    assert np.array_equal(loaded.search(queries, 5)[0], index.search(queries, 5)[0])
    assert 5 not in loaded.ids()


def test_the_index_pads_when_asked_for_more_than_it_holds():
    index = HnswIndex(DIM)
    index.add([7, 8], random_unit(np.random.default_rng(4), 2))
    found, distances = index.search(random_unit(np.random.default_rng(5), 1), 4)
    assert sorted(found[0, :2].tolist()) == [7, 8] and found[0, 2:].tolist() == [-1, -1]
    assert np.isinf(distances[0, 2:]).all()


def test_the_index_refuses_vectors_of_the_wrong_shape():
    index = ExactIndex(DIM)
    with pytest.raises(VectorIndexError, match=r"vectors must be \(N, 64\)"):
        index.add([1], np.ones((1, 32)))
    with pytest.raises(VectorIndexError, match="2 ids for 1 vectors"):
        index.add([1, 2], np.ones((1, DIM)))
    with pytest.raises(VectorIndexError, match="zero vector"):
        index.add([1], np.zeros((1, DIM)))


def test_phash_pairs_connect_exactly_the_close_hashes_without_comparing_all_pairs():
    rng = np.random.default_rng(6)
    hashes = rng.integers(0, 2**63, 3000, dtype=np.int64).astype(np.uint64)
    hashes[100] = hashes[7] ^ np.uint64(0b1011)  # 3 bits from 7
    hashes[200] = hashes[7]  # identical to 7
    hashes[300] = hashes[9] ^ np.uint64(0b11111)  # 5 bits: too far at max 4
    ids = np.arange(1000, 4000)

    found = {(a, b): bits for a, b, bits in phash_pairs(ids, [f"{h:016x}" for h in hashes], max_hamming=4)}

    # one pair per identical copy and per close pair of distinct hashes: enough to join the group
    assert found == {(1007, 1100): 3, (1007, 1200): 0}


# -- with the database ------------------------------------------------------------------------


def make_samples(source, count, *, phashes=None):
    rows = []
    for i in range(count):
        digest = uuid.uuid4().hex * 2
        rows.append(
            Sample(
                source=source,
                dedup_scope_id=dedup_scope_for(source),
                external_id=f"img/{i}.png",
                original=f"originals/{digest}.png",
                asset=f"assets/{digest}.jpg",
                thumbnail=f"thumbnails/{digest}.jpg",
                sha256=digest,
                phash=phashes[i] if phashes else f"{np.random.default_rng(i + 99).integers(2**63):016x}",
                width=8,
                height=8,
                original_format="PNG",
            )
        )
    Sample.objects.bulk_create(rows)
    return list(Sample.objects.filter(source=source).order_by("pk").values_list("pk", flat=True))


def embed(space, sample_ids, vectors):
    stored = sample_embeddings_store(space=space, sample_ids=sample_ids, vectors=vectors)
    embedding_index_add(space=space, sample_ids=stored)
    near_duplicate_pairs_add(space=space, sample_ids=stored)  # as an embedding batch does
    return stored


@pytest.fixture
def space(db):
    return embedding_space_get_or_create(
        model_name="test-clip", weights="/weights/test.pt", fingerprint="1", random_init=False
    )


def test_embedding_batches_update_the_index_in_place_and_save_it_at_most_every_so_often(space, settings):
    settings.EMBEDDING_INDEX_SAVE_SECONDS = 3600
    rng = np.random.default_rng(7)
    ids = make_samples(make_source("public"), 200)
    vectors = random_unit(rng, 200)

    embed(space, ids[:100], vectors[:100])  # the first batch saves: there was no index
    embed(space, ids[100:], vectors[100:])  # the second only updates this process's index
    again = sample_embeddings_store(space=space, sample_ids=ids[:10], vectors=vectors[:10])  # a redelivered batch
    in_this_process = len(embedding_index_open(space))
    on_disk = len(index_load(embedding_index_folder(space)))  # what another process would read
    report = embedding_index_sync(space=space)  # the job's last step

    assert again == [] and (in_this_process, on_disk) == (200, 100)
    assert report == {"added": 0, "removed": 0, "total": 200}
    assert len(index_load(embedding_index_folder(space))) == 200
    assert embedding_index_open(space).search(vectors[150:151], 1)[0][0, 0] == ids[150]


def test_another_processs_save_is_read_and_its_lost_additions_come_back_at_the_sync(space, settings):
    settings.EMBEDDING_INDEX_SAVE_SECONDS = 3600
    rng = np.random.default_rng(13)
    ids = make_samples(make_source("public"), 30)
    vectors = random_unit(rng, 30)
    embed(space, ids[:10], vectors[:10])
    embed(space, ids[10:20], vectors[10:20])  # unsaved in this process
    other = index_load(embedding_index_folder(space))  # another worker adds and saves
    other.add(np.asarray(ids[20:]), vectors[20:])
    other.save(embedding_index_folder(space))
    sample_embeddings_store(space=space, sample_ids=ids[20:], vectors=vectors[20:])

    seen = set(embedding_index_open(space).ids().tolist())
    report = embedding_index_sync(space=space)

    assert seen == set(ids[:10]) | set(ids[20:])  # the other save won; 10-19 are rows only, for now
    assert report == {"added": 10, "removed": 0, "total": 30}


def test_sync_adds_what_a_killed_worker_left_out_and_drops_deleted_samples(space, db):
    rng = np.random.default_rng(8)
    ids = make_samples(make_source("public"), 50)
    vectors = random_unit(rng, 50)
    embed(space, ids[:40], vectors[:40])
    sample_embeddings_store(space=space, sample_ids=ids[40:], vectors=vectors[40:])  # committed, never indexed
    Sample.objects.filter(pk=ids[0]).delete()

    report = embedding_index_sync(space=space)

    assert report == {"added": 10, "removed": 1, "total": 49}
    assert embedding_index_sync(space=space, rebuild=True) == {"added": 49, "removed": 0, "total": 49}


def test_vectors_of_another_length_than_the_space_are_refused(space, db):
    ids = make_samples(make_source("public"), 2)
    sample_embeddings_store(space=space, sample_ids=ids[:1], vectors=np.ones((1, DIM)))
    with pytest.raises(EmbeddingError, match="holds 64-d vectors, got 32-d"):
        sample_embeddings_store(space=space, sample_ids=ids[1:], vectors=np.ones((1, 32)))


def test_near_duplicate_groups_join_embedding_and_phash_evidence_and_hide_restricted_samples(space, make_user):
    rng = np.random.default_rng(9)
    public, partner = make_source("public"), make_source("partner", restricted=True)
    hashes = [f"{h:016x}" for h in rng.integers(0, 2**63, 300)]
    hashes[5] = f"{int(hashes[4], 16) ^ 0b111:016x}"  # 4 and 5: a pHash pair only
    ids = make_samples(public, 300, phashes=hashes)
    hidden = make_samples(partner, 1)
    vectors = random_unit(rng, 301)
    vectors[11] = vectors[10] + 0.01 * rng.standard_normal(DIM)  # 10 and 11: an embedding pair
    vectors[12] = vectors[10] + 0.01 * rng.standard_normal(DIM)  # ... and 12 joins their group
    vectors[300] = vectors[20] + 0.001 * rng.standard_normal(DIM)  # the partner's copy of 20
    embed(space, ids + hidden, vectors)
    outsider, member = make_user(), make_user()
    partner.members.add(member)

    seen_by_outsider = near_duplicate_groups(samples=samples_visible_to(outsider))
    seen_by_member = near_duplicate_groups(samples=samples_visible_to(member))

    groups = {tuple(g.sample_ids): g for g in seen_by_outsider.groups}
    assert set(groups) == {(ids[10], ids[11], ids[12]), (ids[4], ids[5])}
    assert groups[(ids[4], ids[5])].min_hamming == 3 and groups[(ids[4], ids[5])].min_cosine_distance is None
    assert groups[(ids[10], ids[11], ids[12])].min_cosine_distance < 0.01
    assert seen_by_outsider.samples == 300 and seen_by_outsider.without_embedding == 0
    assert (ids[20], hidden[0]) in {tuple(g.sample_ids) for g in seen_by_member.groups}
    assert seen_by_outsider.space["random_init"] is False and seen_by_outsider.warnings == []


def test_random_init_embeddings_are_flagged_in_every_answer(db):
    space = embedding_space_get_or_create(
        model_name="tiny", weights="random-init", fingerprint="seed=0", random_init=True
    )
    ids = make_samples(make_source("public"), 3)
    embed(space, ids, random_unit(np.random.default_rng(10), 3))

    report = near_duplicate_groups(samples=Sample.objects.all())
    pick = diverse_sample_ids(samples=Sample.objects.all(), count=2)

    assert RANDOM_INIT_WARNING in report.warnings and report.space["random_init"] is True
    assert RANDOM_INIT_WARNING in pick.warnings


def test_a_random_tower_s_distances_are_no_near_duplicate_evidence(db):
    """Two different images a random tower embeds 0.0 apart are not grouped; their pHash decides."""
    space = embedding_space_get_or_create(
        model_name="tiny", weights="random-init", fingerprint="seed=1", random_init=True
    )
    ids = make_samples(make_source("public"), 2)
    Sample.objects.filter(pk=ids[0]).update(phash="0" * 16)
    Sample.objects.filter(pk=ids[1]).update(phash="f" * 16)
    same = random_unit(np.random.default_rng(12), 1)
    embed(space, ids, np.concatenate([same, same]))

    assert near_duplicate_pairs_add(space=space, sample_ids=ids) == 0
    for search_index in (False, True):
        assert near_duplicate_groups(samples=Sample.objects.all(), search_index=search_index).groups == []
    Sample.objects.filter(pk=ids[1]).update(phash="0" * 16)
    [group] = near_duplicate_groups(samples=Sample.objects.all()).groups
    assert (sorted(group.sample_ids), group.min_cosine_distance, group.min_hamming) == (sorted(ids), None, 0)


def test_k_center_greedy_covers_every_cluster_before_repeating_one():
    rng = np.random.default_rng(11)
    centres = random_unit(rng, 6) * 10
    sizes = [2000, 500, 100, 30, 10, 3]  # a random pick of 6 would mostly land in the big cluster
    vectors = np.vstack([c + 0.3 * rng.standard_normal((size, DIM)) for c, size in zip(centres, sizes, strict=True)])
    cluster = np.repeat(np.arange(6), sizes)

    picked = k_center_greedy(vectors.astype(np.float32), 6, seed=0)

    assert sorted(cluster[picked].tolist()) == [0, 1, 2, 3, 4, 5]
    assert len(set(picked)) == 6


def test_the_diversity_sampler_picks_among_the_offered_samples_and_counts_those_without_vectors(space, db):
    rng = np.random.default_rng(12)
    ids = make_samples(make_source("public"), 40)
    centres = random_unit(rng, 4)
    vectors = np.vstack([centres[i % 4] + 0.05 * rng.standard_normal(DIM) for i in range(30)])
    embed(space, ids[:30], vectors)  # the last 10 have no embedding

    pick = diverse_sample_ids(samples=Sample.objects.filter(pk__in=ids), count=4, seed=3)

    assert len(pick.sample_ids) == 4 and set(pick.sample_ids) <= set(ids[:30])
    assert sorted(ids.index(i) % 4 for i in pick.sample_ids) == [0, 1, 2, 3]
    assert pick.without_embedding == 10 and "10 candidate sample(s) have no embedding" in pick.warnings[0]


def test_pairs_stored_for_random_spaces_before_go_with_the_migration(db):
    from importlib import import_module

    from django.apps import apps

    from catalog.models import NearDuplicatePair

    random_space = embedding_space_get_or_create(
        model_name="tiny", weights="random-init", fingerprint="2", random_init=True
    )
    real_space = embedding_space_get_or_create(model_name="clip", weights="/w.pt", fingerprint="2", random_init=False)
    a, b = make_samples(make_source("public"), 2)
    for space in (random_space, real_space):
        NearDuplicatePair.objects.create(space=space, sample_a_id=a, sample_b_id=b, cosine_distance=0.01)

    import_module("catalog.migrations.0011_no_pairs_from_random_towers").drop(apps, None)

    assert list(NearDuplicatePair.objects.values_list("space", flat=True)) == [real_space.pk]
