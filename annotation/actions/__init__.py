"""The verification workflow's transitions, one small class each (Wagtail's action pattern).

`check()` raises WorkflowError and changes nothing; `execute()` applies the move, bumps the
version and appends the audit events. The caller (services.py) holds the annotation's row lock
inside a transaction and has compared the version the client based its request on.

    UNASSIGNED -> IN_ANNOTATION -> SUBMITTED -> IN_REVIEW -> (CHANGES_REQUESTED -> IN_ANNOTATION)
    | REVIEWED -> IN_CONSENSUS -> VERIFIED | REJECTED            (REVIEWED -> VERIFIED when not sampled)

A claim is a lease; releasing it or letting it expire puts the sample back in its stage's queue.
"""

from .base import (
    ROLE_PERMISSION,
    STAGE_OF_WORKING_STATE,
    STAGE_ROLE,
    WORKING_STATE,
    HolderTransition,
    Transition,
    annotation_write,
    lease_duration,
    state_after_return,
    user_has_role,
)
from .claims import (
    Claim,
    ClaimForAnnotation,
    ClaimForConsensus,
    ClaimForReview,
    ExpireLease,
    Release,
    RenewLease,
    Skip,
    claim_transition_for,
)
from .stages import (
    Approve,
    AttachDraftCaptions,
    ContentTransition,
    RequestChanges,
    SaveContent,
    Submit,
    Vote,
    consensus_outcome,
    consensus_reason,
)

__all__ = [
    "ROLE_PERMISSION",
    "STAGE_OF_WORKING_STATE",
    "STAGE_ROLE",
    "WORKING_STATE",
    "Approve",
    "AttachDraftCaptions",
    "Claim",
    "ClaimForAnnotation",
    "ClaimForConsensus",
    "ClaimForReview",
    "ContentTransition",
    "ExpireLease",
    "HolderTransition",
    "Release",
    "RenewLease",
    "RequestChanges",
    "SaveContent",
    "Skip",
    "Submit",
    "Transition",
    "Vote",
    "annotation_write",
    "claim_transition_for",
    "consensus_outcome",
    "consensus_reason",
    "lease_duration",
    "state_after_return",
    "user_has_role",
]
