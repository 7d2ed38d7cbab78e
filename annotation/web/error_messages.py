"""What the review pages say when the workflow refuses a request: one translated sentence per
error code (annotation/error_codes.py), so a Chinese or Japanese page never shows the server's
English. The scripts carry the same sentences in frontend_static/review/errors.js."""

from django.utils.translation import gettext_lazy

from ..error_codes import AnnotationErrorCode as Code
from ..error_codes import WorkflowError

ERROR_MESSAGES = {
    Code.INVALID: gettext_lazy("Some of what you sent is not valid."),
    Code.TRANSITION_NOT_ALLOWED: gettext_lazy("This step is not possible in the sample's current state."),
    Code.ROLE_REQUIRED: gettext_lazy("Your role does not allow this step."),
    Code.OWN_WORK: gettext_lazy("You worked on an earlier stage of this sample: someone else must do this one."),
    Code.NOT_ASSIGNEE: gettext_lazy("This sample is reserved for another annotator."),
    Code.NOT_LEASE_HOLDER: gettext_lazy("You do not hold this sample (someone else may be working on it)."),
    Code.ALREADY_VOTED: gettext_lazy("Your vote on this revision is already in."),
    Code.PANEL_FULL: gettext_lazy("The consensus panel of this sample is full."),
    Code.STALE_VERSION: gettext_lazy("Someone saved this sample since you opened it."),
    Code.LEASE_EXPIRED: gettext_lazy("Your lease on this sample expired: claim it again."),
}


def error_message(error: WorkflowError) -> str:
    return str(ERROR_MESSAGES.get(error.code, error.message))
