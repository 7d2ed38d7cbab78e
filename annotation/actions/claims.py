"""Claims and leases: taking a sample of a queue, handing it back, renewing, expiring."""

from django.conf import settings

from accounts.roles import Role

from ..error_codes import AnnotationErrorCode as Code
from ..error_codes import WorkflowError
from ..models import (
    Annotation,
    ClaimOutcome,
    ConsensusVote,
    Stage,
    StageClaim,
)
from .base import WORKING_STATE, HolderTransition, State, Transition, lease_duration


class Claim(Transition):
    action = "claim"
    stage: str = ""

    def __init__(self, *, own_work_excluded: bool = False, **kwargs):
        """own_work_excluded: the annotation came from the queue's candidate query, which already
        leaves out the person's own work (claim next); a claim by id checks it here."""
        super().__init__(**kwargs)
        self.own_work_excluded = own_work_excluded

    def check_rules(self) -> None:
        annotation = self.annotation
        if annotation.lease_is_live(self.now):
            raise WorkflowError(
                Code.NOT_LEASE_HOLDER,
                f"sample {annotation.pk} is held by someone else until {annotation.lease_expires_at}",
            )
        if annotation.assignee_id is not None and annotation.assignee_id != self.user.pk:
            raise WorkflowError(Code.NOT_ASSIGNEE, f"sample {annotation.pk} is reserved for another annotator")
        if not self.own_work_excluded:
            self.check_own_work()

    def check_own_work(self) -> None:
        pass

    def worked_on(self, *stages: str) -> bool:
        return StageClaim.objects.filter(annotation=self.annotation, user=self.user, stage__in=stages).exists()

    def execute(self) -> None:
        self.take_lease(self.stage)
        self.on_claim()
        self.move_to(WORKING_STATE[self.stage])
        self.commit()

    def on_claim(self) -> None:
        pass


class ClaimForAnnotation(Claim):
    stage = Stage.ANNOTATION
    allowed_from = (State.UNASSIGNED, State.CHANGES_REQUESTED)
    role = Role.ANNOTATOR

    def on_claim(self) -> None:
        self.annotation.annotator = self.user


class ClaimForReview(Claim):
    stage = Stage.REVIEW
    allowed_from = (State.SUBMITTED,)
    role = Role.REVIEWER

    def check_own_work(self) -> None:
        if self.annotation.annotator_id == self.user.pk or self.worked_on(Stage.ANNOTATION):
            raise WorkflowError(Code.OWN_WORK, "nobody reviews their own work")

    def on_claim(self) -> None:
        self.annotation.reviewer = self.user


class ClaimForConsensus(Claim):
    stage = Stage.CONSENSUS
    allowed_from = (State.REVIEWED, State.IN_CONSENSUS)
    role = Role.EXPERT

    def check_own_work(self) -> None:
        annotation = self.annotation
        if self.user.pk in (annotation.annotator_id, annotation.reviewer_id) or self.worked_on(
            Stage.ANNOTATION, Stage.REVIEW
        ):
            raise WorkflowError(Code.OWN_WORK, "consensus experts are neither the annotator nor the reviewer")
        votes = ConsensusVote.objects.filter(annotation=annotation, expert=self.user)
        if votes.filter(revision_id=annotation.current_revision_id).exists():
            raise WorkflowError(Code.ALREADY_VOTED, "your vote on the current revision is in")
        if annotation.consensus_voters >= settings.ANNOTATION_CONSENSUS_PANEL and not votes.exists():
            raise WorkflowError(Code.PANEL_FULL, f"the panel of {settings.ANNOTATION_CONSENSUS_PANEL} experts is full")


def claim_transition_for(annotation: Annotation) -> type[Claim]:
    for transition in (ClaimForAnnotation, ClaimForReview, ClaimForConsensus):
        if annotation.state in transition.allowed_from:
            return transition
    raise WorkflowError(
        Code.TRANSITION_NOT_ALLOWED, f"sample {annotation.pk} is {annotation.state}: there is nothing to claim"
    )


class Release(HolderTransition):
    action = "release"
    allowed_from = tuple(WORKING_STATE.values())

    def execute(self) -> None:
        self.return_to_queue(ClaimOutcome.RELEASED)
        self.commit()


SKIP_REASON_MAX_LENGTH = 500


class Skip(Release):
    """Release with a reason ("the image is blurred", "needs a metallurgist"): the sample goes back
    to its queue for someone else, and the reason is in the audit trail."""

    action = "skip"

    def __init__(self, *, reason: str, **kwargs):
        super().__init__(**kwargs)
        self.reason = reason.strip() if isinstance(reason, str) else reason

    def check_rules(self) -> None:
        super().check_rules()
        if not isinstance(self.reason, str) or not self.reason:
            raise WorkflowError(Code.INVALID, "invalid reason", errors={"reason": ["say why you skip the sample"]})
        if len(self.reason) > SKIP_REASON_MAX_LENGTH:
            raise WorkflowError(
                Code.INVALID, "invalid reason", errors={"reason": [f"at most {SKIP_REASON_MAX_LENGTH} characters"]}
            )

    def execute(self) -> None:
        self.return_to_queue(ClaimOutcome.RELEASED)
        self.commit(extra_events=[("skip", "reason", None, self.reason)])


class RenewLease(HolderTransition):
    """Extends the holder's lease. Not a write of state or content: the version stays, so a
    client's heartbeat does not make its own next save stale."""

    action = "renew_lease"
    allowed_from = tuple(WORKING_STATE.values())

    def execute(self) -> None:
        self.annotation.lease_expires_at = self.now + lease_duration()
        Annotation.objects.filter(pk=self.annotation.pk).update(lease_expires_at=self.annotation.lease_expires_at)


class ExpireLease(Transition):
    """The system's move when a lease runs out; there is no person, so no role."""

    action = "lease_expired"
    allowed_from = tuple(WORKING_STATE.values())

    def check_rules(self) -> None:
        if self.annotation.lease_expires_at is None or self.annotation.lease_expires_at > self.now:
            raise WorkflowError(Code.TRANSITION_NOT_ALLOWED, f"the lease on sample {self.annotation.pk} is live")

    def execute(self) -> None:
        self.return_to_queue(ClaimOutcome.EXPIRED)
        self.commit()
