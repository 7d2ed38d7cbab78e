"""Celery tasks of the annotation app. They take ids, check the world is as expected, and call
the computing modules: safe to deliver twice (acks_late)."""

import logging

from celery import shared_task

from base.jobs import batch_task_step

from .agreement_reports import agreement_report_batch, agreement_report_finish
from .models import AgreementReport
from .queue import leases_release_expired

logger = logging.getLogger(__name__)


@shared_task(name="annotation.agreement_report_batch", acks_late=True, reject_on_worker_lost=True)
def agreement_report_batch_task(report_id: int, batch: int) -> None:
    batch_task_step(
        AgreementReport,
        report_id,
        batch,
        run_batch=lambda job, number: agreement_report_batch(report_id=job, batch=number),
        next_batch=agreement_report_batch_task,
        finish=agreement_report_finish_task,
    )


@shared_task(name="annotation.agreement_report_finish", acks_late=True)
def agreement_report_finish_task(report_id: int) -> None:
    agreement_report_finish(report_id)


@shared_task(name="annotation.agreement_report_compute", acks_late=True, reject_on_worker_lost=True)
def agreement_report_start_task(report_id: int) -> None:
    """Messages queued before reports ran in batches: start (or continue) the report's batches."""
    report = AgreementReport.objects.filter(pk=report_id).first()
    if report is not None:
        agreement_report_batch_task.delay(report_id, report.next_batch)


@shared_task(name="annotation.leases_release_expired", acks_late=True)
def release_expired_leases() -> int:
    """Scheduled every minute by celery beat (CELERY_BEAT_SCHEDULE) so that expired claims return to
    their queues even while nobody claims; claiming does the same sweep at most every few seconds."""
    return leases_release_expired()
