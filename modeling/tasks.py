"""The `train` queue's task: it takes a run id and is safe to deliver twice (runner._claim decides)."""

from celery import shared_task
from django.conf import settings

from .runner import HeldElsewhere, training_run_execute

# Training takes as long as its steps need; the app-wide task time limit is for short tasks.
THIRTY_DAYS = 30 * 24 * 3600


@shared_task(
    bind=True,
    name="modeling.training_run",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=THIRTY_DAYS,
    max_retries=None,
)
def training_run_task(self, run_id: int) -> None:
    try:
        training_run_execute(run_id)
    except HeldElsewhere:
        # Either a duplicate delivery while the run is healthy (it will find the run finished), or the
        # worker that held it died (it will find the heartbeat stale and resume the run).
        raise self.retry(countdown=settings.TRAINING_HEARTBEAT_STALE_SECONDS) from None
