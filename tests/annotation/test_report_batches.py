"""Agreement reports as chains of batch tasks: ceil(N / batch) batches then the finishing step,
with the figures of a report computed in one go."""

import math

import pytest

from annotation import services
from annotation.agreement_reports import agreement_report_compute
from annotation.models import AgreementReport
from annotation.tasks import agreement_report_batch_task, agreement_report_finish_task
from base.jobs import JobStatus

from ..conftest import tasks_run, wait_for
from .test_audit_and_reports import two_reviewed_samples  # noqa: F401  (fixture)


@pytest.mark.slow
@pytest.mark.usefixtures("two_reviewed_samples")
@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_a_report_of_n_annotations_runs_in_ceil_n_over_batch_tasks(
    celery_worker,
    people,
    settings,
    batch_size,
):
    settings.AGREEMENT_REPORT_BATCH_SIZE = batch_size
    expected = agreement_report_compute(scope="dataset")

    with tasks_run() as seen:
        report = services.agreement_report_request(by=people.manager, scope="dataset")
        wait_for(lambda: AgreementReport.objects.get(pk=report.pk).is_finished, what="the report")
        wait_for(lambda: seen and seen[-1][0] == agreement_report_finish_task.name, what="the finishing task")

    assert [args[1] for name, args in seen if name == agreement_report_batch_task.name] == list(
        range(math.ceil(2 / batch_size))
    )
    report.refresh_from_db()
    assert report.status == JobStatus.SUCCEEDED and report.tallies is None
    assert {k: v for k, v in report.result.items() if k != "computed_at"} == {
        k: v for k, v in expected.items() if k != "computed_at"
    }
