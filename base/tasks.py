"""The stale sweep on the `default` queue, scheduled by celery beat every JOB_SWEEP_SECONDS."""

from celery import shared_task

from .job_kinds import jobs_requeue_lost


@shared_task(name="base.jobs_requeue_lost", acks_late=True)
def jobs_requeue_lost_task() -> dict[str, list[int]]:
    return jobs_requeue_lost()
