"""Imports as chains of batch tasks: ceil(N / batch) batches and a finishing step, redelivery that
changes nothing, and a failed import resumed where it stopped."""

import math

import pytest

from base.job_kinds import job_resume
from base.jobs import JobStatus
from catalog import ingest, services
from catalog.models import ImportJob, Sample
from catalog.tasks import import_batch_task, import_dataset, import_finish_task

from ..conftest import tasks_run, wait_for

MVTEC_ITEMS = 50


def test_task_names_are_stable():
    # Renaming a task strands the messages already queued under the old name.
    assert import_batch_task.name == "catalog.import_batch"
    assert import_finish_task.name == "catalog.import_finish"
    assert import_dataset.name == "catalog.import_dataset"  # messages queued before imports ran in batches


def mvtec_job(real_data) -> ImportJob:
    source = services.source_for_import(name="MVTec AD")
    return services.import_job_create(
        format="mvtec", path=str(real_data / "mvtec_ad"), source=source, created_by=None, restrict_to_import_roots=False
    )


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [7, 25, 50])
def test_an_import_of_n_items_runs_in_ceil_n_over_batch_tasks(celery_worker, real_data, settings, batch_size):
    settings.IMPORT_BATCH_SIZE = batch_size
    job = mvtec_job(real_data)

    with tasks_run() as seen:
        services.import_job_enqueue(job=job)
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).is_finished, timeout=120, what="the import")
        wait_for(lambda: seen and seen[-1][0] == import_finish_task.name, what="the finishing task")

    batches = [args[1] for name, args in seen if name == import_batch_task.name]
    assert batches == list(range(math.ceil(MVTEC_ITEMS / batch_size)))
    assert [name for name, _ in seen].count(import_finish_task.name) == 1
    job.refresh_from_db()
    assert (job.status, job.total, job.processed, job.imported, job.rows.count()) == (
        JobStatus.SUCCEEDED,
        MVTEC_ITEMS,
        MVTEC_ITEMS,
        MVTEC_ITEMS,
        MVTEC_ITEMS,
    )


@pytest.mark.django_db
def test_a_redelivered_batch_changes_nothing(real_data, settings):
    settings.IMPORT_BATCH_SIZE = 10
    job = mvtec_job(real_data)
    assert ingest.import_batch(job_id=job.pk, batch=0) is True
    assert ingest.import_batch(job_id=job.pk, batch=1) is True

    # The message of batch 1 again, after the batch committed: nothing to do.
    assert ingest.import_batch(job_id=job.pk, batch=1) is None
    # A second worker that began batch 1 before the first one committed: it writes no row twice.
    ImportJob.objects.filter(pk=job.pk).update(next_batch=1)
    assert ingest.import_batch(job_id=job.pk, batch=1) is True

    job.refresh_from_db()
    assert (job.next_batch, job.processed, job.imported, job.rows.count(), Sample.objects.count()) == (
        2,
        20,
        20,
        20,
        20,
    )
    assert job.rows.values("item").distinct().count() == 20


@pytest.mark.slow
def test_a_failed_import_resumes_at_the_batch_it_stopped_at(celery_worker, real_data, settings, monkeypatch):
    settings.IMPORT_BATCH_SIZE = 10
    real_rows = ingest._import_rows
    failures = []

    def disk_unplugged_in_batch_2(job, batch, items, pool):
        if batch == 2 and not failures:
            failures.append(batch)
            raise OSError(5, "Input/output error")  # not one row's fault: the batch fails
        return real_rows(job, batch, items, pool)

    monkeypatch.setattr(ingest, "_import_rows", disk_unplugged_in_batch_2)
    job = mvtec_job(real_data)
    with tasks_run() as seen:
        services.import_job_enqueue(job=job)
        failed = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status=JobStatus.FAILED).first(), what="failure")
        assert failed.error.startswith("batch 2: OSError") and (failed.next_batch, failed.processed) == (2, 20)

        job_resume(job=failed)
        wait_for(lambda: ImportJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, timeout=120, what="resume")

    batches = [args[1] for name, args in seen if name == import_batch_task.name]
    assert batches == [0, 1, 2, 2, 3, 4]  # batch 2 twice: failed, then resumed; 0 and 1 never again
    job.refresh_from_db()
    assert (job.processed, job.imported, job.rows.count(), Sample.objects.count()) == (50, 50, 50, 50)
