"""A refusal must not tell a non-member that a restricted thing exists. Every request that names an
object or a value by hand (an id in a body, a checkpoint reference, a selection's domain) is sent
twice by each role: once naming what only the restricted source holds, once naming something that
does not exist at all. The two answers must be the same — same status, same body once the name
asked for is blanked out — or the difference is an oracle ("this run exists", "this domain exists",
"its newest checkpoint is 7")."""

import pytest
from django.db.models import Max
from rest_framework.test import APIClient

from accounts.roles import Role
from catalog.models import EmbeddingSpace, Sample, SampleEmbedding, Source
from modeling.models import ModelCheckpoint, TrainingRun
from releases.models import DatasetVersion

from .test_access_matrix import ROLES
from .world import MARK, build_world

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# What a restricted value is probed with; `{}` is where the probed value goes in the request body.
PROBES = [
    ("/api/modeling/preannotation-jobs/", lambda v, w: {"checkpoint": v, "source": w.public.pk}, "run"),
    ("/api/modeling/preannotation-jobs/", lambda v, w: {"checkpoint": v, "source": w.public.pk}, "checkpoint"),
    ("/api/modeling/preannotation-jobs/", lambda v, w: {"checkpoint": "1", "source": v}, "source"),
    ("/api/modeling/embedding-jobs/", lambda v, w: {"checkpoint": v, "sources": [w.public.pk]}, "run"),
    ("/api/modeling/embedding-jobs/", lambda v, w: {"checkpoint": v, "sources": [w.public.pk]}, "checkpoint"),
    ("/api/modeling/embedding-jobs/", lambda v, w: {"sources": [v]}, "source"),
    ("/api/releases/versions/", lambda v, w: {"title": "probe", "selection": {"domains": [v]}}, "domain"),
    ("/api/releases/versions/near-duplicates/", lambda v, w: {"selection": {"domains": [v]}}, "domain"),
    ("/api/releases/versions/near-duplicates/", lambda v, w: {"selection": {"sources": [v]}}, "source"),
    ("/api/releases/versions/", lambda v, w: {"title": "probe", "selection": {"sources": [v]}}, "source"),
    ("/api/captioning/jobs/", lambda v, w: {"captioner": "template", "filters": {"sources": [v]}}, "source"),
    ("/api/annotation/agreement-reports/", lambda v, w: {"scope": "dataset", "source": v}, "source"),
    ("/api/annotation/queue/annotation/claim-next/", lambda v, w: {"source": v}, "source"),
]


@pytest.fixture
def world(tmp_path, people, vocab, make_user, settings):
    settings.EXPORT_ROOTS = [str(tmp_path)]
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    world = build_world(tmp_path, people, vocab, make_user(Role.ADMIN))
    # A domain only the restricted source's samples carry.
    Sample.objects.filter(source=world.restricted).update(domain=f"{MARK.lower()}-domain")
    return world


def _values(world) -> dict[str, tuple[str | int, str | int]]:
    """kind -> (what only the restricted source holds, what does not exist)."""
    run = world.restricted_objects[TrainingRun]
    checkpoint = world.restricted_objects[ModelCheckpoint]
    beyond_runs = (TrainingRun.objects.aggregate(top=Max("pk"))["top"] or 0) + 1000
    beyond_checkpoints = (ModelCheckpoint.objects.aggregate(top=Max("pk"))["top"] or 0) + 1000
    beyond_sources = (Source.objects.aggregate(top=Max("pk"))["top"] or 0) + 1000
    return {
        "run": (f"run:{run.pk}", f"run:{beyond_runs}"),
        "checkpoint": (str(checkpoint.pk), str(beyond_checkpoints)),
        "source": (world.restricted.pk, beyond_sources),
        "domain": (f"{MARK.lower()}-domain", "no-such-domain-anywhere"),
    }


def _answer(client, url, body, asked) -> tuple[int, str]:
    response = client.post(url, body, format="json")
    text = response.content.decode()
    for shown in {str(asked), str(asked).removeprefix("run:")}:
        text = text.replace(shown, "<asked>")
    return response.status_code, text


@pytest.mark.parametrize("role", ROLES)
def test_a_refusal_reads_the_same_for_a_hidden_object_as_for_a_missing_one(world, make_user, role):
    client = APIClient()
    client.force_authenticate(make_user(role))
    values = _values(world)
    oracles = []
    for url, body_for, kind in PROBES:
        hidden, missing = values[kind]
        for_hidden = _answer(client, url, body_for(hidden, world), hidden)
        for_missing = _answer(client, url, body_for(missing, world), missing)
        if for_hidden[0] < 300 or MARK in for_hidden[1] or MARK.lower() in for_hidden[1]:
            oracles.append(f"POST {url} naming a restricted {kind}: {for_hidden[0]} {for_hidden[1][:300]}")
        elif for_hidden != for_missing:
            oracles.append(
                f"POST {url} naming a restricted {kind}: {for_hidden[0]} {for_hidden[1][:300]}\n"
                f"   but naming a missing one: {for_missing[0]} {for_missing[1][:300]}"
            )
    assert not oracles, f"{role} (not a member) can tell restricted things exist:\n" + "\n".join(oracles)


def test_curation_answers_never_name_an_embedding_space_of_hidden_samples_only(world, make_user):
    """A member embedded the partner's samples with a model of their own (its weights file carries the
    partner's name); nobody else's near-duplicate, neighbour or diversity answer may pick that space,
    name it, or count the public samples as "without an embedding in space N"."""
    hidden = EmbeddingSpace.objects.create(
        key=f"ViT-B-16|/models/{MARK}.pt|f1", model_name="ViT-B-16", weights=f"/models/{MARK}.pt", dim=4
    )
    for sample in Sample.objects.filter(source=world.restricted):
        SampleEmbedding.objects.create(space=hidden, sample=sample, vector=b"\0" * 16)
    public_sample = world.public_objects[Sample]
    public_version = world.public_objects[DatasetVersion]
    client = APIClient()
    client.force_authenticate(make_user(Role.DATA_MANAGER))

    answers = {
        "neighbours": client.get(f"/api/samples/{public_sample.pk}/near-duplicates/"),
        "preview": client.post(
            "/api/releases/versions/near-duplicates/", {"selection": {"sources": [world.public.pk]}}, format="json"
        ),
        "version": client.get(f"/api/releases/versions/{public_version.number}/near-duplicates/"),
        "diverse": client.post(
            "/api/annotation/enqueue/", {"source": world.public.pk, "diverse": True, "limit": 1}, format="json"
        ),
    }

    shown = {
        name: f"{response.status_code} {response.content.decode()[:300]}"
        for name, response in answers.items()
        if MARK in response.content.decode() or f"space {hidden.pk}" in response.content.decode()
    }
    assert not shown, shown


def test_naming_a_region_of_a_hidden_sample_reads_as_naming_no_region(world, make_user):
    """An annotator keeping, commenting on or pointing a QA pair at a region by id: a region of a
    partner's sample is "no region N", like a missing one, not "belongs to another sample"."""
    from annotation.models import Annotation, Region

    from ..annotation.helpers import act, claim_next

    annotator = make_user(Role.ANNOTATOR)
    api = APIClient()
    api.force_authenticate(annotator)
    held = claim_next(api, "annotation")
    assert held.status_code == 200, held.content
    sample_id = held.json()["sample"]
    assert Annotation.objects.get(pk=sample_id).source_id == world.public.pk
    hidden = Region.objects.filter(annotation__source=world.restricted).order_by("pk").first().pk
    missing = (Region.objects.aggregate(top=Max("pk"))["top"] or 0) + 1000

    def errors(region_id):
        keep = act(api, sample_id, "save", content={"regions": [{"id": region_id}]})
        pair = {"question": "Where?", "answer": "There.", "language": "en", "regions": [region_id]}
        point = act(api, sample_id, "save", content={"qa_pairs": [pair]})
        return [(r.status_code, r.content.decode().replace(str(region_id), "<asked>")) for r in (keep, point)]

    assert errors(hidden) == errors(missing)
