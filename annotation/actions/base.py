"""The base of every transition, and what transitions share: role checks, leases, the versioned write."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from vocabulary.selectors import vocabulary_current_version

from ..audit import audit_record, audit_record_edits
from ..error_codes import AnnotationErrorCode as Code
from ..error_codes import WorkflowError
from ..models import (
    Annotation,
    AnnotationState,
    Stage,
    StageClaim,
)
from ..revision_content import (
    Content,
    content_diff,
    content_of,
    revision_write,
    revisions_with_content,
)

State = AnnotationState

STAGE_ROLE = {Stage.ANNOTATION: Role.ANNOTATOR, Stage.REVIEW: Role.REVIEWER, Stage.CONSENSUS: Role.EXPERT}
WORKING_STATE = {
    Stage.ANNOTATION: State.IN_ANNOTATION,
    Stage.REVIEW: State.IN_REVIEW,
    Stage.CONSENSUS: State.IN_CONSENSUS,
}
STAGE_OF_WORKING_STATE = {state: stage for stage, state in WORKING_STATE.items()}


# Each stage's role carries a permission (accounts/roles.py). Checking the permission rather than
# the group reads the permission cache that the view's permission check has already filled.
ROLE_PERMISSION = {
    Role.ANNOTATOR: "annotation.annotate",
    Role.REVIEWER: "annotation.review",
    Role.EXPERT: "annotation.vote_consensus",
}


def user_has_role(user: User, role: str) -> bool:
    """Whether the user may act in the stage of `role` (superusers may act in every stage)."""
    return user.has_perm(ROLE_PERMISSION[role])


def state_after_return(annotation: Annotation) -> str:
    """The state a held sample goes back to when its lease is released or runs out."""
    stage = STAGE_OF_WORKING_STATE[annotation.state]
    if stage == Stage.ANNOTATION:
        # After a review round it stays reserved for its annotator.
        return State.CHANGES_REQUESTED if annotation.review_round else State.UNASSIGNED
    if stage == Stage.REVIEW:
        return State.SUBMITTED
    return State.IN_CONSENSUS if annotation.consensus_voters else State.REVIEWED


def lease_duration() -> timedelta:
    return timedelta(minutes=settings.ANNOTATION_LEASE_MINUTES)


def annotation_write(annotation: Annotation, *, now=None) -> None:
    """Save with the version bumped, as one `UPDATE ... WHERE version = <the version read>`.

    The caller holds the row lock, so on PostgreSQL the compare always holds; it is what keeps
    a write from landing on a row that changed since it was read where there is no row lock
    (SQLite ignores SELECT ... FOR UPDATE)."""
    read_version = annotation.version
    annotation.version = read_version + 1
    annotation.updated_at = now or timezone.now()
    loaded = getattr(annotation, "_loaded_values", {})
    values = {
        field.attname: getattr(annotation, field.attname)
        for field in Annotation._meta.concrete_fields
        if not field.primary_key
        and (field.attname not in loaded or loaded[field.attname] != getattr(annotation, field.attname))
    }
    if Annotation.objects.filter(pk=annotation.pk, version=read_version).update(**values) != 1:
        annotation.version = read_version
        raise WorkflowError(Code.STALE_VERSION, f"sample {annotation.pk} changed meanwhile: reload and retry")
    annotation._loaded_values = {**loaded, **values}


class Transition:
    action: str = ""
    allowed_from: tuple[str, ...] = ()
    role: str | None = None

    def __init__(self, *, annotation: Annotation, user: User | None, now=None):
        self.annotation = annotation
        self.user = user
        self.now = now or timezone.now()
        self._state_events: list[tuple[str, str, str]] = []

    def run(self) -> None:
        self.check()
        self.execute()

    def check(self) -> None:
        self.check_state()
        self.check_role()
        self.check_rules()

    def check_state(self) -> None:
        state = self.annotation.state
        if state not in self.allowed_from:
            allowed = ", ".join(self.allowed_from)
            raise WorkflowError(
                Code.TRANSITION_NOT_ALLOWED,
                f"cannot {self.action.replace('_', ' ')} sample {self.annotation.pk}: "
                f"it is {state} (allowed from {allowed})",
            )

    def check_role(self) -> None:
        if self.role and not user_has_role(self.user, self.role):
            raise WorkflowError(Code.ROLE_REQUIRED, f"{self.action.replace('_', ' ')} needs the {self.role} role")

    def check_rules(self) -> None:
        """What this transition needs beyond state and role."""

    def execute(self) -> None:
        raise NotImplementedError

    # -- helpers for execute() ------------------------------------------------------------------

    def move_to(self, state: str, *, queue: str = "", action: str | None = None) -> None:
        before = self.annotation.state
        self.annotation.state = state
        self.annotation.queue = queue
        if state in (State.VERIFIED, State.REJECTED):
            self.annotation.finished_at = self.now
        self._state_events.append((action or self.action, before, state))

    def take_lease(self, stage: str) -> None:
        self.annotation.lease_holder = self.user
        self.annotation.lease_expires_at = self.now + lease_duration()
        StageClaim.objects.create(annotation=self.annotation, user=self.user, stage=stage, claimed_at=self.now)

    def end_lease(self, outcome: str) -> None:
        StageClaim.objects.filter(
            annotation=self.annotation, user_id=self.annotation.lease_holder_id, ended_at__isnull=True
        ).update(ended_at=self.now, outcome=outcome)
        self.annotation.lease_holder = None
        self.annotation.lease_expires_at = None

    def write_revision(self, content: Content, stage: str) -> list:
        """A new revision of `content`; returns the changes for the audit trail."""
        base = self.current_content()
        version = vocabulary_current_version()
        revision_write(
            annotation=self.annotation, content=content, stage=stage, author=self.user, vocabulary_version=version
        )
        self.annotation.vocabulary_version = version
        self._content = content
        return content_diff(base, content)

    def current_content(self) -> Content:
        if not hasattr(self, "_content"):
            revision_id = self.annotation.current_revision_id
            revision = revisions_with_content().get(pk=revision_id) if revision_id else None
            self._content = content_of(revision)
        return self._content

    def commit(self, *, edits=(), extra_events=()) -> None:
        """Bump the version, save, and append the audit events of this transition."""
        annotation_write(self.annotation, now=self.now)
        if edits:
            audit_record_edits(annotation=self.annotation, actor=self.user, changes=list(edits))
        for action, before, after in self._state_events:
            audit_record(
                annotation=self.annotation, actor=self.user, action=action, field="state", before=before, after=after
            )
        for action, field, before, after in extra_events:
            audit_record(
                annotation=self.annotation, actor=self.user, action=action, field=field, before=before, after=after
            )

    def return_to_queue(self, outcome: str) -> None:
        """Back to the queue of the stage it was held in (release and lease expiry)."""
        annotation = self.annotation
        stage = STAGE_OF_WORKING_STATE[annotation.state]
        state = state_after_return(annotation)
        self.end_lease(outcome)
        if state == State.UNASSIGNED and annotation.assignee_id is None:
            annotation.annotator = None
        elif stage == Stage.REVIEW:
            annotation.reviewer = None
        self.move_to(state, queue=stage)


class HolderTransition(Transition):
    """Transitions only the lease holder may take, while the lease is live."""

    def check_rules(self) -> None:
        annotation = self.annotation
        if annotation.lease_holder_id != self.user.pk:
            raise WorkflowError(Code.NOT_LEASE_HOLDER, f"you do not hold sample {annotation.pk}; claim it first")
        if annotation.lease_expires_at <= self.now:
            raise WorkflowError(
                Code.LEASE_EXPIRED, f"your lease on sample {annotation.pk} expired at {annotation.lease_expires_at}"
            )

    @property
    def stage(self) -> str:
        return STAGE_OF_WORKING_STATE[self.annotation.state]
