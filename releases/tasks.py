"""Export tasks on the `export` queue. They take ids, check the world, and are safe to deliver twice.
They call the writing module (export_writing.py); the services (exports.py) enqueue them."""

from celery import shared_task

from base.jobs import LIVE_STATUSES, JobStatus

from . import export_writing
from .models import Export


def _load(export_id: int) -> Export | None:
    return Export.objects.select_related("version", "version__vocabulary_version").filter(pk=export_id).first()


@shared_task(name="releases.export_shard", acks_late=True, reject_on_worker_lost=True)
def export_shard_task(export_id: int, index: int) -> None:
    export = _load(export_id)
    if export is None or export.status not in LIVE_STATUSES:
        return
    try:
        export_writing.shard_write(export=export, index=index)
    except export_writing.WRITE_ERRORS as error:
        export_writing.export_fail(export=export, error=f"shard {index}: {error}")
        return
    # The last shard to commit hands over to the finisher (no chord: no result backend needed).
    if export_writing.export_shard_done(export=export):
        export_finalize_task.delay(export_id)


@shared_task(name="releases.export_finalize", acks_late=True)
def export_finalize_task(export_id: int) -> None:
    export = _load(export_id)
    if export is None or export.status == JobStatus.SUCCEEDED:
        return
    try:
        export_writing.export_finalize(export=export)
    except export_writing.WRITE_ERRORS as error:
        export_writing.export_fail(export=export, error=f"manifest: {error}")


@shared_task(name="releases.export_single_file", acks_late=True, reject_on_worker_lost=True)
def export_single_file_task(export_id: int) -> None:
    export = _load(export_id)
    if export is None or export.status not in LIVE_STATUSES:
        return
    try:
        export_writing.export_files_write(export=export)
    except export_writing.WRITE_ERRORS as error:
        export_writing.export_fail(export=export, error=str(error))
