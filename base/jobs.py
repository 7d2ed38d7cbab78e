"""The life of a long job — an import, a caption job, an agreement report, an export, a training
run — spelled once: one status enum, one abstract model, and the few writes that move a job along.

A job's task runs in bounded batches. Each batch first stamps `heartbeat_at`; a RUNNING job whose
heartbeat is older than its queue's stale limit has lost its worker (killed, OOM, redeployed), and
"resume" re-enqueues it. Work already done is never redone: every job records per-item results
(rows, attempts, shards) that a resumed run skips.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # created or resumed, waiting for a worker
    RUNNING = "running", "Running"  # a worker is on it; heartbeat_at says it is still alive
    SUCCEEDED = "succeeded", "Succeeded"  # done; per-item problems are in its rows or report
    FAILED = "failed", "Failed"  # stopped by an error that is not one item's (see error); resumable
    CANCELLED = "cancelled", "Cancelled"  # stopped on request; what was done stays


FINISHED_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
LIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING})


class Job(models.Model):
    """Status, error, who and when: what every long job has. Subclasses add what the job does."""

    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Stamped by the worker at every batch; a stale one means a lost worker."
    )

    class Meta:
        abstract = True
        ordering = ["-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def is_stale(self, *, stale_after: timedelta, now=None) -> bool:
        """RUNNING with no heartbeat for `stale_after`: its worker is gone."""
        if self.status != JobStatus.RUNNING:
            return False
        last_sign_of_life = self.heartbeat_at or self.started_at or self.created_at
        return (now or timezone.now()) - last_sign_of_life > stale_after


def job_start(job: Job) -> None:
    """PENDING -> RUNNING (a resumed job keeps its first started_at)."""
    now = timezone.now()
    job.status = JobStatus.RUNNING
    job.started_at = job.started_at or now
    job.heartbeat_at = now
    job.error = ""
    type(job).objects.filter(pk=job.pk).update(status=job.status, started_at=job.started_at, heartbeat_at=now, error="")


def job_heartbeat(job: Job) -> None:
    job.heartbeat_at = timezone.now()
    type(job).objects.filter(pk=job.pk).update(heartbeat_at=job.heartbeat_at)


def job_finish(job: Job, *, status: str = JobStatus.SUCCEEDED, error: str = "") -> None:
    """RUNNING -> SUCCEEDED, FAILED or CANCELLED."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"{status!r} is not a finished status")
    job.status, job.error, job.finished_at = status, error, timezone.now()
    type(job).objects.filter(pk=job.pk).update(status=status, error=error, finished_at=job.finished_at)
