"""Every way a workflow request can be refused, with the HTTP status the API answers."""

from enum import StrEnum

from base.api_errors import ApiError
from base.strict_input import unknown_key_errors


class AnnotationErrorCode(StrEnum):
    INVALID = "invalid"  # bad input; `errors` names each field
    TRANSITION_NOT_ALLOWED = "transition_not_allowed"  # not from the current state
    ROLE_REQUIRED = "role_required"  # e.g. an annotator tried to approve
    OWN_WORK = "own_work"  # nobody reviews or votes on work they did
    NOT_ASSIGNEE = "not_assignee"  # the item is reserved for someone else
    NOT_LEASE_HOLDER = "not_lease_holder"  # someone else holds it, or nobody does
    ALREADY_VOTED = "already_voted"  # this expert's vote on this revision is in
    PANEL_FULL = "panel_full"  # the consensus panel has its experts
    STALE_VERSION = "stale_version"  # based on an older version; `current` has the state
    LEASE_EXPIRED = "lease_expired"  # claim it again (someone else may have)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self]


HTTP_STATUS = {
    AnnotationErrorCode.INVALID: 400,
    AnnotationErrorCode.TRANSITION_NOT_ALLOWED: 400,
    AnnotationErrorCode.ROLE_REQUIRED: 403,
    AnnotationErrorCode.OWN_WORK: 403,
    AnnotationErrorCode.NOT_ASSIGNEE: 403,
    AnnotationErrorCode.NOT_LEASE_HOLDER: 403,
    AnnotationErrorCode.ALREADY_VOTED: 403,
    AnnotationErrorCode.PANEL_FULL: 403,
    AnnotationErrorCode.STALE_VERSION: 409,
    AnnotationErrorCode.LEASE_EXPIRED: 409,
}


class WorkflowError(ApiError):
    """A refused request. `errors` maps field paths (e.g. "regions[0].mask_rle") to messages;
    `code` is the AnnotationErrorCode (a str, so it is also what the client reads)."""

    def __init__(self, code: AnnotationErrorCode, message: str, *, errors: dict[str, list[str]] | None = None):
        super().__init__(code, code.http_status, message, errors=errors)
        self.message = message


class ContentErrors:
    """Collects every problem of a payload, so one 400 names them all."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def add_unknown_keys(self, item: dict, accepted: tuple[str, ...], path: str) -> bool:
        """Names each key of the object at `path` that is not accepted ("regions[0].colour"), as the
        API's input serializers do (base/strict_input.py); True when there was one."""
        unknown = unknown_key_errors(item, accepted=accepted)
        for key, messages in unknown.items():
            for message in messages:
                self.add(f"{path}.{key}", message)
        return bool(unknown)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            fields = ", ".join(self.errors)
            raise WorkflowError(AnnotationErrorCode.INVALID, f"invalid {fields}", errors=self.errors)
