from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import User
from vocabulary.label_maps import dataset_for_import_format, dataset_named

from .importers import get_importer
from .importers.base import ImportFormatError
from .models import ImportJob, Source, SourceKind, Visibility


class ImportRequestError(ValueError):
    """An import cannot be started as asked; the message names what is wrong."""


def source_get_or_create(
    *, name: str, kind: str = SourceKind.BENCHMARK, license: str = "", restricted: bool = False, provenance: str = ""
) -> Source:
    """The source of that name, created on first use. An existing source keeps its settings,
    except that a license or restriction given now is recorded (never silently loosened)."""
    if kind not in SourceKind.values:
        raise ImportRequestError(f"unknown source kind {kind!r}; one of {', '.join(SourceKind.values)}")
    visibility = Visibility.RESTRICTED if restricted else Visibility.PUBLIC
    source, created = Source.objects.get_or_create(
        name=name, defaults={"kind": kind, "license": license, "visibility": visibility, "provenance": provenance}
    )
    if not created:
        changed = []
        if license and source.license != license:
            source.license = license
            changed.append("license")
        if restricted and source.visibility != Visibility.RESTRICTED:
            source.visibility = Visibility.RESTRICTED
            changed.append("visibility")
        if changed:
            source.save(update_fields=changed)
    return source


def import_job_create(
    *, format: str, path: str, source: Source, created_by: User | None, restrict_to_import_roots: bool
) -> ImportJob:
    """Check the request and create a pending job. The API restricts paths to IMPORT_ROOTS;
    the CLI, run by an operator with a shell, does not."""
    try:
        get_importer(format)
    except ImportFormatError as error:
        raise ImportRequestError(str(error)) from None
    resolved = Path(path).expanduser().resolve()
    if restrict_to_import_roots and not any(resolved.is_relative_to(root.resolve()) for root in settings.IMPORT_ROOTS):
        roots = ", ".join(str(root) for root in settings.IMPORT_ROOTS)
        raise ImportRequestError(f"path {path} is not under an import root ({roots})")
    if not resolved.exists():
        raise ImportRequestError(f"path {path} does not exist")
    source_dataset_default(source=source, format=format)
    return ImportJob.objects.create(format=format, path=str(resolved), source=source, created_by=created_by)


def source_dataset_default(*, source: Source, format: str) -> None:
    """A source with no dataset gets the one its importer reads (mvtec -> mvtec-ad) or the one its
    name names ('DeepPCB'), so its raw labels are read as that dataset means them. A dataset
    set by hand is kept."""
    if source.dataset:
        return
    dataset = dataset_for_import_format(format) or dataset_named(source.name)
    if dataset:
        source.dataset = dataset
        source.save(update_fields=["dataset"])


def import_job_enqueue(*, job: ImportJob) -> None:
    from .tasks import import_dataset

    transaction.on_commit(lambda: import_dataset.delay(job.id))
