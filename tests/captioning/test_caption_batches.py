"""Caption jobs as chains of batch tasks: ceil(N / batch) batches then the finishing step (a "limit"
filter included), a redelivered batch drafting nothing twice, and resume after a cancel."""

import math

import pytest

from base.job_kinds import job_resume
from base.jobs import JobStatus
from captioning import services
from captioning.drafting import caption_job_batch
from captioning.models import CaptionDraft, CaptionJob
from captioning.tasks import caption_job_batch_task, caption_job_finish_task

from ..conftest import tasks_run, wait_for


@pytest.mark.slow
@pytest.mark.parametrize(("limit", "batch_size"), [(None, 16), (12, 4), (10, 4)])
def test_a_job_of_n_samples_runs_in_ceil_n_over_batch_tasks(
    celery_worker, annotated_mvtec, settings, limit, batch_size
):
    settings.CAPTION_JOB_BATCH_SIZE = batch_size
    job = services.caption_job_create(captioner="template", filters={"limit": limit} if limit else {})
    samples = limit or annotated_mvtec

    with tasks_run() as seen:
        services.caption_job_enqueue(job=job)
        wait_for(lambda: CaptionJob.objects.get(pk=job.pk).is_finished, timeout=120, what="the caption job")
        wait_for(lambda: seen and seen[-1][0] == caption_job_finish_task.name, what="the finishing task")

    assert [args[1] for name, args in seen if name == caption_job_batch_task.name] == list(
        range(math.ceil(samples / batch_size))
    )
    job.refresh_from_db()
    assert (job.status, job.total, job.drafted, job.attempts.count()) == (
        JobStatus.SUCCEEDED,
        samples,
        samples,
        samples,
    )


@pytest.mark.django_db
def test_a_redelivered_caption_batch_drafts_nothing_twice(annotated_mvtec, settings):
    settings.CAPTION_JOB_BATCH_SIZE = 5
    job = services.caption_job_create(captioner="template", filters={"limit": 15})
    assert caption_job_batch(job_id=job.pk, batch=0) is True
    assert caption_job_batch(job_id=job.pk, batch=0) is None  # the message again, after the commit
    CaptionJob.objects.filter(pk=job.pk).update(next_batch=0, cursor=0)  # a second worker on batch 0
    assert caption_job_batch(job_id=job.pk, batch=0) is True

    job.refresh_from_db()
    assert (job.processed, job.drafted, job.attempts.count(), CaptionDraft.objects.count()) == (5, 5, 5, 5)
    services.caption_job_run(job=job)
    job.refresh_from_db()
    assert (job.status, job.drafted, CaptionDraft.objects.count()) == (JobStatus.SUCCEEDED, 15, 15)


@pytest.mark.django_db
def test_a_cancelled_job_stops_and_resumes_where_it_stopped(
    annotated_mvtec, settings, django_capture_on_commit_callbacks
):
    settings.CAPTION_JOB_BATCH_SIZE = 4
    job = services.caption_job_create(captioner="template", filters={"limit": 12})
    assert caption_job_batch(job_id=job.pk, batch=0) is True
    services.caption_job_cancel(job=job)
    assert caption_job_batch(job_id=job.pk, batch=1) is None

    with django_capture_on_commit_callbacks(execute=False):
        job_resume(job=job)
    job = services.caption_job_run(job=job)

    assert (job.status, job.drafted, job.next_batch) == (JobStatus.SUCCEEDED, 12, 3)
    assert job.attempts.values("annotation").distinct().count() == 12
