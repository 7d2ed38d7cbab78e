"""Reads of the review pages: the home page's queues and figures, and the sample browser.

Every read goes through the catalog's visibility (samples_visible_to, and the queue's own
claim_candidates), so restricted sources never leak into a count or a thumbnail.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from base.jobs import JobStatus
from catalog.models import Sample
from catalog.selectors import samples_visible_to, sources_visible_to
from vocabulary.models import Facet, Term, TermStatus

from ..actions import ROLE_PERMISSION, STAGE_ROLE, WORKING_STATE
from ..models import (
    AgreementReport,
    Annotation,
    AnnotationRevision,
    AnnotationState,
    ConsensusVote,
    ReportScope,
    RevisionTerm,
    Stage,
    StageClaim,
    VoteDecision,
)
from ..queue import QueueFilters, claim_candidates_for
from ..selectors import annotations_visible_to

# Counting a queue of 700,000 rows to show "700,000" costs far more than the page; past this
# many the page says "10,000+".
QUEUE_COUNT_CAP = 10_000
RECENT_WORK = 10
BROWSER_PAGE_SIZE = 48


def stages_of(user: User) -> list[str]:
    """The stages this person works in (a superuser works in all three)."""
    return [
        stage for stage in (Stage.ANNOTATION, Stage.REVIEW, Stage.CONSENSUS) if user.has_perm(stage_permission(stage))
    ]


def stage_permission(stage: str) -> str:
    return ROLE_PERMISSION[STAGE_ROLE[stage]]


@dataclass
class QueueSummary:
    stage: str
    waiting: int  # capped at QUEUE_COUNT_CAP + 1
    held: Annotation | None

    @property
    def more_than_cap(self) -> bool:
        return self.waiting > QUEUE_COUNT_CAP


def queues_of(user: User) -> list[QueueSummary]:
    now = timezone.now()
    held_by_state = {
        a.state: a
        for a in Annotation.objects.filter(lease_holder=user, lease_expires_at__gt=now).order_by("-sample_id")
    }
    summaries = []
    for stage in stages_of(user):
        candidates = claim_candidates_for(user, stage=stage, filters=QueueFilters())
        candidates = candidates.filter(Q(assignee__isnull=True) | Q(assignee=user))
        waiting = candidates.order_by()[: QUEUE_COUNT_CAP + 1].count()
        summaries.append(QueueSummary(stage=stage, waiting=waiting, held=held_by_state.get(WORKING_STATE[stage])))
    return summaries


def recent_work_of(user: User) -> list[StageClaim]:
    return list(StageClaim.objects.filter(user=user).select_related("annotation").order_by("-claimed_at")[:RECENT_WORK])


@dataclass
class AgreementFigures:
    """The person's own figures, per stage they work in; plus their latest agreement report."""

    annotator: dict | None = None
    reviewer: dict | None = None
    expert: dict | None = None
    report: dict | None = None  # the annotator's row of their latest agreement report
    report_date: object = None


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def agreement_figures_of(user: User) -> AgreementFigures:
    figures = AgreementFigures()
    stages = stages_of(user)
    final = Q(state__in=(AnnotationState.VERIFIED, AnnotationState.REJECTED))
    if Stage.ANNOTATION in stages:
        counts = Annotation.objects.filter(annotator=user, submitted_revision__isnull=False).aggregate(
            submitted=Count("pk"),
            reviewed=Count("pk", filter=Q(reviewed_revision__isnull=False)),
            first_pass=Count("pk", filter=Q(reviewed_revision__isnull=False, review_round=0)),
            verified=Count("pk", filter=Q(state=AnnotationState.VERIFIED)),
            rejected=Count("pk", filter=Q(state=AnnotationState.REJECTED)),
        )
        counts["first_pass_share"] = _share(counts["first_pass"], counts["reviewed"])
        figures.annotator = counts
        report = (
            AgreementReport.objects.filter(scope=ReportScope.ANNOTATOR, user=user, status=JobStatus.SUCCEEDED)
            .order_by("-id")
            .first()
        )
        if report and report.result:
            rows = [row for row in report.result.get("annotators", []) if row.get("user") == user.pk]
            if rows:
                figures.report = rows[0]
                figures.report_date = report.finished_at
    if Stage.REVIEW in stages:
        counts = Annotation.objects.filter(reviewer=user, reviewed_revision__isnull=False).aggregate(
            reviewed=Count("pk"),
            decided=Count("pk", filter=final),
            kept=Count("pk", filter=final & Q(state=AnnotationState.VERIFIED, final_revision=F("reviewed_revision"))),
        )
        counts["kept_share"] = _share(counts["kept"], counts["decided"])
        figures.reviewer = counts
    if Stage.CONSENSUS in stages:
        votes = ConsensusVote.objects.filter(expert=user)
        decided = votes.filter(annotation__state__in=(AnnotationState.VERIFIED, AnnotationState.REJECTED))
        agreed = decided.filter(
            Q(decision__in=(VoteDecision.APPROVE, VoteDecision.EDIT), annotation__state=AnnotationState.VERIFIED)
            | Q(decision=VoteDecision.REJECT, annotation__state=AnnotationState.REJECTED)
        )
        counts = {"votes": votes.count(), "decided": decided.count(), "agreed": agreed.count()}
        counts["agreed_share"] = _share(counts["agreed"], counts["decided"])
        figures.expert = counts
    return figures


# -- the sample browser ------------------------------------------------------------------------

NOT_ENQUEUED = "none"  # the status filter's value for samples without an annotation


@dataclass
class SampleFilters:
    status: str = ""
    stage: str = ""
    domain: str = ""
    defect_type: int | None = None
    source: int | None = None
    language: str = ""
    synthetic: bool | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, params) -> "SampleFilters":
        """Read the filters from a query string; a bad value is dropped and named in `errors`."""
        filters = cls()
        status = params.get("status", "")
        if status and status != NOT_ENQUEUED and status not in AnnotationState.values:
            filters.errors["status"] = status
        else:
            filters.status = status
        stage = params.get("stage", "")
        if stage and stage not in (Stage.ANNOTATION, Stage.REVIEW, Stage.CONSENSUS):
            filters.errors["stage"] = stage
        else:
            filters.stage = stage
        filters.domain = params.get("domain", "").strip()
        filters.language = params.get("language", "").strip()
        for name in ("defect_type", "source"):
            value = params.get(name, "")
            if value.isdigit():
                setattr(filters, name, int(value))
            elif value:
                filters.errors[name] = value
        synthetic = params.get("synthetic", "")
        if synthetic in ("yes", "no"):
            filters.synthetic = synthetic == "yes"
        elif synthetic:
            filters.errors["synthetic"] = synthetic
        return filters

    def as_query(self) -> dict:
        query = {
            "status": self.status,
            "stage": self.stage,
            "domain": self.domain,
            "defect_type": self.defect_type or "",
            "source": self.source or "",
            "language": self.language,
            "synthetic": {True: "yes", False: "no"}.get(self.synthetic, ""),
        }
        return {key: value for key, value in query.items() if value != ""}


def _uses_workflow(filters: SampleFilters) -> bool:
    return (filters.status not in ("", NOT_ENQUEUED)) or bool(filters.stage) or filters.defect_type is not None


def _keyed_rows(user: User, filters: SampleFilters) -> tuple[QuerySet, str]:
    """The filtered rows and the column their keyset runs on (newest sample first).

    A filter on the workflow reads the annotation table: its (state, -sample) and (source, state,
    -sample) indexes, and its copies of the sample's source, domain and language, keep a filtered
    page an index walk instead of a join across a million rows."""
    if _uses_workflow(filters):
        rows = annotations_visible_to(user)
        if filters.status:
            rows = rows.filter(state=filters.status)
        if filters.stage:
            rows = rows.filter(queue=filters.stage)
        if filters.domain:
            rows = rows.filter(domain=filters.domain)
        if filters.source is not None:
            rows = rows.filter(source_id=filters.source)
        if filters.language:
            rows = rows.filter(language=filters.language)
        if filters.synthetic is not None:
            rows = rows.filter(sample__is_synthetic=filters.synthetic)
        if filters.defect_type is not None:
            rows = rows.filter(_has_defect_type(filters.defect_type))
        return rows, "sample_id"
    rows = samples_visible_to(user)
    if filters.status == NOT_ENQUEUED:
        rows = rows.filter(annotation__isnull=True)
    if filters.domain:
        rows = rows.filter(domain=filters.domain)
    if filters.source is not None:
        rows = rows.filter(source_id=filters.source)
    if filters.language:
        rows = rows.filter(source_text_language=filters.language)
    if filters.synthetic is not None:
        rows = rows.filter(is_synthetic=filters.synthetic)
    return rows, "id"


def _has_defect_type(term_id: int) -> Q:
    """The current revision names the defect type in its template or on one of its regions."""
    in_template = RevisionTerm.objects.filter(
        revision=OuterRef("current_revision"), field="defect_types", term_id=term_id
    )
    in_regions = AnnotationRevision.regions.through.objects.filter(
        annotationrevision_id=OuterRef("current_revision"), region__defect_type_id=term_id
    )
    return Q(Exists(in_template)) | Q(Exists(in_regions))


@dataclass
class SamplePage:
    samples: list[Sample]
    next_after: int | None  # the cursor of the next (older) page
    previous_before: int | None  # the cursor of the previous (newer) page


def sample_page(
    user: User, filters: SampleFilters, *, after: int | None = None, before: int | None = None, size: int | None = None
) -> SamplePage:
    """A keyset page, newest sample first: `after` an id gives the older ones, `before` an id the
    newer ones. Each page is an index seek, so the millionth sample costs what the first does."""
    size = size or BROWSER_PAGE_SIZE
    rows, key = _keyed_rows(user, filters)
    if before is not None:
        ids = list(rows.filter(**{f"{key}__gt": before}).order_by(key).values_list(key, flat=True)[: size + 1])
        has_newer = len(ids) > size
        ids = list(reversed(ids[:size]))
        return SamplePage(
            _samples(ids), next_after=ids[-1] if ids else None, previous_before=ids[0] if has_newer and ids else None
        )
    if after is not None:
        rows = rows.filter(**{f"{key}__lt": after})
    ids = list(rows.order_by(f"-{key}").values_list(key, flat=True)[: size + 1])
    has_older = len(ids) > size
    ids = ids[:size]
    return SamplePage(
        _samples(ids),
        next_after=ids[-1] if has_older and ids else None,
        previous_before=ids[0] if after is not None and ids else None,
    )


def _samples(ids: list[int]) -> list[Sample]:
    """The page's samples (already filtered by visibility), with source and annotation, in order."""
    by_id = Sample.objects.select_related("source", "annotation").in_bulk(ids)
    return [by_id[pk] for pk in ids]


def browser_choices(user: User) -> dict:
    """The filters' option lists (sources visible to the user, approved defect types)."""
    return {
        "sources": list(sources_visible_to(user).only("id", "name").order_by("name")),
        "defect_types": list(
            Term.objects.filter(facet=Facet.DEFECT_TYPE, status=TermStatus.APPROVED)
            .only("id", "label_en", "label_zh", "label_ja")
            .order_by("label_en")
        ),
        "states": AnnotationState.choices,
    }
