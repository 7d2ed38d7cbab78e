"""Every write of the annotation workflow, keyword-only and typed.

Each request runs in one transaction: the annotation row is locked (access_annotation(...,
lock=True), which also enforces visibility), the version the client based its request on is
compared (a stale one is refused, never merged), then the transition (an action class of annotation/actions/) runs.
Claiming the next sample of a queue is in queue.py.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from accounts.models import User
from accounts.roles import Role
from base.jobs import job_run_here
from catalog.diversity import DiversePick, diverse_sample_ids
from catalog.embedding_index import EmbeddingError
from catalog.models import Sample, Source
from catalog.selectors import samples_visible_to, sources_visible_to
from vocabulary.selectors import vocabulary_current_version

from . import actions
from .agreement_reports import agreement_report_batch, agreement_report_finish
from .audit import audit_record
from .error_codes import AnnotationErrorCode as Code
from .error_codes import WorkflowError
from .models import (
    AgreementReport,
    Annotation,
    AnnotationRevision,
    AnnotationState,
    AuditEvent,
    RevisionTerm,
    Stage,
)
from .queue import QueueFilters, annotation_claim_next, leases_release_expired  # noqa: F401  (re-exported)
from .revision_content import Content, draft_content_for_sample, regions_write
from .selectors import access_annotation
from .tasks import agreement_report_batch_task


def _check_version(annotation: Annotation, version) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkflowError(
            Code.INVALID, "version is required", errors={"version": ["the annotation version this request is based on"]}
        )
    if version != annotation.version:
        raise WorkflowError(
            Code.STALE_VERSION,
            f"sample {annotation.pk} is at version {annotation.version}, not {version}: reload and retry",
        )


def _run(transition: type[actions.Transition], *, user: User, sample_id: int, version, **arguments) -> Annotation:
    with transaction.atomic():
        annotation = access_annotation(user, sample_id, lock=True)
        _check_version(annotation, version)
        transition(annotation=annotation, user=user, **arguments).run()
    return annotation


def annotation_claim(*, user: User, sample_id: int, version: int | None = None) -> Annotation:
    """Lease this sample in the stage its state is waiting for (the browser opens one sample)."""
    with transaction.atomic():
        annotation = access_annotation(user, sample_id, lock=True)
        if version is not None:
            _check_version(annotation, version)
        if annotation.lease_holder_id == user.pk and annotation.lease_is_live():
            return annotation
        if annotation.lease_holder_id is not None and not annotation.lease_is_live():
            actions.ExpireLease(annotation=annotation, user=None).run()
        actions.claim_transition_for(annotation)(annotation=annotation, user=user).run()
    return annotation


def annotation_release(*, user: User, sample_id: int, version: int) -> Annotation:
    return _run(actions.Release, user=user, sample_id=sample_id, version=version)


def annotation_skip(
    *, user: User, sample_id: int, version: int, reason: str, filters: QueueFilters | None = None
) -> Annotation | None:
    """Hand the held sample back with a reason and lease the next one of the same stage, within
    `filters` (those the person claimed with; none: the whole queue); returns the next one, or None
    when nothing else is left for the person there (the skip happens all the same).

    The next sample is claimed while the skipped one is still held (out of every queue), so the
    claim cannot hand the skipped sample straight back."""
    with transaction.atomic():
        annotation = access_annotation(user, sample_id, lock=True)
        _check_version(annotation, version)
        skip = actions.Skip(annotation=annotation, user=user, reason=reason)
        skip.check()
        following = annotation_claim_next(user=user, stage=skip.stage, filters=filters, held_first=False)
        skip.execute()
    return following


def annotation_renew_lease(*, user: User, sample_id: int) -> Annotation:
    with transaction.atomic():
        annotation = access_annotation(user, sample_id, lock=True)
        actions.RenewLease(annotation=annotation, user=user).run()
    return annotation


def annotation_save(*, user: User, sample_id: int, version: int, content: dict) -> Annotation:
    return _run(actions.SaveContent, user=user, sample_id=sample_id, version=version, content_data=content)


def annotation_submit(*, annotator: User, sample_id: int, version: int, content: dict | None = None) -> Annotation:
    return _run(actions.Submit, user=annotator, sample_id=sample_id, version=version, content_data=content)


def review_approve(*, reviewer: User, sample_id: int, version: int, content: dict | None = None) -> Annotation:
    return _run(actions.Approve, user=reviewer, sample_id=sample_id, version=version, content_data=content)


def review_request_changes(*, reviewer: User, sample_id: int, version: int, comments: list) -> Annotation:
    return _run(actions.RequestChanges, user=reviewer, sample_id=sample_id, version=version, comments=comments)


def consensus_vote(
    *, expert: User, sample_id: int, version: int, decision: str, content: dict | None = None, comment: str = ""
) -> Annotation:
    return _run(
        actions.Vote,
        user=expert,
        sample_id=sample_id,
        version=version,
        decision=decision,
        content_data=content,
        comment=comment,
    )


def annotation_attach_draft_captions(*, sample_id: int, captions: dict[str, str], generator: str) -> Annotation:
    """For the captioning task: a generator's captions become the draft stage 1 starts from.
    Only while nobody works on the sample (UNASSIGNED); the caller is the system, not a user."""
    with transaction.atomic():
        annotation = Annotation.objects.select_for_update().select_related("sample").get(pk=sample_id)
        actions.AttachDraftCaptions(annotation=annotation, user=None, captions=captions, generator=generator).run()
    return annotation


# -- data managers -----------------------------------------------------------------------------


def _require_manager(user: User) -> None:
    if not user.has_perm("annotation.assign_annotation"):
        raise WorkflowError(Code.ROLE_REQUIRED, "enqueueing and assigning samples needs the data manager role")


def annotations_enqueue(
    *,
    samples: QuerySet[Sample],
    by: User | None,
    priority: int = 0,
    is_gold: bool = False,
    limit: int | None = None,
    batch_size: int = 500,
) -> int:
    """Create the annotations of the samples that have none, each with its first draft (the
    imported regions, raw labels mapped to terms), UNASSIGNED in the annotation queue. Returns
    how many were created. Safe to run twice and concurrently: the sample rows are locked."""
    version = vocabulary_current_version()
    label_terms: dict = {}
    product_terms: dict = {}
    pending = samples.filter(~Exists(Annotation.objects.filter(pk=OuterRef("pk")))).order_by("pk")
    created = 0
    last = 0
    while limit is None or created < limit:
        size = batch_size if limit is None else min(batch_size, limit - created)
        ids = list(pending.filter(pk__gt=last).values_list("pk", flat=True)[:size])
        if not ids:
            return created
        last = ids[-1]
        with transaction.atomic():
            batch = list(
                Sample.objects.select_for_update(of=("self",))
                .filter(pk__in=ids)
                .filter(~Exists(Annotation.objects.filter(pk=OuterRef("pk"))))
                .prefetch_related("source_regions")
                .order_by("pk")
            )
            datasets = dict(Source.objects.filter(id__in={s.source_id for s in batch}).values_list("id", "dataset"))
            contents = [
                draft_content_for_sample(
                    s, label_terms=label_terms, product_terms=product_terms, dataset=datasets.get(s.source_id, "")
                )
                for s in batch
            ]
            _drafts_bulk_write(batch, contents, by=by, priority=priority, is_gold=is_gold, vocabulary_version=version)
        created += len(batch)
    return created


def annotations_enqueue_diverse(
    *,
    samples: QuerySet[Sample],
    by: User | None,
    count: int,
    priority: int = 0,
    is_gold: bool = False,
    seed: int = 0,
) -> tuple[int, DiversePick]:
    """Enqueue `count` of the samples that have no annotation yet, chosen to cover the embedding
    space (k-center greedy, catalog/diversity.py) instead of in id order. `samples` is already
    visibility-filtered. Returns how many were created and what the sampler reports (samples
    without an embedding, a random-init space)."""
    pending = samples.filter(~Exists(Annotation.objects.filter(pk=OuterRef("pk"))))
    try:
        pick = diverse_sample_ids(samples=pending, count=count, seed=seed)
    except EmbeddingError as error:
        raise WorkflowError(Code.INVALID, str(error), errors={"diverse": [str(error)]}) from None
    created = annotations_enqueue(
        samples=Sample.objects.filter(pk__in=pick.sample_ids), by=by, priority=priority, is_gold=is_gold
    )
    return created, pick


def _drafts_bulk_write(samples: list[Sample], contents: list[Content], *, by, priority, is_gold, vocabulary_version):
    annotations = Annotation.objects.bulk_create(
        Annotation(
            sample=sample,
            source_id=sample.source_id,
            domain=sample.domain,
            language=sample.source_text_language,
            priority=priority,
            is_gold=is_gold,
            vocabulary_version=vocabulary_version,
        )
        for sample in samples
    )
    revisions = AnnotationRevision.objects.bulk_create(
        AnnotationRevision(annotation=a, number=1, stage=Stage.DRAFT, vocabulary_version=vocabulary_version)
        for a in annotations
    )
    links, terms = [], []
    for annotation, revision, content in zip(annotations, revisions, contents, strict=True):
        regions_write(annotation=annotation, drafts=content.regions, author=None)
        links += [
            AnnotationRevision.regions.through(annotationrevision=revision, region=r.existing) for r in content.regions
        ]
        terms += [
            RevisionTerm(revision=revision, field=name, term=term, position=position)
            for name, field_terms in content.fields.items()
            for position, term in enumerate(field_terms)
        ]
        annotation.current_revision = revision
    AnnotationRevision.regions.through.objects.bulk_create(links)
    RevisionTerm.objects.bulk_create(terms)
    Annotation.objects.bulk_update(annotations, ["current_revision"])
    AuditEvent.objects.bulk_create(
        AuditEvent(annotation=a, actor=by, action="create", field="state", after=AnnotationState.UNASSIGNED, version=1)
        for a in annotations
    )


def annotations_refresh_sample_fields(*, sample_ids: Iterable[int]) -> int:
    """Copy domain and source-text language from the samples again (after a catalog edit); the
    queue filters read the copies. Not a workflow write: no version bump, no audit event."""
    changed = 0
    for sample in Sample.objects.filter(pk__in=list(sample_ids)).only("pk", "domain", "source_text_language"):
        changed += (
            Annotation.objects.filter(pk=sample.pk)
            .exclude(domain=sample.domain, language=sample.source_text_language)
            .update(domain=sample.domain, language=sample.source_text_language)
        )
    return changed


@dataclass
class AssignOutcome:
    sample: int
    outcome: str  # assigned, unchanged, not_found, not_visible_to_annotator, skipped_<state>


def annotations_assign(
    *,
    by: User,
    sample_ids: Iterable[int],
    annotator: User | None,
    priority: int | None = None,
    is_gold: bool | None = None,
) -> list[AssignOutcome]:
    """Reserve samples for an annotator (None: back to the open pool), creating annotations as
    needed. Only samples nobody has started (UNASSIGNED, no lease) change hands."""
    _require_manager(by)
    if annotator is not None and not actions.user_has_role(annotator, Role.ANNOTATOR):
        raise WorkflowError(
            Code.INVALID, f"{annotator} is not an annotator", errors={"annotator": ["needs the annotator role"]}
        )
    sample_ids = list(dict.fromkeys(sample_ids))
    visible = set(samples_visible_to(by).filter(pk__in=sample_ids).values_list("pk", flat=True))
    reachable = visible
    if annotator is not None:
        reachable = set(samples_visible_to(annotator).filter(pk__in=visible).values_list("pk", flat=True))
    outcomes = {sid: "not_found" for sid in sample_ids if sid not in visible}
    outcomes.update({sid: "not_visible_to_annotator" for sid in visible - reachable})
    annotations_enqueue(samples=Sample.objects.filter(pk__in=reachable), by=by)
    with transaction.atomic():
        for annotation in Annotation.objects.select_for_update().filter(pk__in=reachable).order_by("pk"):
            outcomes[annotation.pk] = _assign_one(
                annotation, by=by, annotator=annotator, priority=priority, is_gold=is_gold
            )
    return [AssignOutcome(sample=sid, outcome=outcomes[sid]) for sid in sample_ids]


def _assign_one(annotation: Annotation, *, by, annotator, priority, is_gold) -> str:
    if annotation.state != AnnotationState.UNASSIGNED or annotation.lease_holder_id is not None:
        return f"skipped_{annotation.state}"
    changes = []
    wanted = {"assignee": annotator.pk if annotator else None, "priority": priority, "is_gold": is_gold}
    for field, value in wanted.items():
        attribute = "assignee_id" if field == "assignee" else field
        current = getattr(annotation, attribute)
        if (value is not None or field == "assignee") and value != current:
            changes.append((field, current, value))
            setattr(annotation, attribute, value)
    if not changes:
        return "unchanged"
    actions.annotation_write(annotation)
    for field, before, after in changes:
        audit_record(annotation=annotation, actor=by, action="assign", field=field, before=before, after=after)
    return "assigned"


def annotations_set_priority(
    *, by: User, sample_ids: Iterable[int], priority: int | None = None, is_gold: bool | None = None
) -> int:
    """Change priority or the gold flag (the admin's actions); audited like any edit.

    Not a versioned write: they order the queue and are not the work, so whoever holds the
    sample saves on as before (a bump made their next save a stale-version conflict)."""
    _require_manager(by)
    changed = 0
    with transaction.atomic():
        for annotation in Annotation.objects.select_for_update().filter(pk__in=list(sample_ids)).order_by("pk"):
            edits = []
            if priority is not None and annotation.priority != priority:
                edits.append(("priority", annotation.priority, priority))
                annotation.priority = priority
            if is_gold is not None and annotation.is_gold != is_gold:
                edits.append(("is_gold", annotation.is_gold, is_gold))
                annotation.is_gold = is_gold
            if edits:
                Annotation.objects.filter(pk=annotation.pk).update(**{field: after for field, _before, after in edits})
                for field, before, after in edits:
                    audit_record(
                        annotation=annotation, actor=by, action="edit", field=field, before=before, after=after
                    )
                changed += 1
    return changed


# -- agreement reports ------------------------------------------------------------------------


def agreement_report_request(
    *, by: User, scope: str, source: Source | None = None, user: User | None = None
) -> AgreementReport:
    with transaction.atomic():
        report = AgreementReport.objects.create(scope=scope, source=source, user=user, created_by=by)
        # The report reads only what its requester may see: the source asked for, or all those visible.
        report.sources.set([source] if source is not None else sources_visible_to(by))
    agreement_report_enqueue(report=report)
    return report


def agreement_report_enqueue(*, report: AgreementReport) -> None:
    """Queue the report's current batch once the caller's transaction commits."""
    report_id, batch = report.pk, report.next_batch
    transaction.on_commit(lambda: agreement_report_batch_task.delay(report_id, batch))


def agreement_report_requeue(report_id: int) -> None:
    """The job registry's requeue (base/job_kinds.py)."""
    agreement_report_enqueue(report=AgreementReport.objects.get(pk=report_id))


def agreement_report_run(*, report: AgreementReport) -> AgreementReport:
    """Compute the report's remaining batches in this process, as the tasks would."""
    return job_run_here(
        report,
        run_batch=lambda report_id, batch: agreement_report_batch(report_id=report_id, batch=batch),
        finish=agreement_report_finish,
    )
