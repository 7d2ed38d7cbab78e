"""The work queues: which sample a person gets when they ask for the next one.

Each waiting annotation has `queue` set to its stage. Claiming walks the partial index
(queue, -is_gold, -priority, sample) in order and locks the first row nobody else has locked
(PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED`), so concurrent claimers never get the same row
and never wait on each other. The cost is that of reaching the first eligible row, whatever the
number of samples. Samples reserved for a person (bulk assignment, requested changes) come
from a second partial index, and first.
"""

import time
from dataclasses import dataclass, fields

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, DateTimeField, Exists, IntegerField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from base.compiled_queries import Param, compiled_once
from catalog.selectors import hidden_sources, sees_every_source, visible_source_ids

from .actions import WORKING_STATE, ClaimForAnnotation, ClaimForConsensus, ClaimForReview, ExpireLease, user_has_role
from .error_codes import AnnotationErrorCode as Code
from .error_codes import WorkflowError
from .models import UNSEEN_UNCERTAINTY, Annotation, ConsensusVote, QueueOrder, QueueSetting, Stage, StageClaim
from .selectors import defect_type_problem, names_defect_type

CLAIM_TRANSITION = {
    Stage.ANNOTATION: ClaimForAnnotation,
    Stage.REVIEW: ClaimForReview,
    Stage.CONSENSUS: ClaimForConsensus,
}
QUEUE_ORDER = ("-is_gold", "-priority", "sample_id")
# Active learning: among samples of equal priority, the ones the model was least sure of first; the
# samples no model has seen follow, oldest first. Gold samples and priorities keep their place.
UNCERTAINTY_ORDER = (
    "-is_gold",
    "-priority",
    Coalesce("model_uncertainty", Value(UNSEEN_UNCERTAINTY)).desc(),
    "sample_id",
)
ORDERS = {QueueOrder.AGE: QUEUE_ORDER, QueueOrder.UNCERTAINTY: UNCERTAINTY_ORDER}
CLAIM_ATTEMPTS = 5
SWEEP_INTERVAL = 5.0  # seconds


@dataclass(frozen=True)
class QueueFilters:
    source: int | None = None
    domain: str | None = None
    defect_type: int | None = None  # a defect type, or a defect category (any of its types)
    language: str | None = None  # the language of the sample's source text (web-mined data)

    @classmethod
    def among(cls, data: dict) -> "QueueFilters":
        """The filters in a request's validated data, which may hold more (a skip's version and
        reason): claim-next and skip take the same ones (api.serializers.QueueFiltersSerializer)."""
        return cls(**{field.name: data[field.name] for field in fields(cls) if field.name in data})


def queue_filter_errors(user: User, filters: QueueFilters) -> dict[str, list[str]]:
    """{filter: [message]} for each id filter that names nothing `user` may claim from, so that a
    typo is a 400 rather than an empty queue (204). A source the user may not see is named exactly
    as one that does not exist: the refusal must not tell that a restricted source exists."""
    errors = {}
    if filters.source is not None and hidden_sources(user, [filters.source]):
        errors["source"] = [f"no source {filters.source}"]
    if filters.defect_type is not None and (problem := defect_type_problem(filters.defect_type)):
        errors["defect_type"] = [problem]
    return errors


def queue_order(stage: str) -> str:
    """The order a data manager chose for the stage's queue (QueueSetting), age when none."""
    chosen = QueueSetting.objects.filter(stage=stage).values_list("order", flat=True).first()
    return chosen or QueueOrder.AGE


def claim_candidates(
    *, stage: str, filters: QueueFilters, person, sees_everything: bool, order: str = QueueOrder.AGE
) -> QuerySet[Annotation]:
    """The annotations of `stage`'s queue that `person` may claim, in claim order.

    person: a user, or the Param "person" of a compiled query (_open_pool_query), which is why
    whether they see every source comes separately: the query may not look at who asked.
    order: a QueueOrder (queue_order(stage) reads the data manager's choice)."""
    visible = visible_source_ids(sees_everything=sees_everything, person=person)
    candidates = Annotation.objects.filter(queue=stage, source_id__in=visible)
    if filters.source is not None:
        candidates = candidates.filter(source_id=filters.source)
    if filters.domain:
        candidates = candidates.filter(domain=filters.domain)
    if filters.language:
        candidates = candidates.filter(language=filters.language)
    if filters.defect_type is not None:
        candidates = candidates.filter(names_defect_type(filters.defect_type))
    if stage == Stage.REVIEW:
        candidates = candidates.exclude(annotator=person).filter(~_worked_on(person, Stage.ANNOTATION))
    elif stage == Stage.CONSENSUS:
        mine = ConsensusVote.objects.filter(annotation=OuterRef("pk"), expert=person)
        candidates = (
            candidates.exclude(annotator=person)
            .exclude(reviewer=person)
            .filter(~_worked_on(person, Stage.ANNOTATION, Stage.REVIEW))
            .filter(~Exists(mine.filter(revision=OuterRef("current_revision"))))
            .filter(Q(consensus_voters__lt=settings.ANNOTATION_CONSENSUS_PANEL) | Exists(mine))
        )
    return candidates.order_by(*ORDERS[order])


def claim_candidates_for(
    user: User, *, stage: str, filters: QueueFilters, order: str = QueueOrder.AGE
) -> QuerySet[Annotation]:
    return claim_candidates(
        stage=stage, filters=filters, person=user, sees_everything=sees_every_source(user), order=order
    )


def _worked_on(person, *stages: str) -> Exists:
    return Exists(StageClaim.objects.filter(annotation=OuterRef("pk"), user=person, stage__in=stages))


def annotation_claim_next(
    *, user: User, stage: str, filters: QueueFilters | None = None, held_first: bool = True
) -> Annotation | None:
    """Lease the next sample of `stage`'s queue to `user`, or None when nothing is left for them.

    A person holds at most one sample per stage: asking again returns the one they hold.
    held_first=False is for skipping (services.annotation_skip): the caller holds a sample it is
    about to release and wants another one, claimed before the release so it cannot come back.
    An id filter naming nothing (queue_filter_errors) is refused, never read as an empty queue."""
    transition = CLAIM_TRANSITION.get(stage)
    if transition is None:
        raise WorkflowError(
            Code.INVALID, f"unknown stage {stage!r}", errors={"stage": [f"one of {', '.join(CLAIM_TRANSITION)}"]}
        )
    if not user_has_role(user, transition.role):
        raise WorkflowError(Code.ROLE_REQUIRED, f"the {stage} queue needs the {transition.role} role")
    filters = filters or QueueFilters()
    if errors := queue_filter_errors(user, filters):
        raise WorkflowError(Code.INVALID, f"invalid {', '.join(errors)}", errors=errors)
    _sweep_now_and_then()
    for _attempt in range(CLAIM_ATTEMPTS):
        try:
            return _claim_next_once(
                user=user, stage=stage, filters=filters, transition=transition, held_first=held_first
            )
        except WorkflowError as error:
            # Without row locks (SQLite) another claimer may win the row between read and
            # write; the versioned write notices, and we try the next row.
            if error.code != Code.STALE_VERSION:
                raise
    raise WorkflowError(Code.STALE_VERSION, "the queue is too busy right now; try again")


def _claim_next_once(
    *, user: User, stage: str, filters: QueueFilters, transition, held_first: bool = True
) -> Annotation | None:
    now = timezone.now()
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        # What is already mine: the sample I hold in this stage, or else the first one reserved
        # for me. Both are asked with plain queries on small partial indexes first, because most
        # people hold nothing and have nothing reserved, and the reserved ones' candidate query
        # (visibility, own work, filters) costs Django milliseconds to build.
        # One claim at a time per person: a second concurrent claim waits here, then finds the
        # sample the first one took, so a person never holds two samples of a stage.
        compiled_once(_person_lock_query).rows(person=user.pk)
        held = compiled_once(_held_query, stage=stage).run(person=user.pk, now=now) if held_first else None
        if held:
            return held[0]
        annotation = None
        order = queue_order(stage)
        if compiled_once(_reserved_query, stage=stage).run(person=user.pk):
            candidates = claim_candidates_for(user, stage=stage, filters=filters, order=order)
            annotation = candidates.filter(assignee=user).select_for_update(skip_locked=True, of=("self",)).first()
        if annotation is None:
            annotation = _first_in_open_pool(user=user, stage=stage, filters=filters, order=order)
        if annotation is not None:
            transition(annotation=annotation, user=user, now=now, own_work_excluded=True).run()
        return annotation


def _held_query(*, stage: str) -> QuerySet[Annotation]:
    """The sample a person holds in the stage (a live lease)."""
    return Annotation.objects.filter(
        lease_holder=Param("person", IntegerField()),
        state=WORKING_STATE[stage],
        lease_expires_at__gt=Param("now", DateTimeField()),
    ).order_by("pk")[:1]


def _reserved_query(*, stage: str) -> QuerySet[Annotation]:
    """One of the stage's samples reserved for a person."""
    return Annotation.objects.filter(assignee=Param("person", IntegerField()), queue=stage).only("pk")[:1]


def _person_lock_query() -> QuerySet[User]:
    return User.objects.filter(pk=Param("person", IntegerField())).select_for_update().only("pk")


def _open_pool(candidates: QuerySet[Annotation]) -> QuerySet[Annotation]:
    """The candidates nobody has reserved, the first one not locked by another claimer first."""
    return candidates.filter(assignee__isnull=True).select_for_update(skip_locked=True, of=("self",))


def _open_pool_query(
    *,
    stage: str,
    sees_everything: bool,
    by_source: bool,
    by_domain: bool,
    by_language: bool,
    panel: int,
    order: str = QueueOrder.AGE,
) -> QuerySet[Annotation]:
    """The first claimable sample of the open pool, every value a Param. `panel` is the consensus
    panel size claim_candidates writes in from settings: in the shape, a changed setting gets its
    own query."""
    slots = QueueFilters(
        source=Param("source", IntegerField()) if by_source else None,
        domain=Param("domain", CharField()) if by_domain else None,
        language=Param("language", CharField()) if by_language else None,
    )
    person = Param("person", IntegerField())
    candidates = claim_candidates(
        stage=stage, filters=slots, person=person, sees_everything=sees_everything, order=order
    )
    return _open_pool(candidates)[:1]


def _first_in_open_pool(
    *, user: User, stage: str, filters: QueueFilters, order: str = QueueOrder.AGE
) -> Annotation | None:
    """The open pool's query is compiled once per shape (compiled_queries.py): Django took ~2.5 ms
    to build and compile it for every claim, the database ~0.5 ms to plan and run it."""
    if filters.defect_type is not None:  # its SQL depends on the term (a category lists its types)
        return _open_pool(claim_candidates_for(user, stage=stage, filters=filters, order=order)).first()
    query = compiled_once(
        _open_pool_query,
        stage=stage,
        sees_everything=sees_every_source(user),  # no visibility test at all
        by_source=filters.source is not None,
        by_domain=bool(filters.domain),
        by_language=bool(filters.language),
        panel=settings.ANNOTATION_CONSENSUS_PANEL,
        order=order,
    )
    values = {"person": user.pk, "source": filters.source, "domain": filters.domain, "language": filters.language}
    found = query.run(**{name: value for name, value in values.items() if name in query.param_names})
    return found[0] if found else None


def _commit_without_waiting_for_disk() -> None:
    """A claim need not wait for its WAL flush (PostgreSQL asynchronous commit, this transaction
    only). If the server crashed in the next fraction of a second the claim would vanish whole,
    with its audit event, and the sample would simply still be in the queue; the holder's next
    save would be refused. Saves, submits and votes stay synchronous. It takes the disk's flush
    latency (milliseconds at the 99th percentile on ordinary disks) off every claim."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


_last_sweep = 0.0


def _sweep_now_and_then() -> None:
    """Expired leases go back to their queues at the next claim, checked at most every
    SWEEP_INTERVAL seconds per process: leases last minutes, and the claim path stays short."""
    global _last_sweep
    if time.monotonic() - _last_sweep >= SWEEP_INTERVAL:
        _last_sweep = time.monotonic()
        leases_release_expired()


def leases_release_expired(*, now=None, limit: int = 200) -> int:
    """Put samples whose lease ran out back in their queues; returns how many. Runs at a claim at
    most every SWEEP_INTERVAL seconds (an index probe that usually finds nothing) and as a periodic
    Celery task."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Annotation.objects.select_for_update(skip_locked=True)
            .filter(lease_expires_at__lte=now)
            .order_by("lease_expires_at")[:limit]
        )
        for annotation in expired:
            ExpireLease(annotation=annotation, user=None, now=now).run()
    return len(expired)
