"""Resume and the stale sweep, for every registered kind of job; the queues' time limits."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.roles import Role
from annotation.models import AgreementReport
from base.job_kinds import JOB_KINDS, JobNotResumable, job_resume, jobs_requeue_lost
from base.jobs import JobStatus
from base.tasks import jobs_requeue_lost_task
from captioning.models import CaptionJob
from catalog.models import ImportJob, Source
from modeling.models import EmbeddingJob, ModelCheckpoint, PreannotationJob, RunKind, TrainingRun
from releases.models import DatasetVersion, Export

pytestmark = pytest.mark.django_db


def make_job(kind: str, **fields):
    model = JOB_KINDS[kind].model
    if model is ImportJob:
        fields.setdefault("source", Source.objects.get_or_create(name="s")[0])
        fields.setdefault("format", "folder")
    if model is PreannotationJob:
        fields.setdefault("source", Source.objects.get_or_create(name="s")[0])
        fields.setdefault("checkpoint", _stage2_checkpoint())
    job = model.objects.create(**{key: value for key, value in fields.items() if key != "created_at"})
    if "created_at" in fields:  # auto_now_add ignores a given value
        model.objects.filter(pk=job.pk).update(created_at=fields["created_at"])
        job.refresh_from_db()
    return job


def _stage2_checkpoint() -> ModelCheckpoint:
    version = DatasetVersion.objects.get_or_create(number=1, defaults={"title": "v1"})[0]
    export = Export.objects.get_or_create(version=version, defaults={"target": "/nowhere"})[0]
    run = TrainingRun.objects.get_or_create(kind=RunKind.STAGE_2, dataset_version=version, export=export)[0]
    return ModelCheckpoint.objects.get_or_create(run=run, step=1, defaults={"stage": "2", "path": "/nowhere"})[0]


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_every_job_kind_is_registered():
    assert {name: kind.model for name, kind in JOB_KINDS.items()} == {
        "import": ImportJob,
        "caption": CaptionJob,
        "report": AgreementReport,
        "preannotation": PreannotationJob,
        "embedding": EmbeddingJob,
    }


@pytest.mark.parametrize("kind", ["import", "caption", "report", "preannotation", "embedding"])
def test_resume_requeues_failed_and_lost_jobs_at_their_batch_and_refuses_live_or_done_ones(
    kind, django_capture_on_commit_callbacks
):
    stale = settings.JOB_STALE_SECONDS + 5
    cases = {
        "failed": (dict(status=JobStatus.FAILED, error="boom", next_batch=3), True),
        "cancelled": (dict(status=JobStatus.CANCELLED, next_batch=1), True),
        "lost running": (dict(status=JobStatus.RUNNING, heartbeat_at=ago(stale), created_at=ago(stale)), True),
        "lost pending": (dict(status=JobStatus.PENDING, created_at=ago(stale)), True),
        "live running": (dict(status=JobStatus.RUNNING, heartbeat_at=ago(1)), False),
        "fresh pending": (dict(status=JobStatus.PENDING), False),
        "succeeded": (dict(status=JobStatus.SUCCEEDED), False),
    }
    for case, (fields, resumable) in cases.items():
        job = make_job(kind, **fields)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            if resumable:
                resumed = job_resume(job=job)
            else:
                with pytest.raises(JobNotResumable) as refusal:
                    job_resume(job=job)
        job.refresh_from_db()
        if resumable:
            assert (resumed.status, resumed.error, resumed.next_batch) == (
                JobStatus.PENDING,
                "",
                fields.get("next_batch", 0),
            ), case
            assert len(callbacks) == 1, case
        else:
            assert job.status == fields["status"] and not callbacks, case
            assert str(job.pk) in str(refusal.value) and (
                "alive" in str(refusal.value) or "succeeded" in str(refusal.value)
            )


def test_the_sweep_requeues_only_lost_live_jobs_once_per_stale_period(django_capture_on_commit_callbacks):
    stale = settings.JOB_STALE_SECONDS + 5
    lost = make_job("import", status=JobStatus.RUNNING, heartbeat_at=ago(stale), created_at=ago(stale), next_batch=4)
    lost_pending = make_job("caption", status=JobStatus.PENDING, created_at=ago(stale))
    make_job("import", status=JobStatus.RUNNING, heartbeat_at=ago(1), created_at=ago(stale))
    make_job("report", status=JobStatus.FAILED, created_at=ago(stale))
    make_job("report", status=JobStatus.SUCCEEDED, created_at=ago(stale))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        requeued = jobs_requeue_lost()
    with django_capture_on_commit_callbacks(execute=False) as again:
        second = jobs_requeue_lost()

    assert requeued == {"import": [lost.pk], "caption": [lost_pending.pk]}
    assert len(callbacks) == 2
    lost.refresh_from_db()
    assert (lost.status, lost.next_batch) == (JobStatus.PENDING, 4)
    assert second == {} and not again
    assert jobs_requeue_lost_task.name == "base.jobs_requeue_lost"
    assert settings.CELERY_BEAT_SCHEDULE["requeue-lost-jobs"]["task"] == jobs_requeue_lost_task.name


def test_the_resume_command_names_the_job_and_refuses_politely(django_capture_on_commit_callbacks, capsys):
    failed = make_job("import", status=JobStatus.FAILED, error="disk full", next_batch=2)
    live = make_job("import", status=JobStatus.RUNNING, heartbeat_at=ago(1))

    with django_capture_on_commit_callbacks(execute=False):
        call_command("job_resume", "import", str(failed.pk))
    assert f"import job {failed.pk} resumed at batch 2" in capsys.readouterr().out
    with pytest.raises(CommandError, match=f"import job {live.pk} is running and alive"):
        call_command("job_resume", "import", str(live.pk))
    with pytest.raises(CommandError, match="there is no import job 999999"):
        call_command("job_resume", "import", "999999")


@pytest.mark.parametrize(
    ("route", "kind"),
    [
        ("/api/import-jobs/{}/resume/", "import"),
        ("/api/captioning/jobs/{}/resume/", "caption"),
        ("/api/annotation/agreement-reports/{}/resume/", "report"),
    ],
)
def test_resume_through_the_api(route, kind, client_for, django_capture_on_commit_callbacks):
    manager = client_for(Role.DATA_MANAGER)
    failed = make_job(kind, status=JobStatus.FAILED, error="endpoint down", next_batch=5)
    done = make_job(kind, status=JobStatus.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        resumed = manager.post(route.format(failed.pk))
    refused = manager.post(route.format(done.pk))

    assert resumed.status_code == 200, resumed.content
    assert (resumed.json()["status"], resumed.json()["next_batch"], len(callbacks)) == ("pending", 5, 1)
    assert refused.status_code == 400 and "nothing to resume" in refused.json()["detail"]
    assert client_for(Role.ANNOTATOR).post(route.format(failed.pk)).status_code in (403, 404)


def test_the_admin_action_resumes_the_selected_jobs(make_user, django_capture_on_commit_callbacks):
    from django.test import Client

    browser = Client()
    browser.force_login(make_user(Role.ADMIN, is_staff=True, is_superuser=True))
    failed = make_job("report", status=JobStatus.FAILED, error="x")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        browser.post("/admin/annotation/agreementreport/", {"action": "resume_jobs", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == JobStatus.PENDING and len(callbacks) == 1


def test_each_queue_has_its_deliberate_time_limit_and_the_visibility_timeout_outlasts_them():
    from annotation.tasks import agreement_report_batch_task
    from captioning.tasks import caption_job_batch_task
    from catalog.tasks import import_batch_task
    from config.celery_app import app
    from modeling.tasks import THIRTY_DAYS, training_run_task

    app.finalize()
    limits = settings.CELERY_QUEUE_TIME_LIMITS
    assert import_batch_task.time_limit == limits["ingest"]
    assert caption_job_batch_task.time_limit == limits["caption"]
    assert agreement_report_batch_task.time_limit == jobs_requeue_lost_task.time_limit == limits["default"]
    assert training_run_task.time_limit == THIRTY_DAYS  # declares its own
    assert settings.CELERY_BROKER_VISIBILITY_TIMEOUT > max(limits.values())
    assert settings.JOB_STALE_SECONDS > settings.CAPTION_TIMEOUT * (settings.CAPTION_MAX_RETRIES + 1)
