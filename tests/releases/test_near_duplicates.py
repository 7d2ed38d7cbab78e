"""Near-duplicates shown before a version is cut, a sample's neighbours, and the diversity option of
the enqueue API — each only with the samples its caller may see."""

import numpy as np
import pytest
from django.test import Client

from accounts.roles import Role
from annotation.models import Annotation, AnnotationState
from annotation.services import annotations_enqueue
from catalog.embedding_index import embedding_index_add, embedding_space_get_or_create, sample_embeddings_store
from catalog.models import Sample
from catalog.near_duplicate_pairs import near_duplicate_pairs_add
from releases.models import DatasetVersion
from tests.annotation.factories import make_sample, make_source

pytestmark = pytest.mark.django_db
DIM = 32


@pytest.fixture(autouse=True)
def index_root(settings, tmp_path):
    settings.EMBEDDING_INDEX_ROOT = str(tmp_path / "index")


def embed(sample_ids, vectors):
    space = embedding_space_get_or_create(model_name="clip", weights="/w.pt", fingerprint="1", random_init=False)
    stored = sample_embeddings_store(space=space, sample_ids=list(sample_ids), vectors=np.asarray(vectors))
    embedding_index_add(space=space, sample_ids=stored)
    near_duplicate_pairs_add(space=space, sample_ids=stored)  # as an embedding batch does
    return space


def unit(rng, n):
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def verify(samples):
    annotations_enqueue(samples=Sample.objects.filter(pk__in=[s.pk for s in samples]), by=None)
    for annotation in Annotation.objects.filter(pk__in=[s.pk for s in samples]):
        Annotation.objects.filter(pk=annotation.pk).update(
            state=AnnotationState.VERIFIED, queue="", final_revision_id=annotation.current_revision_id
        )


def test_the_data_manager_sees_near_duplicate_groups_of_a_selection_before_and_when_cutting_it(
    verified_dataset, client_for, make_user
):
    rng = np.random.default_rng(0)
    public = list(Sample.objects.order_by("pk"))
    partner_copy = make_sample(make_source("partner", restricted=True))
    verify([partner_copy])
    vectors = unit(rng, len(public) + 1)
    vectors[1] = vectors[0]  # two public copies
    vectors[3] = vectors[2]  # and two more
    vectors[-1] = vectors[5]  # the partner's copy of a public sample
    embed([s.pk for s in public] + [partner_copy.pk], vectors)
    for sample in public + [partner_copy]:  # far-apart pHashes, but 0 and 1 are pHash twins too
        Sample.objects.filter(pk=sample.pk).update(phash=f"{int(rng.integers(2**63)):016x}")
    Sample.objects.filter(pk=public[1].pk).update(phash=Sample.objects.get(pk=public[0].pk).phash)
    outsider = make_user(Role.DATA_MANAGER)
    member = make_user(Role.DATA_MANAGER)
    member.restricted_sources.add(partner_copy.source)
    selection = {"selection": {"include_restricted": True}}

    preview = client_for(user=outsider).post("/api/releases/versions/near-duplicates/", selection, format="json")
    member_preview = client_for(user=member).post("/api/releases/versions/near-duplicates/", selection, format="json")
    created = client_for(user=outsider).post("/api/releases/versions/", {"title": "all"}, format="json")

    assert preview.status_code == 200, preview.content
    body = preview.json()
    groups = [group["sample_ids"] for group in body["groups"]]
    assert [public[0].pk, public[1].pk] in groups and [public[2].pk, public[3].pk] in groups
    assert all(partner_copy.pk not in group for group in groups) and body["samples"] == len(public)
    assert body["space"]["random_init"] is False and body["without_embedding"] == 0
    assert [public[5].pk, partner_copy.pk] in [g["sample_ids"] for g in member_preview.json()["groups"]]
    assert created.status_code == 201
    pair = next(g for g in created.json()["near_duplicates"]["groups"] if g["sample_ids"][0] == public[0].pk)
    assert pair["min_cosine_distance"] < 1e-5 and pair["min_hamming"] == 0
    version = created.json()["number"]
    listed = client_for(user=outsider).get(f"/api/releases/versions/{version}/near-duplicates/", {"limit": 1})
    assert (listed.json()["groups_listed"], listed.json()["group_count"]) == (1, 2)
    browser = Client()
    browser.force_login(make_user(Role.ADMIN, is_staff=True, is_superuser=True))
    version_pk = DatasetVersion.objects.get(number=version).pk
    page = browser.get(f"/admin/releases/datasetversion/{version_pk}/change/").content.decode()
    assert "2 group(s) among 50 samples" in page and f"{public[0].pk}, {public[1].pk}" in page


def test_a_preview_with_a_hidden_source_is_refused_as_if_the_source_did_not_exist(client_for):
    partner = make_source("partner", restricted=True)
    response = client_for(Role.DATA_MANAGER).post(
        "/api/releases/versions/near-duplicates/", {"selection": {"sources": [partner.pk]}}, format="json"
    )
    assert (
        response.status_code == 400
        and f"no source with id(s) {partner.pk}" in response.json()["errors"]["selection"][0]
    )
    assert (
        client_for(Role.ANNOTATOR).post("/api/releases/versions/near-duplicates/", {}, format="json").status_code == 403
    )


def test_a_samples_neighbours_leave_out_what_the_caller_may_not_see(client_for, make_user):
    rng = np.random.default_rng(1)
    public = [make_sample(make_source("public")) for _ in range(6)]
    hidden = make_sample(make_source("partner", restricted=True))
    vectors = unit(rng, 7)
    vectors[1] = vectors[0] + 0.01 * rng.standard_normal(DIM)
    vectors[6] = vectors[0] + 0.001 * rng.standard_normal(DIM)  # the partner's copy is the nearest of all
    embed([s.pk for s in public] + [hidden.pk], vectors)
    api = client_for(Role.ANNOTATOR)

    response = api.get(f"/api/samples/{public[0].pk}/near-duplicates/", {"k": 3})

    neighbours = response.json()["neighbours"]
    assert response.status_code == 200 and len(neighbours) == 3
    assert neighbours[0]["sample"] == public[1].pk and neighbours[0]["cosine_distance"] < 0.01
    assert hidden.pk not in [n["sample"] for n in neighbours]
    assert api.get(f"/api/samples/{hidden.pk}/near-duplicates/").status_code == 404
    assert api.get(f"/api/samples/{public[0].pk}/near-duplicates/", {"k": 0}).status_code == 400


def test_the_enqueue_api_can_pick_samples_that_cover_the_embedding_space(client_for):
    rng = np.random.default_rng(2)
    source = make_source("public")
    samples = [make_sample(source) for _ in range(40)]
    centres = unit(rng, 4) * 5
    cluster = [0] * 30 + [1] * 6 + [2] * 3 + [3] * 1  # the oldest 4 would all come from cluster 0
    vectors = np.stack([centres[c] + 0.2 * rng.standard_normal(DIM) for c in cluster])
    embed([s.pk for s in samples], vectors)
    api = client_for(Role.DATA_MANAGER)

    response = api.post("/api/annotation/enqueue/", {"source": source.pk, "limit": 4, "diverse": True}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["created"] == 4 and response.json()["diversity"]["candidates"] == 40
    enqueued = set(Annotation.objects.values_list("pk", flat=True))
    assert sorted(cluster[i] for i, s in enumerate(samples) if s.pk in enqueued) == [0, 1, 2, 3]


def test_diverse_enqueue_without_any_embedding_is_refused_with_the_reason(client_for):
    source = make_source("public")
    make_sample(source)
    response = client_for(Role.DATA_MANAGER).post(
        "/api/annotation/enqueue/", {"source": source.pk, "limit": 1, "diverse": True}, format="json"
    )
    assert response.status_code == 400 and "no sample has an embedding yet" in response.json()["detail"]


def test_a_selection_of_the_wrong_shape_is_refused_naming_the_key(client_for):
    api = client_for(Role.DATA_MANAGER)
    for selection, message in [
        ({"domains": 5}, "selection.domains is a list of strings"),
        ({"include_restricted": "yes"}, "selection.include_restricted is true or false"),
        ({"colour": ["red"]}, "unknown selection key(s): colour"),
    ]:
        response = api.post("/api/releases/versions/near-duplicates/", {"selection": selection}, format="json")
        assert response.status_code == 400
        [error] = response.json()["errors"]["selection"]
        assert error.startswith(message), error
