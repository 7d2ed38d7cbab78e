from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import User
from vocabulary.label_maps import dataset_for_import_format, dataset_named

from .dedup import dedup_scopes_follow_visibility
from .importers import get_importer
from .importers.base import ImportFormatError, ImportOptions
from .models import ImportJob, Source, SourceEvent, SourceEventKind, SourceKind, Visibility
from .selectors import hidden_sources, sees_every_source
from .tasks import import_batch_task


class ImportRequestError(ValueError):
    """An import cannot be started as asked; the message names what is wrong, `field` the request
    field it is about."""

    def __init__(self, message: str, *, field: str = "detail"):
        super().__init__(message)
        self.field = field


class SourceAccessError(PermissionError):
    """A change of who may see a source, asked by someone who may not make it."""


def may_manage_source_access(user: User | None) -> bool:
    """Admins change visibility and members; None is an operator on the command line."""
    return user is None or user.is_superuser or user.has_perm("catalog.manage_source_access")


def _record(source: Source, kind: str, by: User | None, before=None, after=None) -> None:
    SourceEvent.objects.create(source=source, kind=kind, actor=by, before=before, after=after)


@transaction.atomic
def source_create(
    *,
    name: str,
    kind: str = SourceKind.BENCHMARK,
    license: str = "",
    restricted: bool = False,
    provenance: str = "",
    by: User | None = None,
) -> Source:
    """A new source. Whoever creates a restricted source becomes its first member, unless they see
    every source anyway (else they could not see what they are about to import); both are audited."""
    if kind not in SourceKind.values:
        raise ImportRequestError(f"unknown source kind {kind!r}; one of {', '.join(SourceKind.values)}", field="kind")
    visibility = Visibility.RESTRICTED if restricted else Visibility.PUBLIC
    source = Source.objects.create(name=name, kind=kind, license=license, visibility=visibility, provenance=provenance)
    _record(source, SourceEventKind.CREATED, by, after={"visibility": visibility, "kind": kind, "license": license})
    if restricted and by is not None and not sees_every_source(by):
        source.members.add(by)
        _record(source, SourceEventKind.MEMBER_ADDED, by, after={"user": by.pk, "username": by.get_username()})
    return source


def source_for_import(
    *,
    name: str,
    kind: str = SourceKind.BENCHMARK,
    license: str = "",
    restricted: bool | None = None,
    provenance: str = "",
    by: User | None = None,
) -> Source:
    """The source an import writes into, created on first use.

    restricted: None keeps an existing source as it is. An import never changes who may see a
    source: asking for another visibility than the existing source's is refused (an admin changes
    it, audited), and so is importing into a restricted source one is not a member of. A license
    given for an existing source is recorded (audited)."""
    with transaction.atomic():
        source = Source.objects.select_for_update().filter(name=name).first()
        if source is None:
            return source_create(
                name=name, kind=kind, license=license, restricted=bool(restricted), provenance=provenance, by=by
            )
        if by is not None and hidden_sources(by, [source.pk]):
            raise ImportRequestError(f"you may not import into source {name!r}", field="source")
        wanted = None if restricted is None else (Visibility.RESTRICTED if restricted else Visibility.PUBLIC)
        if wanted is not None and wanted != source.visibility:
            raise ImportRequestError(
                f"source {name!r} exists and is {source.visibility}; an import does not change who may see a "
                "source (an admin changes its visibility)",
                field="restricted",
            )
        if license and source.license != license:
            _record(source, SourceEventKind.LICENSE, by, before=source.license, after=license)
            source.license = license
            source.save(update_fields=["license"])
    return source


class DerivedSourceError(ValueError):
    """A source of that name exists and is not one made from other sources' data."""


def source_derived_from(*, name: str, kind: str, license: str, provenance: str, inputs: Iterable[Source]) -> Source:
    """The source of data made from other sources' data (Defect-Gen's synthetic images, say), created
    on first use. Made from any restricted source, it is restricted too, and its members are those
    who could see every restricted input: derived data is never more visible than what it came from.

    Found again by name (a repeated import), it must be one this function made: a source of that
    name made by hand (anyone who adds sources can guess "…, run N") would otherwise receive a
    partner's derived data at its own visibility. Refused with DerivedSourceError."""
    inputs = list(inputs)
    restricted_inputs = [source for source in inputs if source.visibility == Visibility.RESTRICTED]
    with transaction.atomic():
        source = Source.objects.select_for_update().filter(name=name).first()
        if source is not None:
            if not source.derived_from.exists():
                raise DerivedSourceError(
                    f"a source named {name!r} exists and was not made from other sources' data; "
                    "rename it to import this data"
                )
            source.derived_from.add(*inputs)
            _derivative_follow_inputs(source, by=None)
            return source
        source = source_create(
            name=name, kind=kind, license=license, restricted=bool(restricted_inputs), provenance=provenance
        )
        # Kept so that the source follows its inputs later too (source_access_set).
        source.derived_from.set(inputs)
        if restricted_inputs:
            members = set(restricted_inputs[0].members.all())
            for other in restricted_inputs[1:]:
                members &= set(other.members.all())
            source_access_set(source=source, by=None, members=members)
    return source


@transaction.atomic
def source_access_set(
    *, source: Source, by: User | None, visibility: str | None = None, members: Iterable[User] | None = None
) -> Source:
    """Change who may see a source: its visibility and/or its whole member list. Admins only;
    every change is one audit event. A change of visibility moves the source's samples into the
    deduplication scope it gives (catalog/dedup.py), in this transaction. The sources derived from
    this one follow it (derivatives_follow_inputs)."""
    if not may_manage_source_access(by):
        raise SourceAccessError("only an admin changes a source's visibility or members")
    if visibility is not None and visibility != source.visibility:
        if visibility not in Visibility.values:
            raise ValueError(f"unknown visibility {visibility!r}; one of {', '.join(Visibility.values)}")
        _record(source, SourceEventKind.VISIBILITY, by, before=source.visibility, after=visibility)
        source.visibility = visibility
        source.save(update_fields=["visibility"])
        dedup_scopes_follow_visibility(source=source)
    if members is not None:
        wanted = {user.pk: user for user in members}
        current = {user.pk: user for user in source.members.all()}
        for pk in sorted(wanted.keys() - current.keys()):
            source.members.add(wanted[pk])
            _record(source, SourceEventKind.MEMBER_ADDED, by, after={"user": pk, "username": wanted[pk].get_username()})
        for pk in sorted(current.keys() - wanted.keys()):
            source.members.remove(current[pk])
            _record(
                source, SourceEventKind.MEMBER_REMOVED, by, before={"user": pk, "username": current[pk].get_username()}
            )
    derivatives_follow_inputs(source=source, by=by)
    return source


def derivatives_follow_inputs(*, source: Source, by: User | None) -> None:
    """Make the sources derived from `source` (source_derived_from) no more visible than their inputs
    now are: restricted when any input is, and seen only by people who see every restricted input.
    Only ever narrows: an input made public again, or a new member of an input, opens nothing (an
    admin decides that, on the derived source itself). Each change is audited like a hand-made one,
    and goes on to what was derived from the derived source."""
    for derivative in source.derivatives.all():
        _derivative_follow_inputs(derivative, by=by)


def _derivative_follow_inputs(derivative: Source, *, by: User | None) -> None:
    restricted_inputs = [
        input_source
        for input_source in derivative.derived_from.prefetch_related("members")
        if input_source.visibility == Visibility.RESTRICTED
    ]
    if not restricted_inputs:
        return
    allowed = set.intersection(*({user.pk for user in s.members.all()} for s in restricted_inputs))
    current = list(derivative.members.all())
    if derivative.visibility == Visibility.RESTRICTED:
        members = [user for user in current if user.pk in allowed]
        if len(members) == len(current):
            return
    else:
        members = list(restricted_inputs[0].members.filter(pk__in=allowed))
    source_access_set(source=derivative, by=by, visibility=Visibility.RESTRICTED, members=members)


def import_job_create(
    *,
    format: str,
    path: str,
    source: Source,
    created_by: User | None,
    restrict_to_import_roots: bool,
    options: ImportOptions | None = None,
) -> ImportJob:
    """Check the request and create a pending job. The API restricts paths to IMPORT_ROOTS;
    the CLI, run by an operator with a shell, does not."""
    try:
        importer = get_importer(format)
    except ImportFormatError as error:
        raise ImportRequestError(str(error), field="format") from None
    options = options or ImportOptions()
    if options.images:
        if not importer.accepts_images_option:
            raise ImportRequestError(
                field="images", message=f"the images option applies to the coco format, not {format}"
            )
        if Path(options.images).is_absolute() or ".." in Path(options.images).parts:
            raise ImportRequestError(
                field="images", message=f"images {options.images!r} must be a folder relative to the dataset root"
            )
    for name in ("product", "domain"):
        value = getattr(options, name)
        if "\x00" in value or len(value) > 200:
            raise ImportRequestError(field=name, message=f"{name} must be at most 200 characters, without NUL bytes")
    resolved = Path(path).expanduser().resolve()
    if restrict_to_import_roots and not any(resolved.is_relative_to(root.resolve()) for root in settings.IMPORT_ROOTS):
        roots = ", ".join(str(root) for root in settings.IMPORT_ROOTS)
        raise ImportRequestError(f"path {path} is not under an import root ({roots})", field="path")
    if not resolved.exists():
        raise ImportRequestError(f"path {path} does not exist", field="path")
    source_dataset_default(source=source, format=format)
    return ImportJob.objects.create(
        format=format, path=str(resolved), source=source, created_by=created_by, options=options.to_dict()
    )


def import_request(
    *,
    source_name: str,
    kind: str,
    license: str,
    restricted: bool | None,
    format: str,
    path: str,
    created_by: User | None,
    restrict_to_import_roots: bool,
    options: ImportOptions | None = None,
) -> ImportJob:
    """The source (created on first use) and its pending import job, in one transaction: a request
    refused for its path, format or options leaves no new source behind. API and CLI alike."""
    with transaction.atomic():
        source = source_for_import(name=source_name, kind=kind, license=license, restricted=restricted, by=created_by)
        return import_job_create(
            format=format,
            path=path,
            source=source,
            created_by=created_by,
            restrict_to_import_roots=restrict_to_import_roots,
            options=options,
        )


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
    """Queue the job's current batch once the caller's transaction commits."""
    job_id, batch = job.pk, job.next_batch
    transaction.on_commit(lambda: import_batch_task.delay(job_id, batch))


def import_job_requeue(job_id: int) -> None:
    """The job registry's requeue (base/job_kinds.py): the job's current batch, read now."""
    import_job_enqueue(job=ImportJob.objects.get(pk=job_id))
