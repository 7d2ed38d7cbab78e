"""Embedding jobs started from the API and the admin: queued, run, visible only to those who may see
every source they read."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.roles import Role
from base.jobs import JobStatus
from catalog.models import Sample, SampleEmbedding, Source
from modeling.embeddings import EmbeddingJobError, embedding_job_check, embedding_job_run_here
from modeling.models import EmbeddingJob, ModelCheckpoint, RunKind, TrainingRun
from releases.models import DatasetVersion, Export
from tests.catalog.helpers import run_import

from .test_image_embeddings import TINY, pictures

API = "/api/modeling/embedding-jobs/"


@pytest.fixture
def sources(db, tmp_path, settings):
    """A public source of four pictures and a restricted (partner) source of two."""
    settings.EMBEDDING_INDEX_ROOT = str(tmp_path / "index")
    settings.CURATION_CLIP_MODEL = TINY
    settings.CURATION_CLIP_WEIGHTS = ""
    for name, count, restricted in (("bench", 4, False), ("partner", 2, True)):
        folder = tmp_path / name
        folder.mkdir()
        with open(folder / "manifest.jsonl", "w") as manifest:
            for number, image in enumerate(pictures(count, seed=len(name))):
                image.save(folder / f"{number}.png")
                manifest.write(json.dumps({"image": f"{number}.png"}) + "\n")
        run_import("folder", folder, source=name, restricted=restricted)
    return Source.objects.get(name="bench"), Source.objects.get(name="partner")


def test_a_data_manager_starts_a_job_that_is_queued_and_whose_batches_store_vectors(
    sources, client_for, django_capture_on_commit_callbacks
):
    bench, _partner = sources
    api = client_for(Role.DATA_MANAGER)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api.post(API, {"sources": [bench.pk], "allow_random_init": True}, format="json")

    assert response.status_code == 201, response.content
    assert len(queued) == 1  # the first batch goes to the train queue once the request commits
    body = response.json()
    assert (body["sources"], body["status"], body["processed"], body["model_name"]) == (
        [bench.pk],
        JobStatus.PENDING,
        0,
        TINY,
    )
    assert body["space"] is None and body["space_random_init"] is None  # fixed by the first batch
    job = embedding_job_run_here(EmbeddingJob.objects.get(pk=body["id"]))
    detail = api.get(f"{API}{job.pk}/").json()
    assert (detail["status"], detail["processed"], detail["embedded"], detail["failed"]) == (
        JobStatus.SUCCEEDED,
        4,
        4,
        0,
    )
    assert detail["space_random_init"] is True and detail["index_report"]["total"] == 4
    bench_samples = set(Sample.objects.filter(source=bench).values_list("pk", flat=True))
    assert set(SampleEmbedding.objects.values_list("sample_id", flat=True)) == bench_samples
    assert [row["id"] for row in api.get(API).json()["results"]] == [job.pk]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"sources": []}, "sources", ""),
        ({"sources": [999999], "allow_random_init": True}, "sources", "no source with id(s) 999999"),
        ({"sources": ["one"]}, "sources[0]", "valid integer"),
        ({"allow_random_init": True}, "sources", ""),
        ({"sources": ["BENCH"]}, "weights", "no CLIP weights"),
        ({"sources": ["BENCH"], "weights": "/nowhere/clip.pt"}, "weights", "must lie under MODEL_WEIGHTS_ROOTS"),
        ({"sources": ["BENCH"], "checkpoint": "run:999999"}, "checkpoint", "no run 999999"),
        ({"sources": ["BENCH"], "checkpoint": "last"}, "checkpoint", "give a checkpoint id"),
        ({"sources": ["BENCH"], "checkpoint": "run:1234567890123456789012"}, "checkpoint", "give a checkpoint id"),
        ({"sources": [2**70], "allow_random_init": True}, "sources[0]", ""),
    ],
)
def test_bad_input_is_refused_with_the_field_at_fault(sources, client_for, payload, field, message):
    bench, _partner = sources
    if "sources" in payload:
        payload = {**payload, "sources": [bench.pk if s == "BENCH" else s for s in payload["sources"]]}

    response = client_for(Role.DATA_MANAGER).post(API, payload, format="json")

    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors, errors
    assert message in json.dumps(errors[field])
    assert not EmbeddingJob.objects.exists()


def test_a_weights_file_is_taken_as_given_and_weights_with_a_checkpoint_are_refused(
    sources, client_for, tmp_path, settings
):
    bench, _partner = sources
    settings.MODEL_WEIGHTS_ROOTS = [tmp_path]
    weights = tmp_path / "clip.pt"
    weights.write_bytes(b"read by the worker")

    accepted = client_for(Role.DATA_MANAGER).post(
        API, {"sources": [bench.pk], "weights": str(weights), "allow_random_init": True}, format="json"
    )

    assert accepted.status_code == 201, accepted.content
    job = EmbeddingJob.objects.get()
    assert (job.weights, job.checkpoint, job.allow_random_init) == (str(weights), "", False)
    with pytest.raises(EmbeddingJobError, match="not both") as refused:
        embedding_job_check(created_by=None, weights=str(weights), checkpoint="/runs/3")
    assert refused.value.field == "weights"


def test_a_person_names_weights_only_under_the_model_roots_and_never_learns_what_lies_elsewhere(
    sources, client_for, tmp_path, settings
):
    """A worker unpickles the weights it loads: the API and the admin take a file only under
    MODEL_WEIGHTS_ROOTS, and say the same of an existing file elsewhere as of a missing one."""
    bench, _partner = sources
    settings.MODEL_WEIGHTS_ROOTS = [tmp_path / "models"]
    (tmp_path / "models").mkdir()
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes(b"anything")
    api = client_for(Role.DATA_MANAGER)

    answers = [
        api.post(API, {"sources": [bench.pk], "weights": path}, format="json")
        for path in (str(outside), str(tmp_path / "missing.pt"), str(tmp_path / "models" / ".." / "elsewhere.pt"))
    ]
    missing_inside = api.post(API, {"sources": [bench.pk], "weights": str(tmp_path / "models" / "x.pt")}, format="json")

    for answer in answers:
        assert answer.status_code == 400
        assert "must lie under MODEL_WEIGHTS_ROOTS" in answer.json()["errors"]["weights"][0]
    assert missing_inside.status_code == 400 and "no weights file" in missing_inside.json()["errors"]["weights"][0]
    assert not EmbeddingJob.objects.exists()
    # The command line (no requester) may name any file, as for imports.
    assert embedding_job_check(created_by=None, source_ids=[bench.pk], weights=str(outside)).weights == str(outside)


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.EXPERT, None])
def test_people_who_do_not_manage_data_are_refused(sources, client_for, role):
    bench, _partner = sources
    api = client_for(role)

    assert api.get(API).status_code == 403
    assert api.post(API, {"sources": [bench.pk], "allow_random_init": True}, format="json").status_code == 403
    assert not EmbeddingJob.objects.exists()


def test_a_restricted_source_is_neither_embedded_nor_its_job_seen_by_a_non_member(
    sources, client_for, make_user, django_capture_on_commit_callbacks
):
    bench, partner = sources
    member = make_user(Role.DATA_MANAGER)
    partner.members.add(member)
    outsider = client_for(Role.DATA_MANAGER)
    with django_capture_on_commit_callbacks(execute=True):
        mixed = client_for(user=member).post(
            API, {"sources": [bench.pk, partner.pk], "allow_random_init": True}, format="json"
        )
    public = outsider.post(API, {"sources": [bench.pk], "allow_random_init": True}, format="json")

    refused = outsider.post(API, {"sources": [bench.pk, partner.pk], "allow_random_init": True}, format="json")

    assert mixed.status_code == 201 and public.status_code == 201
    assert refused.status_code == 400
    assert refused.json()["errors"]["sources"] == [f"no source with id(s) {partner.pk}"]  # as if it did not exist
    job_id = mixed.json()["id"]
    assert outsider.get(f"{API}{job_id}/").status_code == 404
    assert outsider.post(f"{API}{job_id}/cancel/").status_code == 404
    assert [row["id"] for row in outsider.get(API).json()["results"]] == [public.json()["id"]]
    assert {row["id"] for row in client_for(user=member).get(API).json()["results"]} == {
        job_id,
        public.json()["id"],
    }


def test_a_job_can_be_cancelled_and_resumed(sources, client_for, django_capture_on_commit_callbacks):
    bench, _partner = sources
    api = client_for(Role.ML_ENGINEER)
    job_id = api.post(API, {"sources": [bench.pk], "allow_random_init": True}, format="json").json()["id"]

    cancelled = api.post(f"{API}{job_id}/cancel/").json()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        resumed = api.post(f"{API}{job_id}/resume/")

    assert cancelled["status"] == JobStatus.CANCELLED
    assert resumed.status_code == 200, resumed.content
    assert len(queued) == 1


# -- the admin ----------------------------------------------------------------------------------


def _admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_add_page_checks_the_request_then_queues_the_job_and_shows_it_read_only(
    sources, make_user, django_capture_on_commit_callbacks
):
    bench, partner = sources
    manager = make_user(Role.DATA_MANAGER)
    client = _admin_client(manager)
    add = "/admin/modeling/embeddingjob/add/"

    without_weights = client.post(add, {"sources": [bench.pk], "model_name": TINY, "weights": ""})
    hidden = client.post(add, {"sources": [partner.pk], "model_name": TINY, "allow_random_init": "on"})
    assert not EmbeddingJob.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        started = client.post(add, {"sources": [bench.pk], "model_name": TINY, "allow_random_init": "on"})

    assert without_weights.status_code == 200 and "no CLIP weights" in without_weights.content.decode()
    assert hidden.status_code == 200 and "not one of the available choices" in hidden.content.decode()
    assert started.status_code == 302, started.content.decode()[:3000]
    job = EmbeddingJob.objects.get()
    assert list(job.sources.all()) == [bench] and job.allow_random_init and job.created_by == manager
    assert len(queued) == 1
    page = client.get(f"/admin/modeling/embeddingjob/{job.pk}/change/")
    assert page.status_code == 200 and 'name="sources"' not in page.content.decode()
    assert (
        f"/admin/modeling/embeddingjob/{job.pk}/change/" in client.get("/admin/modeling/embeddingjob/").content.decode()
    )


def test_the_admin_hides_a_job_over_a_restricted_source_from_a_non_member(sources, make_user):
    bench, partner = sources
    member = make_user(Role.DATA_MANAGER)
    partner.members.add(member)
    _admin_client(member).post(
        "/admin/modeling/embeddingjob/add/",
        {"sources": [bench.pk, partner.pk], "model_name": TINY, "allow_random_init": "on"},
    )
    job = EmbeddingJob.objects.get()
    outsider = _admin_client(make_user(Role.DATA_MANAGER))

    listing = outsider.get("/admin/modeling/embeddingjob/").content.decode()
    page = outsider.get(f"/admin/modeling/embeddingjob/{job.pk}/change/")

    assert f"/admin/modeling/embeddingjob/{job.pk}/change/" not in listing
    assert page.status_code in (302, 404)


def test_the_command_line_embeds_every_source_and_its_job_names_them_all(sources):
    bench, partner = sources
    out = io.StringIO()

    call_command("embed_samples", "--model", TINY, "--allow-random-init", stdout=out)

    job = EmbeddingJob.objects.get()
    assert set(job.sources.all()) == {bench, partner} and job.created_by is None
    assert (job.status, job.embedded) == (JobStatus.SUCCEEDED, 6) and "6 embedded" in out.getvalue()


def test_a_checkpoint_is_named_by_id_or_run_and_one_trained_on_hidden_data_does_not_exist(
    sources, client_for, make_user, tmp_path, settings
):
    bench, partner = sources
    version = DatasetVersion.objects.create(number=1, title="partner release")
    version.sources.set([partner])
    export = Export.objects.create(version=version, target="/nowhere")
    run = TrainingRun.objects.create(kind=RunKind.STAGE_1, dataset_version=version, export=export)
    checkpoint = ModelCheckpoint.objects.create(run=run, step=4, stage="1", path=str(tmp_path / "run" / "step-4"))
    member = make_user(Role.DATA_MANAGER)
    partner.members.add(member)
    settings.MODEL_WEIGHTS_ROOTS = [tmp_path]
    weights = tmp_path / "clip.pt"
    weights.write_bytes(b"read by the worker")

    hidden = client_for(Role.DATA_MANAGER).post(
        API, {"sources": [bench.pk], "checkpoint": str(checkpoint.pk)}, format="json"
    )
    both = client_for(user=member).post(
        API, {"sources": [bench.pk], "checkpoint": f"run:{run.pk}", "weights": str(weights)}, format="json"
    )
    started = client_for(user=member).post(API, {"sources": [bench.pk], "checkpoint": f"run:{run.pk}"}, format="json")

    assert hidden.status_code == 400 and hidden.json()["errors"]["checkpoint"] == [f"no checkpoint {checkpoint.pk}"]
    assert both.status_code == 400 and "not both" in both.json()["errors"]["weights"][0]
    assert started.status_code == 201, started.content
    assert (started.json()["checkpoint"], started.json()["weights"]) == (checkpoint.path, "")


def _random_tower_checkpoint(folder):
    """A checkpoint whose image tower was never trained from weights (every tiny preset's is)."""
    from dataclasses import asdict

    from torch import nn

    from modeling.core.checkpoint import save_checkpoint
    from modeling.core.clip_towers import ImageTower
    from modeling.core.config import tiny

    model = nn.Module()
    model.captioner = nn.Module()
    model.captioner.image_tower = ImageTower(TINY, None)
    save_checkpoint(folder, model=model, meta={"stage": 1, "step": 2, "config": asdict(tiny())})
    return folder


def test_the_command_line_embeds_with_a_random_tower_checkpoint_when_allowed_and_refuses_in_one_line(
    sources, tmp_path, caplog
):
    checkpoint = _random_tower_checkpoint(tmp_path / "run")

    with pytest.raises(CommandError):
        call_command("embed_samples", "--checkpoint", str(checkpoint), stdout=io.StringIO())
    refused = EmbeddingJob.objects.get()
    out = io.StringIO()
    call_command("embed_samples", "--checkpoint", str(checkpoint), "--allow-random-init", stdout=out)

    assert EmbeddingJob.objects.get(pk=refused.pk).status == JobStatus.FAILED
    assert "--allow-random-init" in EmbeddingJob.objects.get(pk=refused.pk).error
    assert not [record for record in caplog.records if record.exc_info]  # an expected refusal: no traceback
    job = EmbeddingJob.objects.exclude(pk=refused.pk).get()
    assert job.allow_random_init and job.checkpoint == str(checkpoint)
    assert (job.status, job.embedded) == (JobStatus.SUCCEEDED, 6), job.error
    assert "RANDOMLY INITIALISED" in out.getvalue()


def test_the_command_line_takes_a_checkpoint_id_or_run_and_refuses_one_that_is_not_there(sources, tmp_path):
    version = DatasetVersion.objects.create(number=1, title="release")
    export = Export.objects.create(version=version, target="/nowhere")
    run = TrainingRun.objects.create(kind=RunKind.STAGE_1, dataset_version=version, export=export)
    folder = _random_tower_checkpoint(tmp_path / "run")
    checkpoint = ModelCheckpoint.objects.create(run=run, step=2, stage="1", path=str(folder))
    empty = TrainingRun.objects.create(kind=RunKind.STAGE_1, dataset_version=version, export=export)

    for reference, message in (
        ("run:999999", "no run 999999"),
        (f"run:{empty.pk}", f"run {empty.pk} has no checkpoint"),
        ("999999", "no checkpoint 999999"),
        (str(tmp_path / "nowhere"), "no checkpoint at"),
    ):
        with pytest.raises(CommandError, match=message):
            call_command("embed_samples", "--checkpoint", reference, "--allow-random-init", stdout=io.StringIO())
    assert not EmbeddingJob.objects.exists()
    for reference in (f"run:{run.pk}", str(checkpoint.pk)):
        call_command(
            "embed_samples", "--checkpoint", reference, "--allow-random-init", "--enqueue", stdout=io.StringIO()
        )
    assert list(EmbeddingJob.objects.values_list("checkpoint", flat=True)) == [str(folder)] * 2
