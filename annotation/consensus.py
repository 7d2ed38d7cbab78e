"""The consensus tally: how far a sample in stage 3 is from a decision.

One rule for the workflow (actions/stages.py decides with it) and for the pages that show
"1 of 2 approvals": a vote is live when it is its expert's latest and was cast on the current
revision; an edit makes earlier approvals stale, and their experts may vote again."""

from dataclasses import asdict, dataclass

from django.conf import settings

from .models import Annotation, AnnotationState, ConsensusVote, VoteDecision


@dataclass(frozen=True)
class ConsensusTally:
    quorum: int  # agreeing live votes that decide
    panel: int  # most experts on one sample
    approvals: int  # live approve or edit votes on the current revision
    rejections: int  # live reject votes on the current revision
    voters: int  # distinct experts who voted on any revision
    stale: int  # experts whose latest vote is on an older revision (they may vote again)

    @property
    def outcome(self) -> str | None:
        """VERIFIED or REJECTED once a quorum agrees, else None (keep voting). When every panel
        member has a live vote and still no quorum agrees (a quorum above a majority), the sample
        is rejected: the panel could not agree that it is right."""
        if self.approvals >= self.quorum:
            return AnnotationState.VERIFIED
        if self.rejections >= self.quorum:
            return AnnotationState.REJECTED
        if self.voters >= self.panel and not self.stale:
            return AnnotationState.REJECTED
        return None

    def as_json(self) -> dict:
        return asdict(self)


def consensus_tally(annotation: Annotation, votes: list[ConsensusVote] | None = None) -> ConsensusTally:
    """The tally of the annotation's votes (all of them, oldest first, when `votes` is given)."""
    if votes is None:
        votes = list(annotation.votes.order_by("id"))
    latest: dict[int, ConsensusVote] = {}
    for vote in votes:
        latest[vote.expert_id] = vote
    live = [vote for vote in latest.values() if vote.revision_id == annotation.current_revision_id]
    approvals = sum(vote.decision != VoteDecision.REJECT for vote in live)
    return ConsensusTally(
        quorum=settings.ANNOTATION_CONSENSUS_QUORUM,
        panel=settings.ANNOTATION_CONSENSUS_PANEL,
        approvals=approvals,
        rejections=len(live) - approvals,
        voters=len(latest),
        stale=len(latest) - len(live),
    )
