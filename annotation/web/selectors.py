"""Reads of the review pages: the home page's queues and figures, and the sample browser.

Every read goes through the catalog's visibility (samples_visible_to, and the queue's own
claim_candidates), so restricted sources never leak into a count or a thumbnail.
"""

from copy import copy
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import User
from base.jobs import JobStatus
from catalog.selectors import visible_to, without_hidden

from ..actions import ROLE_PERMISSION, STAGE_ROLE, WORKING_STATE, claim_transition_for, state_after_return
from ..consensus import ConsensusTally, consensus_tally
from ..error_codes import WorkflowError
from ..models import (
    AgreementReport,
    Annotation,
    AnnotationState,
    ConsensusVote,
    ReportScope,
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


def claimable_stage(user: User, annotation: Annotation) -> str | None:
    """The stage the work page offers this person to claim the sample for, or None.

    The claim's own check decides (role, reservation, own work, a vote already in on the current
    revision, a full panel), so the button appears only where pressing it would succeed; the
    role alone would offer an annotator who also reviews a claim on their own submission.
    A sample whose lease ran out is judged as the claim will find it: back in its queue."""
    if annotation.lease_is_live():
        return None
    if annotation.lease_holder_id is not None:
        annotation = copy(annotation)  # the page's object stays as it is; nothing is written
        annotation.state = state_after_return(annotation)
    try:
        transition = claim_transition_for(annotation)
        transition(annotation=annotation, user=user).check()
    except WorkflowError:
        return None
    return transition.stage


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
        for a in annotations_visible_to(user).filter(lease_holder=user, lease_expires_at__gt=now).order_by("-sample_id")
    }
    summaries = []
    for stage in stages_of(user):
        candidates = claim_candidates_for(user, stage=stage, filters=QueueFilters())
        candidates = candidates.filter(Q(assignee__isnull=True) | Q(assignee=user))
        waiting = candidates.order_by()[: QUEUE_COUNT_CAP + 1].count()
        summaries.append(QueueSummary(stage=stage, waiting=waiting, held=held_by_state.get(WORKING_STATE[stage])))
    return summaries


def recent_work_of(user: User) -> list[StageClaim]:
    """The person's latest claim of each of their most recent samples (a sample claimed twice,
    e.g. again after changes were requested, is listed once). Only samples they may see now: a
    member removed from a restricted source no longer sees the work they did there."""
    claims = visible_to(StageClaim.objects.filter(user=user), user, "annotation__source_id")
    claims = claims.select_related("annotation").order_by("-claimed_at")
    latest: dict[int, StageClaim] = {}
    for claim in claims[: RECENT_WORK * 5]:
        latest.setdefault(claim.annotation_id, claim)
        if len(latest) == RECENT_WORK:
            break
    return list(latest.values())


def sent_back_to(user: User) -> list[Annotation]:
    """Samples a reviewer sent back to this annotator ("changes requested"), waiting or held."""
    if not user.has_perm(stage_permission(Stage.ANNOTATION)):
        return []
    waiting = Q(assignee=user, state=AnnotationState.CHANGES_REQUESTED)
    held = Q(lease_holder=user, state=AnnotationState.IN_ANNOTATION, review_round__gt=0)
    return list(
        annotations_visible_to(user).filter(waiting | held).select_related("sample").order_by("sample_id")[:RECENT_WORK]
    )


def awaiting_other_experts(user: User) -> list[tuple[Annotation, ConsensusTally]]:
    """Samples in consensus this expert voted on, waiting for the rest of the panel, with their tally."""
    if not user.has_perm(stage_permission(Stage.CONSENSUS)):
        return []
    voted = ConsensusVote.objects.filter(annotation=OuterRef("pk"), expert=user)
    annotations = list(
        annotations_visible_to(user)
        .filter(Exists(voted), state__in=(AnnotationState.REVIEWED, AnnotationState.IN_CONSENSUS))
        .order_by("-sample_id")[:RECENT_WORK]
    )
    votes: dict[int, list[ConsensusVote]] = {}
    for vote in ConsensusVote.objects.filter(annotation__in=annotations).order_by("id"):
        votes.setdefault(vote.annotation_id, []).append(vote)
    return [(a, consensus_tally(a, votes.get(a.pk, []))) for a in annotations]


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
    """Counted over the samples the person may see now (like every other figure), and read from an
    agreement report they may see: a former member's figures no longer count a partner's samples."""
    figures = AgreementFigures()
    stages = stages_of(user)
    final = Q(state__in=(AnnotationState.VERIFIED, AnnotationState.REJECTED))
    annotations = annotations_visible_to(user)
    if Stage.ANNOTATION in stages:
        counts = annotations.filter(annotator=user, submitted_revision__isnull=False).aggregate(
            submitted=Count("pk"),
            reviewed=Count("pk", filter=Q(reviewed_revision__isnull=False)),
            first_pass=Count("pk", filter=Q(reviewed_revision__isnull=False, review_round=0)),
            verified=Count("pk", filter=Q(state=AnnotationState.VERIFIED)),
            rejected=Count("pk", filter=Q(state=AnnotationState.REJECTED)),
        )
        counts["first_pass_share"] = _share(counts["first_pass"], counts["reviewed"])
        figures.annotator = counts
        report = (
            without_hidden(AgreementReport.objects.all(), user, "sources")
            .filter(scope=ReportScope.ANNOTATOR, user=user, status=JobStatus.SUCCEEDED)
            .order_by("-id")
            .first()
        )
        if report and report.result:
            rows = [row for row in report.result.get("annotators", []) if row.get("user") == user.pk]
            if rows:
                figures.report = rows[0]
                figures.report_date = report.finished_at
    if Stage.REVIEW in stages:
        counts = annotations.filter(reviewer=user, reviewed_revision__isnull=False).aggregate(
            reviewed=Count("pk"),
            decided=Count("pk", filter=final),
            kept=Count("pk", filter=final & Q(state=AnnotationState.VERIFIED, final_revision=F("reviewed_revision"))),
        )
        counts["kept_share"] = _share(counts["kept"], counts["decided"])
        figures.reviewer = counts
    if Stage.CONSENSUS in stages:
        votes = visible_to(ConsensusVote.objects.filter(expert=user), user, "annotation__source_id")
        decided = votes.filter(annotation__state__in=(AnnotationState.VERIFIED, AnnotationState.REJECTED))
        agreed = decided.filter(
            Q(decision__in=(VoteDecision.APPROVE, VoteDecision.EDIT), annotation__state=AnnotationState.VERIFIED)
            | Q(decision=VoteDecision.REJECT, annotation__state=AnnotationState.REJECTED)
        )
        counts = {"votes": votes.count(), "decided": decided.count(), "agreed": agreed.count()}
        counts["agreed_share"] = _share(counts["agreed"], counts["decided"])
        figures.expert = counts
    return figures
