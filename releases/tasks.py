"""Export tasks on the `export` queue. They take ids, check the world, and are safe to deliver twice."""

from celery import shared_task

from . import exports
from .models import Export, ExportStatus
from .single_files import single_file_write
from .targets import ExportTargetError


def _load(export_id: int) -> Export | None:
    return Export.objects.select_related("version", "version__vocabulary_version").filter(pk=export_id).first()


@shared_task(name="releases.export_shard", acks_late=True, reject_on_worker_lost=True)
def export_shard_task(export_id: int, index: int) -> None:
    export = _load(export_id)
    if export is None or export.status not in (ExportStatus.PENDING, ExportStatus.RUNNING):
        return
    try:
        exports.shard_write(export=export, index=index)
    except (ExportTargetError, OSError) as error:
        exports.export_fail(export=export, error=f"shard {index}: {error}")
        return
    # The last shard to commit hands over to the finalizer (no chord: no result backend needed).
    if exports.export_shard_done(export=export):
        export_finalize_task.delay(export_id)


@shared_task(name="releases.export_finalize", acks_late=True)
def export_finalize_task(export_id: int) -> None:
    export = _load(export_id)
    if export is None or export.status == ExportStatus.SUCCEEDED:
        return
    exports.export_finalize(export=export)


@shared_task(name="releases.export_single_file", acks_late=True, reject_on_worker_lost=True)
def export_single_file_task(export_id: int) -> None:
    export = _load(export_id)
    if export is None or export.status == ExportStatus.SUCCEEDED:
        return
    try:
        single_file_write(export=export)
    except (ExportTargetError, OSError) as error:
        exports.export_fail(export=export, error=str(error))
