from celery import shared_task

from .models import CaptionJob, JobStatus
from .services import caption_job_run


@shared_task(name="annotation.caption_job", acks_late=True, reject_on_worker_lost=True)
def caption_job_run_task(job_id: int) -> None:
    """Run one caption job. Delivered twice, or after a crash, it resumes: samples with an attempt
    row are passed over; a finished or cancelled job is left alone."""
    job = CaptionJob.objects.filter(pk=job_id).first()
    if job is None or job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
        return
    caption_job_run(job=job)
