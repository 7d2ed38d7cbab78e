"""Every kind of long job, registered by its app, and the two things done to any of them: resume
(an operator's request) and the stale sweep (a periodic task).

An app registers its job model in AppConfig.ready() with the function that queues the job's
current batch; this module, the lowest layer, never imports the apps.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .jobs import LIVE_STATUSES, BatchedJob, JobStatus


@dataclass(frozen=True)
class JobKind:
    name: str  # what operators type: `manage.py job_resume import 12`
    model: type[BatchedJob]
    requeue: Callable[[int], None]  # queue the job's current batch (job id)

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name)


JOB_KINDS: dict[str, JobKind] = {}


def job_kind_register(*, name: str, model: type[BatchedJob], requeue: Callable[[int], None]) -> None:
    JOB_KINDS[name] = JobKind(name=name, model=model, requeue=requeue)


def job_kind_for(model: type[BatchedJob]) -> JobKind:
    for kind in JOB_KINDS.values():
        if kind.model is model:
            return kind
    raise LookupError(f"{model.__name__} is not a registered job kind")


def stale_after() -> timedelta:
    return timedelta(seconds=settings.JOB_STALE_SECONDS)


class JobNotResumable(ValueError):
    """The job cannot be resumed now; the message says why."""


def job_resume(*, job: BatchedJob) -> BatchedJob:
    """Queue a FAILED or CANCELLED job again, or a live one whose worker is lost, at the batch it
    stopped at. Refused for a SUCCEEDED job and for a live job that is still making progress."""
    kind = job_kind_for(type(job))
    with transaction.atomic():
        current = type(job).objects.select_for_update().get(pk=job.pk)
        if current.status == JobStatus.SUCCEEDED:
            raise JobNotResumable(f"{kind.label} {job.pk} has succeeded; there is nothing to resume")
        if current.status in LIVE_STATUSES and not current.is_lost(stale_after=stale_after()):
            last = current.heartbeat_at or current.created_at
            seconds = int((timezone.now() - last).total_seconds())
            raise JobNotResumable(
                f"{kind.label} {job.pk} is {current.status} and alive (last sign of life {seconds} s ago); "
                f"it is resumed automatically if nothing happens for {settings.JOB_STALE_SECONDS} s"
            )
        _requeue(kind, current)
    job.refresh_from_db()
    return job


def jobs_requeue_lost() -> dict[str, list[int]]:
    """The stale sweep: queue again every live job of every kind that nobody has acted on for
    JOB_STALE_SECONDS. A requeued job's heartbeat is stamped, so it is requeued at most once per
    stale period. FAILED jobs stay failed: they need a person to look at the error first."""
    cutoff = timezone.now() - stale_after()
    requeued: dict[str, list[int]] = {}
    for kind in JOB_KINDS.values():
        candidates = kind.model.objects.filter(status__in=LIVE_STATUSES, created_at__lt=cutoff).exclude(
            heartbeat_at__gte=cutoff
        )
        for job_id in candidates.values_list("pk", flat=True):
            with transaction.atomic():
                job = kind.model.objects.select_for_update().filter(pk=job_id).first()
                if job is None or not job.is_lost(stale_after=stale_after()):
                    continue  # it moved on meanwhile
                _requeue(kind, job)
            requeued.setdefault(kind.name, []).append(job_id)
    return requeued


def _requeue(kind: JobKind, job: BatchedJob) -> None:
    """PENDING again, stamped, and its current batch queued once the caller's transaction commits."""
    type(job).objects.filter(pk=job.pk).update(
        status=JobStatus.PENDING, error="", finished_at=None, heartbeat_at=timezone.now()
    )
    transaction.on_commit(lambda: kind.requeue(job.pk))
