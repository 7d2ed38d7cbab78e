"""Pre-annotation from a trained Stage 2 checkpoint: predictions (regions with defect type, score,
model version, uncertainty) for the samples nobody started, as a job in batches; never over human
work; only over sources the requester may see."""

import io
import json

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from accounts.roles import Role
from annotation.models import Annotation, ModelPrediction
from annotation.queue import annotation_claim_next
from base.jobs import JobStatus
from modeling import tasks
from modeling.core.checkpoint_files import find_checkpoint
from modeling.models import ModelCheckpoint, PreannotationJob, RunKind, TrainingRun
from modeling.preannotation import preannotation_batch
from modeling.preannotation_services import (
    PreannotationError,
    checkpoint_resolve,
    preannotation_nothing_predicted_why,
    preannotation_request,
    preannotation_run,
)
from releases.models import DatasetVersion, Export
from tests.annotation.conftest import enqueue
from tests.annotation.factories import make_sample, make_source, make_term
from tests.modeling.synthetic_shards import CLASSES
from vocabulary.models import Facet

pytestmark = pytest.mark.django_db


@pytest.fixture
def synthetic_terms(db):
    return {cls.slug: make_term(Facet.DEFECT_TYPE, cls.slug, label=cls.en) for cls in CLASSES}


@pytest.fixture
def checkpoint(trained_runs, synthetic_terms) -> ModelCheckpoint:
    """The session's tiny Stage 2 run, registered as the platform registers a run's checkpoints."""
    version = DatasetVersion.objects.create(number=1, title="v1")
    export = Export.objects.create(
        version=version,
        target="/nowhere",
        classes=[{"index": 0, "slug": "background"}]
        + [{"index": i, "slug": cls.slug} for i, cls in enumerate(CLASSES[:3], start=1)],
    )
    run = TrainingRun.objects.create(kind=RunKind.STAGE_2, dataset_version=version, export=export)
    return ModelCheckpoint.objects.create(run=run, step=4, stage="2", path=str(trained_runs["stage2"]))


def sample_with_image(source=None):
    """A 64x48 sample whose original is a grey part with a red scratch, in the media storage."""
    sample = make_sample(source, width=64, height=48)
    pixels = np.full((48, 64, 3), 128, dtype=np.uint8)
    pixels[20:24, 10:50] = CLASSES[0].colour
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    sample.original.name = default_storage.save(sample.original.name, ContentFile(buffer.getvalue()))
    sample.save(update_fields=["original"])
    return sample


class StubPredictor:
    """Counts the images it is shown and the batches they came in; what DefectSegmenter.predict_batch
    returns, one detection each."""

    def __init__(self):
        self.calls = 0
        self.batches: list[int] = []

    def predict_batch(self, images, categories, *, score_threshold=0.3, max_detections=20):
        self.batches.append(len(images))
        return [self.predict(image, categories) for image in images]

    def predict(self, image, categories, *, score_threshold=0.3, max_detections=20):
        from modeling.core.inference import Prediction

        self.calls += 1
        width, height = image.size
        mask = torch.zeros((1, height, width), dtype=torch.bool)
        mask[0, 20:24, 10:50] = True
        return Prediction(
            masks=mask,
            boxes=torch.tensor([[10.0, 20.0, 50.0, 24.0]]),
            labels=[categories[0]],
            scores=torch.tensor([0.75]),
            latency_s=0.0,
            peak_memory_bytes=0,
            peak_memory_kind="process_rss",
            uncertainty=0.42,
        )


def test_the_tiny_checkpoint_predicts_unstarted_samples_with_scores_and_model_version(checkpoint, make_user):
    source = make_source("bench")
    samples = [sample_with_image(source) for _ in range(3)]
    enqueue(*samples)
    started = annotation_claim_next(user=make_user(Role.ANNOTATOR), stage="annotation")

    job = preannotation_request(
        checkpoint=checkpoint, source=source, requester=None, score_threshold=0.0, enqueue=False
    )
    job = preannotation_run(job=job)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.total, job.processed, job.predicted, job.skipped, job.failed) == (3, 3, 2, 1, 0)
    skipped = job.items.get(outcome="skipped")
    assert skipped.annotation_id == started.pk and "started" in skipped.reason
    assert not ModelPrediction.objects.filter(annotation_id=started.pk).exists()
    # A 4-step model proposes few or no masks above 0.5; what it proposes is recorded as it is. The
    # region rows themselves are checked with a predictor that always detects (the next test).
    for prediction in ModelPrediction.objects.all():
        assert prediction.model_version == f"checkpoint {checkpoint.pk} (run {checkpoint.run_id}, step 4)"
        assert 0.0 <= prediction.uncertainty <= 1.0
        assert Annotation.objects.get(pk=prediction.annotation_id).model_uncertainty == prediction.uncertainty
        assert job.items.get(annotation_id=prediction.annotation_id).regions == prediction.regions.count()
        for region in prediction.regions.all():
            assert 0.0 < region.score <= 1.0 and region.mask_rle["size"] == [48, 64]


def test_batches_cover_the_limit_and_a_redelivered_batch_does_nothing(checkpoint, settings):
    settings.PREANNOTATION_BATCH_SIZE = 2
    source = make_source("bench")
    enqueue(*[sample_with_image(source) for _ in range(5)])
    predictor = StubPredictor()
    job = preannotation_request(checkpoint=checkpoint, source=source, requester=None, limit=3, enqueue=False)

    job = preannotation_run(job=job, predictor=predictor)

    assert (job.total, job.predicted, job.next_batch) == (3, 3, 2)
    assert predictor.calls == 3
    assert preannotation_batch(job_id=job.pk, batch=0, predictor=predictor) is None
    assert predictor.calls == 3
    region = ModelPrediction.objects.first().regions.get()
    assert (region.score, region.bbox, region.defect_type.slug) == (0.75, [10, 20, 40, 4], CLASSES[0].slug)


def test_the_model_sees_a_task_in_forward_batches_and_an_unreadable_original_fails_alone(checkpoint, settings):
    settings.PREANNOTATION_MODEL_BATCH_SIZE = 2
    source = make_source("bench")
    samples = [sample_with_image(source) for _ in range(5)]
    samples[1].original.name = default_storage.save("originals/broken.png", ContentFile(b"not a png"))
    samples[1].save(update_fields=["original"])
    enqueue(*samples)
    predictor = StubPredictor()

    job = preannotation_run(
        job=preannotation_request(checkpoint=checkpoint, source=source, requester=None, enqueue=False),
        predictor=predictor,
    )

    assert predictor.batches == [1, 2, 1]  # chunks of two, less the unreadable one
    assert (job.predicted, job.failed) == (4, 1)
    failed = job.items.get(outcome="failed")
    assert failed.annotation.sample_id == samples[1].pk and "cannot read the original image" in failed.reason


def test_a_second_job_with_the_same_checkpoint_skips_what_it_predicted(checkpoint):
    source = make_source("bench")
    enqueue(sample_with_image(source))
    first = preannotation_run(
        job=preannotation_request(checkpoint=checkpoint, source=source, requester=None, enqueue=False),
        predictor=StubPredictor(),
    )
    second = preannotation_run(
        job=preannotation_request(checkpoint=checkpoint, source=source, requester=None, enqueue=False),
        predictor=StubPredictor(),
    )

    assert (first.predicted, second.predicted, second.skipped) == (1, 0, 1)
    assert "already predicted" in second.items.get().reason
    assert ModelPrediction.objects.count() == 1


def test_a_requester_pre_annotates_only_sources_they_may_see(checkpoint, make_user):
    partner = make_source("partner", restricted=True)
    enqueue(sample_with_image(partner))
    outsider = make_user(Role.DATA_MANAGER)
    member = make_user(Role.DATA_MANAGER)
    partner.members.add(member)

    with pytest.raises(PreannotationError, match=f"no source {partner.pk}"):
        preannotation_request(checkpoint=checkpoint, source=partner, requester=outsider, enqueue=False)
    job = preannotation_request(checkpoint=checkpoint, source=partner, requester=member, enqueue=False)

    assert preannotation_run(job=job, predictor=StubPredictor()).predicted == 1


def test_the_api_starts_a_job_and_hides_other_sources_jobs(
    checkpoint, make_user, client_for, django_capture_on_commit_callbacks
):
    partner = make_source("partner", restricted=True)
    enqueue(sample_with_image(partner))
    member = make_user(Role.DATA_MANAGER)
    partner.members.add(member)
    api = client_for(user=member)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api.post(
            "/api/modeling/preannotation-jobs/",
            {"checkpoint": f"run:{checkpoint.run_id}", "source": partner.pk, "limit": 5},
            format="json",
        )

    assert response.status_code == 201, response.content
    assert len(queued) == 1  # the first batch goes to the train queue once the request commits
    job_id = response.json()["id"]
    outsider = client_for(Role.DATA_MANAGER)
    assert outsider.get(f"/api/modeling/preannotation-jobs/{job_id}/").status_code == 404
    refused = outsider.post(
        "/api/modeling/preannotation-jobs/", {"checkpoint": str(checkpoint.pk), "source": partner.pk}, format="json"
    )
    assert refused.status_code == 400 and "source" in refused.json()["errors"]
    assert client_for(Role.ANNOTATOR).get("/api/modeling/preannotation-jobs/").status_code == 403


def test_only_stage_2_checkpoints_and_known_classes_are_accepted(checkpoint):
    source = make_source("bench")
    stage1 = ModelCheckpoint.objects.create(run=checkpoint.run, step=1, stage="1", path="/nowhere")

    with pytest.raises(PreannotationError, match="needs a Stage 2"):
        preannotation_request(checkpoint=stage1, source=source, requester=None, enqueue=False)
    with pytest.raises(PreannotationError, match="not defect types of the vocabulary: def-unknown"):
        preannotation_request(
            checkpoint=checkpoint, source=source, requester=None, classes=["def-unknown"], enqueue=False
        )
    with pytest.raises(PreannotationError, match="give a checkpoint id"):
        checkpoint_resolve("latest")
    assert checkpoint_resolve(f"run:{checkpoint.run_id}") == checkpoint


def test_the_command_pre_annotates_a_source(checkpoint, capsys):
    source = make_source("bench")
    enqueue(sample_with_image(source))

    call_command("preannotate", "--checkpoint", str(checkpoint.pk), "--source", "bench", "--score-threshold", "0")

    assert "1 predicted, 0 skipped, 0 failed, of 1" in capsys.readouterr().out
    with pytest.raises(CommandError, match="unknown source 'nope'"):
        call_command("preannotate", "--checkpoint", str(checkpoint.pk), "--source", "nope")
    assert PreannotationJob.objects.count() == 1


def test_the_command_says_why_a_source_without_enqueued_samples_gave_nothing(checkpoint, capsys):
    source = make_source("imported only")
    make_sample(source), make_sample(source)

    call_command("preannotate", "--checkpoint", str(checkpoint.pk), "--source", "imported only")

    out = capsys.readouterr().out
    assert "0 predicted, 0 skipped, 0 failed, of 0" in out
    assert (
        "nothing to pre-annotate: none of the 2 samples of source 'imported only' is enqueued for annotation yet"
    ) in out
    assert f"enqueue_samples --source {source.pk}" in out


def test_the_command_says_a_source_without_samples_has_none(checkpoint, capsys):
    make_source("empty line")

    call_command("preannotate", "--checkpoint", str(checkpoint.pk), "--source", "empty line")

    assert "nothing to pre-annotate: source 'empty line' has no samples" in capsys.readouterr().out


def test_a_job_that_skipped_everything_says_the_samples_were_taken(checkpoint, make_user):
    source = make_source("bench")
    claimed, predicted = enqueue(sample_with_image(source), sample_with_image(source))
    annotation_claim_next(user=make_user(Role.ANNOTATOR), stage="annotation")  # the older one: claimed
    first = preannotation_run(
        job=preannotation_request(checkpoint=checkpoint, source=source, requester=None, enqueue=False),
        predictor=StubPredictor(),
    )
    second = preannotation_run(
        job=preannotation_request(checkpoint=checkpoint, source=source, requester=None, enqueue=False),
        predictor=StubPredictor(),
    )

    assert (first.predicted, second.predicted, second.skipped) == (1, 0, 2)
    assert preannotation_nothing_predicted_why(first) is None
    assert preannotation_nothing_predicted_why(second) == (
        "nothing to pre-annotate: each of the 2 samples of source 'bench' it looked at has a person's work "
        f"or checkpoint {checkpoint.pk}'s prediction already"
    )


def test_task_names_are_stable():
    assert tasks.preannotation_batch_task.name == "modeling.preannotation_batch"
    assert tasks.preannotation_finish_task.name == "modeling.preannotation_finish"


def test_a_data_manager_starts_a_job_from_the_admin(checkpoint, make_user, django_capture_on_commit_callbacks):
    from django.test import Client

    source = make_source("bench")
    manager = make_user(Role.DATA_MANAGER)
    browser = Client()
    browser.force_login(manager)
    url = "/admin/modeling/preannotationjob/add/"

    form = browser.get(f"{url}?checkpoint={checkpoint.pk}")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = browser.post(
            url, {"checkpoint": checkpoint.pk, "source": source.pk, "limit": "", "score_threshold": "0.3"}
        )

    assert form.status_code == 200 and f'<option value="{checkpoint.pk}" selected>' in form.content.decode()
    assert response.status_code == 302, response.content.decode()[:2000]
    job = PreannotationJob.objects.get()
    assert (job.created_by, job.source, job.checkpoint) == (manager, source, checkpoint)
    assert len(queued) == 1


def test_the_run_action_opens_the_form_with_the_runs_newest_checkpoint(checkpoint, make_user):
    from django.test import Client

    engineer = make_user(Role.ML_ENGINEER)
    browser = Client()
    browser.force_login(engineer)
    ModelCheckpoint.objects.create(run=checkpoint.run, step=2, stage="2", path="/older")

    response = browser.post(
        "/admin/modeling/trainingrun/", {"action": "preannotate", "_selected_action": [checkpoint.run_id]}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/admin/modeling/preannotationjob/add/?checkpoint={checkpoint.pk}"


def bad_inputs(checkpoint) -> dict[str, tuple[dict, str, str]]:
    """Each bad input of a pre-annotation request: the request's fields, the field to blame, and a
    piece of its message. The fields are the API's; the admin form takes a checkpoint id."""
    partner = make_source("partner", restricted=True)
    source = make_source("bench")
    stage1 = ModelCheckpoint.objects.create(run=checkpoint.run, step=1, stage="2", path=str(checkpoint.path))
    stage1.stage = "1"
    stage1.save(update_fields=["stage"])
    gone = ModelCheckpoint.objects.create(run=checkpoint.run, step=9, stage="2", path="/nowhere/stage2")
    good = {"checkpoint": str(checkpoint.pk), "source": source.pk}
    return {
        "stage 1 checkpoint": ({**good, "checkpoint": str(stage1.pk)}, "checkpoint", "Stage 2"),
        "checkpoint without files": ({**good, "checkpoint": str(gone.pk)}, "checkpoint", "no checkpoint at /nowhere"),
        "unknown checkpoint": ({**good, "checkpoint": "999999"}, "checkpoint", "no checkpoint 999999"),
        "non-integer checkpoint": ({**good, "checkpoint": "latest"}, "checkpoint", "give a checkpoint id"),
        "no checkpoint": ({**good, "checkpoint": ""}, "checkpoint", ""),
        "hidden source": ({**good, "source": partner.pk}, "source", ""),
        "non-integer source": ({**good, "source": "bench"}, "source", ""),
        "no source": ({"checkpoint": good["checkpoint"]}, "source", ""),
        "non-integer limit": ({**good, "limit": "many"}, "limit", ""),
        "limit 0": ({**good, "limit": 0}, "limit", ""),
        "score threshold 1.5": ({**good, "score_threshold": 1.5}, "score_threshold", ""),
    }


BAD_INPUTS = [
    "stage 1 checkpoint",
    "checkpoint without files",
    "unknown checkpoint",
    "non-integer checkpoint",
    "no checkpoint",
    "hidden source",
    "non-integer source",
    "no source",
    "non-integer limit",
    "limit 0",
    "score threshold 1.5",
]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_the_api_names_the_field_of_a_bad_request(case, checkpoint, client_for):
    data, field, message = bad_inputs(checkpoint)[case]

    response = client_for(Role.DATA_MANAGER).post("/api/modeling/preannotation-jobs/", data, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == [field], body
    assert message in " ".join(body["errors"][field])
    assert not PreannotationJob.objects.exists()


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if c not in ("unknown checkpoint", "non-integer checkpoint")])
def test_the_admin_form_names_the_field_of_a_bad_request(case, checkpoint, make_user):
    from django.test import Client

    data, field, message = bad_inputs(checkpoint)[case]
    if case == "stage 1 checkpoint":  # the form offers Stage 2 checkpoints only
        message = "Select a valid choice"
    browser = Client()
    browser.force_login(make_user(Role.DATA_MANAGER))
    form = {"checkpoint": "", "source": "", "limit": "", "score_threshold": "0.3"}
    form.update({key: str(value) for key, value in data.items()})

    response = browser.post("/admin/modeling/preannotationjob/add/", form)

    assert response.status_code == 200  # the form again, with the error on its field
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field], errors
    assert message in " ".join(errors[field])
    assert not PreannotationJob.objects.exists()


def test_the_run_action_without_a_stage_2_run_says_so(checkpoint, make_user):
    from django.test import Client

    browser = Client()
    browser.force_login(make_user(Role.ML_ENGINEER))
    run = checkpoint.run
    stage1 = TrainingRun.objects.create(kind=RunKind.STAGE_1, dataset_version=run.dataset_version, export=run.export)

    response = browser.post(
        "/admin/modeling/trainingrun/",
        {"action": "preannotate", "_selected_action": [stage1.pk]},
        follow=True,
    )

    assert response.status_code == 200 and response.redirect_chain[-1][0] == "/admin/modeling/trainingrun/"
    assert "select a Stage 2 run that has a checkpoint" in [str(m) for m in response.context["messages"]]


# A run trained outside the platform (the CLI, torchrun elsewhere) is registered, then pre-annotates.


def _shard_export(classes: list[dict], status=JobStatus.SUCCEEDED) -> Export:
    version = DatasetVersion.objects.create(number=DatasetVersion.objects.count() + 1, title="v")
    return Export.objects.create(version=version, target="/nowhere", classes=classes, status=status)


def _checkpoint_classes(out_dir) -> list[dict]:
    meta = json.loads((find_checkpoint(out_dir) / "checkpoint.json").read_text())
    return [{"index": 0, "slug": "background"}] + [
        {"index": entry["index"], "slug": entry["slug"]} for entry in meta["classes"] if entry["index"]
    ]


def test_a_run_trained_by_the_cli_is_registered_and_pre_annotates(trained_runs, synthetic_terms):
    out_dir = trained_runs["stage2"]
    export = _shard_export(_checkpoint_classes(out_dir))
    output = io.StringIO()
    call_command("register_run", str(out_dir), "--export", str(export.pk), stdout=output)

    run = TrainingRun.objects.get()
    assert (run.kind, run.status, run.export, run.step) == (RunKind.STAGE_2, JobStatus.SUCCEEDED, export, 4)
    assert f"run {run.pk} (Stage 2 fine-tuning" in output.getvalue() and f"run:{run.pk}" in output.getvalue()
    checkpoint = checkpoint_resolve(f"run:{run.pk}")
    assert (checkpoint.step, checkpoint.stage) == (4, "2")
    assert run.metric_lines.exists()  # the loss curve comes along

    source = make_source("bench")
    enqueue(sample_with_image(source))
    output = io.StringIO()
    call_command("preannotate", "--checkpoint", f"run:{run.pk}", "--source", "bench", stdout=output)
    job = PreannotationJob.objects.get()
    assert (job.status, job.checkpoint, job.total, job.processed, job.failed) == (
        JobStatus.SUCCEEDED,
        checkpoint,
        1,
        1,
        0,
    )


def test_registering_a_stage_1_run_does_not_offer_it_for_pre_annotation(trained_runs):
    out_dir = trained_runs["stage1"]
    export = _shard_export(_checkpoint_classes(out_dir))
    output = io.StringIO()
    call_command("register_run", str(out_dir), "--export", str(export.pk), stdout=output)

    run = TrainingRun.objects.get()
    assert run.kind == RunKind.STAGE_1
    assert "pre-annotate" not in output.getvalue()  # preannotate refuses a Stage 1 checkpoint
    assert f"Stage 2 can start from run {run.pk}" in output.getvalue()


@pytest.mark.parametrize(
    "case, message",
    [
        ("classes in another order", "the checkpoint's classes"),
        ("unfinished export", "is not a finished WebDataset export"),
        ("one checkpoint folder", "give the run's --out folder"),
        ("no checkpoint", "no checkpoint at"),
        ("registered twice", "is already run"),
    ],
)
def test_registering_a_run_refuses_what_would_mislead(trained_runs, tmp_path, case, message):
    out_dir = trained_runs["stage2"]
    classes = _checkpoint_classes(out_dir)
    export = _shard_export(classes)
    if case == "classes in another order":
        export = _shard_export(
            [classes[0]] + [{**entry, "index": len(classes) - entry["index"]} for entry in classes[1:]]
        )
    elif case == "unfinished export":
        export = _shard_export(classes, status=JobStatus.RUNNING)
    elif case == "one checkpoint folder":
        out_dir = find_checkpoint(out_dir)
    elif case == "no checkpoint":
        out_dir = tmp_path
    elif case == "registered twice":
        call_command("register_run", str(out_dir), "--export", str(export.pk), stdout=io.StringIO())
    with pytest.raises(CommandError, match=message):
        call_command("register_run", str(out_dir), "--export", str(export.pk), stdout=io.StringIO())
    assert TrainingRun.objects.count() == (1 if case == "registered twice" else 0)
