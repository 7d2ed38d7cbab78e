"""The review pages. Views are thin: the workflow's writes go through annotation.services (or the
REST API the pages' scripts call), reads through selectors; these views render and redirect."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from ..actions import STAGE_OF_WORKING_STATE, claim_transition_for, user_has_role
from ..api.serializers import AnnotationDetailSerializer, People
from ..error_codes import WorkflowError
from ..models import AnnotationState, Stage
from ..queue import annotation_claim_next
from ..selectors import access_annotation
from ..template_fields import TEMPLATE_FIELDS
from . import selectors, services
from .language import in_user_language

STAGE_LABELS = {
    Stage.ANNOTATION: gettext_lazy("Annotation"),
    Stage.REVIEW: gettext_lazy("Peer review"),
    Stage.CONSENSUS: gettext_lazy("Consensus"),
}
STATE_LABELS = {
    AnnotationState.UNASSIGNED: gettext_lazy("Waiting for annotation"),
    AnnotationState.IN_ANNOTATION: gettext_lazy("In annotation"),
    AnnotationState.SUBMITTED: gettext_lazy("Submitted"),
    AnnotationState.IN_REVIEW: gettext_lazy("In review"),
    AnnotationState.CHANGES_REQUESTED: gettext_lazy("Changes requested"),
    AnnotationState.REVIEWED: gettext_lazy("Reviewed"),
    AnnotationState.IN_CONSENSUS: gettext_lazy("In consensus"),
    AnnotationState.VERIFIED: gettext_lazy("Verified"),
    AnnotationState.REJECTED: gettext_lazy("Rejected"),
}
FIELD_LABELS = {
    "product": gettext_lazy("Product"),
    "materials": gettext_lazy("Materials"),
    "defect_types": gettext_lazy("Defect types"),
    "locations": gettext_lazy("Locations"),
    "morphology": gettext_lazy("Morphology"),
    "root_causes": gettext_lazy("Root causes"),
}
CLAIM_OUTCOME_LABELS = {
    "": gettext_lazy("open"),
    "done": gettext_lazy("done"),
    "released": gettext_lazy("released"),
    "expired": gettext_lazy("expired"),
}


class SignInView(auth_views.LoginView):
    template_name = "review/login.html"
    redirect_authenticated_user = True


@login_required
@in_user_language
def home(request):
    queues = selectors.queues_of(request.user)
    recent = selectors.recent_work_of(request.user)
    context = {
        "queues": [
            {
                "stage": q.stage,
                "label": STAGE_LABELS[q.stage],
                "waiting": q.waiting,
                "more_than_cap": q.more_than_cap,
                "cap": selectors.QUEUE_COUNT_CAP,
                "held": q.held,
            }
            for q in queues
        ],
        "recent": [
            {
                "claim": claim,
                "stage_label": STAGE_LABELS.get(claim.stage, claim.stage),
                "outcome_label": CLAIM_OUTCOME_LABELS.get(claim.outcome, claim.outcome),
                "state_label": STATE_LABELS.get(claim.annotation.state, claim.annotation.state),
            }
            for claim in recent
        ],
        "figures": selectors.agreement_figures_of(request.user),
        "field_labels": FIELD_LABELS,
        "can_browse": can_browse_samples(request.user),
    }
    return render(request, "review/home.html", context)


@require_POST
@login_required
def claim_next(request, stage: str):
    """Lease the next sample of the stage's queue and open it; back home when the queue is empty."""
    try:
        annotation = annotation_claim_next(user=request.user, stage=stage)
    except WorkflowError as error:
        messages.error(request, error.message)
        return redirect("review:home")
    if annotation is None:
        label = STAGE_LABELS.get(stage, stage)
        messages.info(request, _("Nothing is left for you in the %(stage)s queue.") % {"stage": label})
        return redirect("review:home")
    return redirect("review:work", sample_id=annotation.pk)


@login_required
@in_user_language
def work(request, sample_id: int):
    """The one work page of the three stages: what the page lets you do follows the stage of the
    sample you hold; a sample you do not hold is shown read-only (with a claim button if you may)."""
    user = request.user
    annotation = access_annotation(user, sample_id)
    detail = AnnotationDetailSerializer(annotation, context={"request": request, "people": People(user)}).data
    holding = annotation.lease_holder_id == user.pk and annotation.lease_is_live()
    mode = STAGE_OF_WORKING_STATE.get(annotation.state, "view") if holding else "view"
    claimable = None
    if not annotation.lease_is_live():
        try:
            transition = claim_transition_for(annotation)
        except WorkflowError:
            transition = None
        if transition is not None and user_has_role(user, transition.role):
            claimable = transition.stage
    page = {
        "sample": annotation.pk,
        "detail": detail,
        "mode": mode,
        "claimable": claimable,
        "me": {"id": user.pk, "username": user.get_username()},
        "template": [
            {
                "name": spec.name,
                "facet": spec.facet,
                "multiple": spec.multiple,
                "required": spec.required,
                "label": str(FIELD_LABELS[spec.name]),
            }
            for spec in TEMPLATE_FIELDS
        ],
        "required_languages": list(settings.ANNOTATION_REQUIRED_LANGUAGES),
        # Click segmentation works on the letterboxed asset (ASSET_SIZE square); regions are in
        # original pixels, so the page converts between the two.
        "asset_size": settings.ASSET_SIZE,
        "urls": {
            "home": reverse("review:home"),
            "next": reverse("review:next", args=[mode]) if mode != "view" else None,
            "annotation": reverse("api:annotation-detail", args=[annotation.pk]),
            "revisions": reverse("api:annotation-revisions", args=[annotation.pk]),
            "autocomplete": reverse("api:vocabulary-autocomplete"),
            "validate": reverse("api:vocabulary-validate-captions"),
            "drafts": reverse("api:caption-draft-list"),
            "segment": reverse("api:annotation-segment"),
        },
    }
    context = {
        "annotation": annotation,
        "page": page,
        "mode": mode,
        "stage_label": STAGE_LABELS.get(mode, ""),
        "state_label": STATE_LABELS.get(annotation.state, annotation.state),
    }
    return render(request, "review/work.html", context)


def can_browse_samples(user) -> bool:
    return user.has_perm("annotation.assign_annotation")


@login_required
@in_user_language
def samples(request):
    """The data managers' sample browser: filters, thumbnails, keyset pages."""
    if not can_browse_samples(request.user):
        raise PermissionDenied(_("The sample browser is for data managers."))
    filters = selectors.SampleFilters.from_query(request.GET)
    after, before = request.GET.get("after", ""), request.GET.get("before", "")
    for name, value in (("after", after), ("before", before)):
        if value and not value.isdigit():
            filters.errors[name] = value
    page = selectors.sample_page(
        request.user,
        filters,
        after=int(after) if after.isdigit() else None,
        before=int(before) if before.isdigit() and not after.isdigit() else None,
    )
    choices = selectors.browser_choices(request.user)
    context = {
        "filters": filters,
        "query": filters.as_query(),
        "page": page,
        "rows": [
            {
                "sample": sample,
                "annotation": getattr(sample, "annotation", None),
                "state_label": STATE_LABELS.get(sample.annotation.state) if hasattr(sample, "annotation") else None,
            }
            for sample in page.samples
        ],
        "sources": choices["sources"],
        "defect_types": [(term.pk, term.label(_term_language(request))) for term in choices["defect_types"]],
        "states": [(value, STATE_LABELS[value]) for value, _label in choices["states"]],
        "stages": list(STAGE_LABELS.items()),
        "not_enqueued": selectors.NOT_ENQUEUED,
    }
    return render(request, "review/samples.html", context)


def _term_language(request) -> str:
    """The vocabulary's language code for the page's language (zh-hans -> zh)."""
    return (getattr(request, "LANGUAGE_CODE", "en") or "en").split("-")[0]


@require_POST
@login_required
def language(request):
    """Switch the interface language: remembered on the user, and set as the language cookie."""
    code = request.POST.get("language", "")
    try:
        services.user_set_language(user=request.user, language=code)
    except services.LanguageError as error:
        return HttpResponseBadRequest(str(error))
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("review:home")
    response = redirect(target)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response
