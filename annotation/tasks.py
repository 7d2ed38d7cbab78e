"""Celery tasks of the annotation app. They take ids, check the world is as expected, and call
the services: safe to deliver twice (acks_late)."""

from celery import shared_task

from .agreement_reports import agreement_report_run
from .models import AgreementReport, ReportStatus
from .queue import leases_release_expired


@shared_task(name="annotation.agreement_report_compute", acks_late=True, reject_on_worker_lost=True)
def agreement_report_compute(report_id: int) -> None:
    report = AgreementReport.objects.filter(pk=report_id).first()
    if report is None or report.status != ReportStatus.PENDING:
        return
    agreement_report_run(report=report)


@shared_task(name="annotation.leases_release_expired", acks_late=True)
def release_expired_leases() -> int:
    """Worth scheduling every minute (celery beat) so that expired claims return to their queues
    even while nobody claims; claiming does the same sweep first anyway."""
    return leases_release_expired()
