"""The life of a long job — an import, a caption job, an agreement report, an export, a training
run — spelled once: one status enum, one abstract model, and the few writes that move a job along.

A batched job (BatchedJob) runs as a chain of Celery tasks, one per fixed-size batch, then a
finishing step. Every batch first stamps `heartbeat_at`; a live job whose heartbeat is older than
JOB_STALE_SECONDS has lost its worker (killed, OOM, redeployed), and the stale sweep (or "resume")
queues its current batch again. Work already done is never redone or counted twice:

- `next_batch` says which batch the job waits for; a redelivered message of an earlier batch
  finds it committed and does nothing;
- a batch writes its results inside `job_batch_lock`, a transaction that first writes to the
  job's row (so it holds the row lock on PostgreSQL and the write lock on SQLite) and only
  proceeds while the batch is still the job's current one; inside it the batch skips the items
  that already have a result row (two workers on one batch, after a sweep that was too quick);
- only the worker whose `job_batch_done` advances `next_batch` queues what comes next.
"""

import logging
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
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

    def is_lost(self, *, stale_after: timedelta, now=None) -> bool:
        """Live, but nobody has acted on it for `stale_after`: RUNNING with a stale heartbeat, or
        PENDING so long that its message was probably lost (a duplicate message is harmless)."""
        if self.status == JobStatus.PENDING:
            last_touched = self.heartbeat_at or self.created_at
            return (now or timezone.now()) - last_touched > stale_after
        return self.is_stale(stale_after=stale_after, now=now)


class BatchedJob(Job):
    """A job done as a chain of fixed-size batches (see the module docstring)."""

    next_batch = models.PositiveIntegerField(
        default=0, help_text="The batch a worker does next; the batches before it are committed."
    )

    class Meta(Job.Meta):
        abstract = True


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


def job_finish(job: Job, *, status: str = JobStatus.SUCCEEDED, error: str = "") -> bool:
    """PENDING or RUNNING -> SUCCEEDED, FAILED or CANCELLED. A job that finished meanwhile (cancelled
    while its last batch ran, finished by a duplicate message) keeps its status: returns False."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"{status!r} is not a finished status")
    finished_at = timezone.now()
    changed = (
        type(job)
        .objects.filter(pk=job.pk, status__in=LIVE_STATUSES)
        .update(status=status, error=error, finished_at=finished_at)
    )
    if changed:
        job.status, job.error, job.finished_at = status, error, finished_at
    else:
        job.refresh_from_db()
    return bool(changed)


# -- batches ---------------------------------------------------------------------------------


def job_batch_begin(model: type[BatchedJob], job_id: int, batch: int) -> BatchedJob | None:
    """The job, when a worker should do `batch` now: live and waiting for exactly this batch (a
    PENDING job becomes RUNNING). None for a batch already committed (a redelivered message), a
    finished or cancelled job, or a job that no longer exists."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in LIVE_STATUSES or job.next_batch != batch:
            return None
        if job.status == JobStatus.PENDING:
            job_start(job)
        else:
            job_heartbeat(job)
    return job


@contextmanager
def job_batch_lock(model: type[BatchedJob], job_id: int, batch: int):
    """A transaction for writing one batch's results. Yields True while `batch` is still the job's
    current batch and the job is RUNNING (the caller writes), False when it is not (the caller
    writes nothing and stops: the job was cancelled, failed, or another worker finished the batch).

    Its first statement writes the heartbeat, which takes the job row's lock on PostgreSQL and the
    database's write lock on SQLite, so two workers on one batch write one after the other."""
    with transaction.atomic():
        current = model.objects.filter(pk=job_id, next_batch=batch, status=JobStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )
        yield bool(current)


def job_batch_done(model: type[BatchedJob], job_id: int, batch: int, **fields) -> bool:
    """Mark `batch` committed (with any cursor fields of the job). True for the one worker that did
    it: only that one queues the next batch or the finishing step."""
    return bool(
        model.objects.filter(pk=job_id, next_batch=batch, status=JobStatus.RUNNING).update(
            next_batch=batch + 1, heartbeat_at=timezone.now(), **fields
        )
    )


def job_run_here(job: BatchedJob, *, run_batch, finish, on_progress=None) -> BatchedJob:
    """Run a job's remaining batches and its finishing step in this process, as the tasks would
    one after the other (the CLI without --enqueue, tests, synthetic imports).

    run_batch(job_id, batch) -> True (more batches), False (that was the last) or None (nothing
    to do: the job is finished, cancelled or failed); finish(job_id) ends the job."""
    model = type(job)
    while True:
        batch = model.objects.values_list("next_batch", flat=True).get(pk=job.pk)
        more = run_batch(job.pk, batch)
        if on_progress:
            job.refresh_from_db()
            on_progress(job)
        if more is None:
            break
        if not more:
            finish(job.pk)
            break
    job.refresh_from_db()
    return job


def batch_task_step(model, job_id: int, batch: int, *, run_batch, next_batch, finish) -> None:
    """The body of every job's batch task: run batch `batch` of job `job_id`, then queue the next
    batch (`next_batch.delay`) or the finishing step (`finish.delay`). A failure that is no single
    item's fault (a database error, a bug) fails the job with the batch named; resume continues it."""
    try:
        more = run_batch(job_id, batch)
    except Exception as error:
        logging.getLogger(model.__module__).exception("%s %s: batch %s failed", model.__name__, job_id, batch)
        job = model.objects.filter(pk=job_id).first()
        if job is not None:
            job_finish(job, status=JobStatus.FAILED, error=f"batch {batch}: {type(error).__name__}: {error}")
        return
    if more is True:
        next_batch.delay(job_id, batch + 1)
    elif more is False:
        finish.delay(job_id)
