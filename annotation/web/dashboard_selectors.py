"""Reads of the dashboards: backlog per queue, and per day over a window of days, for one queue
or all, one person or everyone: samples done, median minutes per sample, and agreement.

Each figure reads the workflow's own records (StageClaim: who held which sample in which stage,
from when to when and how it ended; ConsensusVote; the audit trail's review decisions) through
the catalog's visibility, so a restricted source never shows in a count."""

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from base.ids import parse_id
from catalog.selectors import sources_visible_to, visible_to

from ..models import AnnotationState, AuditEvent, ClaimOutcome, ConsensusVote, Stage, StageClaim
from ..selectors import annotations_visible_to
from .selectors import QUEUE_COUNT_CAP

STAGES = (Stage.ANNOTATION, Stage.REVIEW, Stage.CONSENSUS)
WORKING = {
    Stage.ANNOTATION: AnnotationState.IN_ANNOTATION,
    Stage.REVIEW: AnnotationState.IN_REVIEW,
    Stage.CONSENSUS: AnnotationState.IN_CONSENSUS,
}
# The medians read the durations themselves; past this many claims in a window the newest are used.
DURATION_SAMPLE_LIMIT = 50_000


def backlog_now(user: User) -> dict[str, dict]:
    """Per stage: samples waiting in its queue (capped like the home page's counts) and held now."""
    visible = annotations_visible_to(user)
    now = timezone.now()
    backlog = {}
    for stage in STAGES:
        waiting = visible.filter(queue=stage).order_by()[: QUEUE_COUNT_CAP + 1].count()
        held = visible.filter(state=WORKING[stage], lease_expires_at__gt=now).order_by()[: QUEUE_COUNT_CAP + 1].count()
        backlog[stage] = {"waiting": waiting, "held": held, "more_than_cap": waiting > QUEUE_COUNT_CAP}
    return backlog


@dataclass
class DashboardFilters:
    days: int = 30
    stage: str = ""  # "" = every stage
    person: int | None = None  # None = everyone
    errors: dict[str, str] = field(default_factory=dict)

    ALLOWED_DAYS = (7, 30, 90)

    @classmethod
    def from_query(cls, params) -> "DashboardFilters":
        filters = cls()
        days = params.get("days", "")
        if days:
            if days.isdigit() and int(days) in cls.ALLOWED_DAYS:
                filters.days = int(days)
            else:
                filters.errors["days"] = days
        stage = params.get("stage", "")
        if stage in STAGES:
            filters.stage = stage
        elif stage:
            filters.errors["stage"] = stage
        person = params.get("person", "")
        if parse_id(person) is not None:
            filters.person = parse_id(person)
        elif person:
            filters.errors["person"] = person
        return filters

    def window(self, today: date | None = None) -> list[date]:
        today = today or timezone.localdate()
        return [today - timedelta(days=offset) for offset in range(self.days - 1, -1, -1)]


@dataclass
class Dashboard:
    days: list[date]
    done: dict[str, list[int]]  # stage -> samples finished per day
    median_minutes: dict[str, list[float | None]]  # stage -> median minutes per finished sample per day
    review_approval: list[float | None]  # share of reviews approved without a request for changes, %
    consensus_agreement: list[float | None]  # share of votes that agree with the final decision, %
    totals: dict[str, dict] = field(default_factory=dict)  # stage -> {"done", "median_minutes"}


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def dashboard(user: User, filters: DashboardFilters, *, today: date | None = None) -> Dashboard:
    days = filters.window(today)
    since, until = _start_of(days[0]), _start_of(days[-1] + timedelta(days=1))
    stages = [filters.stage] if filters.stage else list(STAGES)
    visible = sources_visible_to(user).values("id")

    claims = StageClaim.objects.filter(
        outcome=ClaimOutcome.DONE,
        ended_at__gte=since,
        ended_at__lt=until,
        stage__in=stages,
        annotation__source_id__in=visible,
    )
    if filters.person is not None:
        claims = claims.filter(user_id=filters.person)

    index = {day: i for i, day in enumerate(days)}
    done = {stage: [0] * len(days) for stage in stages}
    per_day = claims.annotate(day=TruncDate("ended_at")).values("stage", "day").annotate(n=Count("id"))
    for row in per_day:
        if row["day"] in index:
            done[row["stage"]][index[row["day"]]] = row["n"]

    durations: dict[tuple[str, date], list[float]] = {}
    everything: dict[str, list[float]] = {stage: [] for stage in stages}
    rows = (
        claims.annotate(day=TruncDate("ended_at"))
        .values_list("stage", "day", "claimed_at", "ended_at")
        .order_by("-ended_at")[:DURATION_SAMPLE_LIMIT]
    )
    for stage, day, claimed_at, ended_at in rows:
        minutes = (ended_at - claimed_at).total_seconds() / 60
        durations.setdefault((stage, day), []).append(minutes)
        everything[stage].append(minutes)
    median_minutes = {stage: [_median(durations.get((stage, day))) for day in days] for stage in stages}

    decisions = AuditEvent.objects.filter(
        field="state",
        action__in=("approve", "request_changes"),
        created_at__gte=since,
        created_at__lt=until,
        annotation__source_id__in=visible,
    )
    votes = ConsensusVote.objects.filter(
        created_at__gte=since,
        created_at__lt=until,
        annotation__source_id__in=visible,
        annotation__state__in=(AnnotationState.VERIFIED, AnnotationState.REJECTED),
    )
    if filters.person is not None:
        decisions = decisions.filter(actor_id=filters.person)
        votes = votes.filter(expert_id=filters.person)
    approved = (
        decisions.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("id"), kept=Count("id", filter=Q(action="approve")))
    )
    agreeing = Q(decision__in=("approve", "edit"), annotation__state=AnnotationState.VERIFIED) | Q(
        decision="reject", annotation__state=AnnotationState.REJECTED
    )
    agreed = (
        votes.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("id"), kept=Count("id", filter=agreeing))
    )
    totals = {stage: {"done": sum(done[stage]), "median_minutes": _median(everything[stage])} for stage in stages}
    return Dashboard(
        days=days,
        done=done,
        median_minutes=median_minutes,
        review_approval=_shares(approved, index),
        consensus_agreement=_shares(agreed, index),
        totals=totals,
    )


def _median(values: list[float] | None) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _shares(rows, index: dict[date, int]) -> list[float | None]:
    shares: list[float | None] = [None] * len(index)
    for row in rows:
        if row["day"] in index and row["total"]:
            shares[index[row["day"]]] = round(100 * row["kept"] / row["total"], 1)
    return shares


def people_choices(user: User) -> list[User]:
    """Whom a data manager may pick: everyone who held a sample of a visible source."""
    ids = visible_to(StageClaim.objects.all(), user, "annotation__source_id").values("user_id")
    return list(User.objects.filter(pk__in=ids).order_by("username").only("id", "username"))
