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
from catalog.models import Sample, Source
from modeling.models import ModelCheckpoint, TrainingRun

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
