"""Near-duplicate pairs stored by the embedding batches: found as the vectors arrive, read back for a
selection without searching the index, gone with their samples, repaired by `embedding_index --pairs`."""

import shutil

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from catalog.embedding_index import (
    embedding_index_add,
    embedding_index_folder,
    embedding_space_get_or_create,
    sample_embeddings_store,
)
from catalog.models import NearDuplicatePair, Sample
from catalog.near_duplicate_pairs import near_duplicate_pairs_add, near_duplicate_pairs_find
from catalog.near_duplicates import near_duplicate_groups
from catalog.selectors import samples_visible_to
from tests.annotation.factories import make_source

from .test_curation import make_samples, random_unit

pytestmark = pytest.mark.django_db
DIM = 32


@pytest.fixture(autouse=True)
def index_root(settings, tmp_path):
    settings.EMBEDDING_INDEX_ROOT = str(tmp_path / "index")
    settings.NEAR_DUPLICATE_MAX_COSINE_DISTANCE = 0.05


@pytest.fixture
def space(db):
    return embedding_space_get_or_create(model_name="test-clip", weights="/w.pt", fingerprint="1", random_init=False)


def batch(space, ids, vectors, *, pairs=True):
    """What an embedding batch does with its vectors: store, index, then pair them."""
    stored = sample_embeddings_store(space=space, sample_ids=list(ids), vectors=np.asarray(vectors))
    embedding_index_add(space=space, sample_ids=stored)
    if pairs:
        near_duplicate_pairs_add(space=space, sample_ids=stored)


def copy_of(rng, vector, noise=0.005):
    return vector + noise * rng.standard_normal(len(vector)).astype(np.float32)


def planted(rng, n, *, clusters):
    """n random unit vectors; clusters: {first index: size}, each a tight cluster of copies."""
    vectors = random_unit(rng, n, DIM)
    for first, size in clusters.items():
        for offset in range(1, size):
            vectors[first + offset] = copy_of(rng, vectors[first])
    return vectors


def in_batches(space, ids, vectors, size=64):
    for start in range(0, len(ids), size):
        batch(space, ids[start : start + size], vectors[start : start + size])


def embedding_groups(report):
    return sorted(tuple(g.sample_ids) for g in report.groups)


def test_the_batches_store_the_planted_pairs_and_the_groups_read_them_without_the_index(space):
    rng = np.random.default_rng(1)
    ids = make_samples(make_source("public"), 400)
    vectors = planted(rng, 400, clusters={10: 3, 200: 2})
    vectors[399] = copy_of(rng, vectors[5])  # a copy in a later batch than its original

    in_batches(space, ids, vectors)
    shutil.rmtree(embedding_index_folder(space))  # the groups no longer need the index
    report = near_duplicate_groups(samples=Sample.objects.all(), max_hamming=0)

    stored = set(NearDuplicatePair.objects.values_list("sample_a_id", "sample_b_id"))
    assert stored == {
        (ids[10], ids[11]),
        (ids[10], ids[12]),
        (ids[11], ids[12]),
        (ids[200], ids[201]),
        (ids[5], ids[399]),
    }
    assert embedding_groups(report) == sorted([(ids[10], ids[11], ids[12]), (ids[200], ids[201]), (ids[5], ids[399])])
    assert report.without_embedding == 0 and report.warnings == []


def test_a_deleted_sample_takes_its_pairs_along(space):
    rng = np.random.default_rng(2)
    ids = make_samples(make_source("public"), 50)
    in_batches(space, ids, planted(rng, 50, clusters={3: 3}))
    assert NearDuplicatePair.objects.count() == 3

    Sample.objects.filter(pk=ids[4]).delete()

    assert set(NearDuplicatePair.objects.values_list("sample_a_id", "sample_b_id")) == {(ids[3], ids[5])}
    assert embedding_groups(near_duplicate_groups(samples=Sample.objects.all(), max_hamming=0)) == [(ids[3], ids[5])]


def test_a_hidden_sample_never_appears_though_its_pair_is_stored(space, make_user):
    rng = np.random.default_rng(3)
    public, partner = make_source("public"), make_source("partner", restricted=True)
    ids = make_samples(public, 30)
    hidden = make_samples(partner, 2, phashes=["00000000000000ff", "ff00000000000000"])  # far from the rest
    vectors = random_unit(rng, 32, DIM)
    vectors[30] = copy_of(rng, vectors[7])  # the partner's copy of a public sample
    vectors[31] = copy_of(rng, vectors[30])  # and of that copy: a group of three for a member
    in_batches(space, ids + hidden, vectors, size=16)
    outsider, member = make_user(), make_user()
    partner.members.add(member)

    seen_by_outsider = near_duplicate_groups(samples=samples_visible_to(outsider), max_hamming=0)
    seen_by_member = near_duplicate_groups(samples=samples_visible_to(member), max_hamming=0)

    assert NearDuplicatePair.objects.filter(sample_a=ids[7], sample_b=hidden[0]).exists()
    assert seen_by_outsider.groups == [] and seen_by_outsider.samples == 30
    assert embedding_groups(seen_by_member) == [(ids[7], hidden[0], hidden[1])]


def test_the_stored_pairs_give_the_same_groups_as_searching_the_index_per_request(space):
    rng = np.random.default_rng(4)
    ids = make_samples(make_source("public"), 3000)
    # Pairs, triples, and a cluster of 40 copies spread over many batches (more than k = 16).
    clusters = {i: 2 + i % 3 for i in range(0, 2400, 97)}
    vectors = planted(rng, 3000, clusters=clusters)
    spread = rng.choice(np.arange(2500, 3000), 40, replace=False)
    centre = random_unit(rng, 1, DIM)[0]
    vectors[spread] = np.stack([copy_of(rng, centre, noise=0.003) for _ in spread])
    in_batches(space, ids, vectors)
    subset = Sample.objects.filter(pk__in=ids[::2] + list(np.asarray(ids)[spread]))

    for samples in (Sample.objects.all(), subset):
        stored = near_duplicate_groups(samples=samples, max_hamming=0)
        searched = near_duplicate_groups(samples=samples, max_hamming=0, search_index=True)
        assert embedding_groups(stored) == embedding_groups(searched)
        assert [g.min_cosine_distance for g in stored.groups] == [g.min_cosine_distance for g in searched.groups]
    groups = embedding_groups(near_duplicate_groups(samples=Sample.objects.all(), max_hamming=0))
    assert len(groups) == len(clusters) + 1 and max(len(g) for g in groups) == 40


def test_pairs_a_batch_missed_are_found_by_the_repair_command(space):
    rng = np.random.default_rng(5)
    ids = make_samples(make_source("public"), 120)
    vectors = planted(rng, 120, clusters={}).copy()
    vectors[100] = copy_of(rng, vectors[1])
    vectors[110] = copy_of(rng, vectors[101])
    batch(space, ids[:100], vectors[:100])
    # A worker killed after its commit (or a concurrent batch): vectors stored and indexed, no pairs.
    batch(space, ids[100:], vectors[100:], pairs=False)
    before = embedding_groups(near_duplicate_groups(samples=Sample.objects.all(), max_hamming=0))

    call_command("embedding_index", "--pairs", "--space", str(space.pk), stdout=open("/dev/null", "w"))

    assert before == []
    assert embedding_groups(near_duplicate_groups(samples=Sample.objects.all(), max_hamming=0)) == [
        (ids[1], ids[100]),
        (ids[101], ids[110]),
    ]


def test_finding_pairs_since_a_moment_asks_only_for_the_vectors_stored_since(space):
    rng = np.random.default_rng(6)
    ids = make_samples(make_source("public"), 60)
    vectors = planted(rng, 60, clusters={0: 2, 50: 2})
    batch(space, ids[:40], vectors[:40], pairs=False)
    moment = timezone.now()
    batch(space, ids[40:], vectors[40:], pairs=False)

    report = near_duplicate_pairs_find(space=space, since=moment)

    assert report == {"queried": 20, "pairs_found": 1, "pairs": 1}
    assert list(NearDuplicatePair.objects.values_list("sample_a_id", "sample_b_id")) == [(ids[50], ids[51])]


def test_a_deleted_sample_still_in_the_index_is_no_ones_pair(space):
    rng = np.random.default_rng(7)
    ids = make_samples(make_source("public"), 40)
    vectors = planted(rng, 40, clusters={})
    vectors[30] = copy_of(rng, vectors[2])
    vectors[31] = copy_of(rng, vectors[2])
    batch(space, ids[:30], vectors[:30])
    Sample.objects.filter(pk=ids[2]).delete()  # its id stays in the index until the next sync

    batch(space, ids[30:], vectors[30:])

    assert set(NearDuplicatePair.objects.values_list("sample_a_id", "sample_b_id")) == {(ids[30], ids[31])}
