"""The import as a Celery task on a real worker and broker (Redis in CI), not eager mode."""

import pytest

from accounts.roles import Role
from base.jobs import JobStatus
from catalog.models import ImportJob, Sample
from catalog.tasks import import_dataset

from ..conftest import wait_for


def test_task_name_is_stable():
    # Renaming a task strands the messages already queued under the old name.
    assert import_dataset.name == "catalog.import_dataset"


@pytest.mark.slow
def test_import_started_through_the_api_runs_on_a_worker(celery_worker, client_for, settings, real_data):
    settings.IMPORT_ROOTS = [real_data]
    api = client_for(Role.DATA_MANAGER)

    created = api.post(
        "/api/import-jobs/",
        {"format": "magnetic-tile", "path": str(real_data / "magnetic_tile"), "source": "Magnetic Tile"},
        format="json",
    )

    assert created.status_code == 201, created.content
    job_id = created.json()["id"]
    job = wait_for(
        lambda: ImportJob.objects.filter(pk=job_id, status=JobStatus.SUCCEEDED).first(),
        timeout=120,
        what="the import job to succeed",
    )
    assert (job.imported, job.rejected) == (232, 0)
    progress = api.get(f"/api/import-jobs/{job_id}/").json()
    assert (progress["processed"], progress["total"]) == (232, 232)
    report = api.get(f"/api/import-jobs/{job_id}/rows/?page_size=500").json()["results"]
    assert len(report) == 232 and {row["outcome"] for row in report} == {"imported"}


@pytest.mark.slow
def test_a_second_delivery_of_a_finished_job_changes_nothing(celery_worker, real_data):
    from celery.signals import task_postrun

    from catalog import services

    finished_task_ids = []
    task_postrun.connect(lambda task_id=None, **kw: finished_task_ids.append(task_id), weak=False, dispatch_uid="t")
    try:
        source = services.source_for_import(name="MVTec AD")
        job = services.import_job_create(
            format="mvtec",
            path=str(real_data / "mvtec_ad"),
            source=source,
            created_by=None,
            restrict_to_import_roots=False,
        )
        first = import_dataset.delay(job.pk)
        wait_for(lambda: first.id in finished_task_ids, what="the first delivery")
        # That task only starts the batches: the job is done when its finishing step has run.
        wait_for(lambda: type(job).objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, what="the job's last batch")
        second = import_dataset.delay(job.pk)
        wait_for(lambda: second.id in finished_task_ids, what="the second delivery")
    finally:
        task_postrun.disconnect(dispatch_uid="t")

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert Sample.objects.count() == 50
    assert job.rows.count() == 50 and job.imported == 50
