"""Every way a workflow request can be refused, with the HTTP status the API answers."""

from enum import Enum


class AnnotationErrorCode(Enum):
    INVALID = ("invalid", 400)  # bad input; `errors` names each field
    TRANSITION_NOT_ALLOWED = ("transition_not_allowed", 400)  # not from the current state
    ROLE_REQUIRED = ("role_required", 403)  # e.g. an annotator tried to approve
    OWN_WORK = ("own_work", 403)  # nobody reviews or votes on work they did
    NOT_ASSIGNEE = ("not_assignee", 403)  # the item is reserved for someone else
    NOT_LEASE_HOLDER = ("not_lease_holder", 403)  # someone else holds it, or nobody does
    ALREADY_VOTED = ("already_voted", 403)  # this expert's vote on this revision is in
    PANEL_FULL = ("panel_full", 403)  # the consensus panel has its experts
    NOT_VISIBLE = ("not_visible", 403)  # a restricted sample the person may not see
    STALE_VERSION = ("stale_version", 409)  # based on an older version; `current` has the state
    LEASE_EXPIRED = ("lease_expired", 409)  # claim it again (someone else may have)

    def __init__(self, code: str, http_status: int):
        self.code = code
        self.http_status = http_status


class WorkflowError(Exception):
    """A refused request. `errors` maps field paths (e.g. "regions[0].mask_rle") to messages."""

    def __init__(self, code: AnnotationErrorCode, message: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or {}

    def as_json(self) -> dict:
        body = {"code": self.code.code, "detail": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class ContentErrors:
    """Collects every problem of a payload, so one 400 names them all."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            fields = ", ".join(self.errors)
            raise WorkflowError(AnnotationErrorCode.INVALID, f"invalid {fields}", errors=self.errors)
