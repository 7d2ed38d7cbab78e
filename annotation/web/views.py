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

from ..actions import STAGE_OF_WORKING_STATE
from ..api.serializers import AnnotationDetailSerializer, People
from ..error_codes import WorkflowError
from ..models import AnnotationState, Stage
from ..queue import annotation_claim_next
from ..selectors import access_annotation
from ..template_fields import TEMPLATE_FIELDS
from . import charts, dashboard_selectors, sample_browser, selectors, services
from .error_messages import error_message
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
    empty = request.GET.get("empty", "")
    if empty in STAGE_LABELS:  # a skip found nothing else in the queue
        messages.info(request, _("Nothing is left for you in the %(stage)s queue.") % {"stage": STAGE_LABELS[empty]})
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
        "sent_back": selectors.sent_back_to(request.user),
        "awaiting_experts": selectors.awaiting_other_experts(request.user),
        "figures": selectors.agreement_figures_of(request.user),
        "field_labels": FIELD_LABELS,
        "can_browse": can_browse_samples(request.user),
    }
    if context["can_browse"]:
        context["backlog"] = [
            {"stage": stage, "label": STAGE_LABELS[stage], **counts}
            for stage, counts in dashboard_selectors.backlog_now(request.user).items()
        ]
    return render(request, "review/home.html", context)


@require_POST
@login_required
def claim_next(request, stage: str):
    """Lease the next sample of the stage's queue and open it; back home when the queue is empty."""
    try:
        annotation = annotation_claim_next(user=request.user, stage=stage)
    except WorkflowError as error:
        messages.error(request, error_message(error))
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
    claimable = selectors.claimable_stage(user, annotation)
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
        "state_labels": {state: str(label) for state, label in STATE_LABELS.items()},
        "stage_labels": {str(stage): str(label) for stage, label in STAGE_LABELS.items()},
        # Click segmentation works on the letterboxed asset (ASSET_SIZE square); regions are in
        # original pixels, so the page converts between the two.
        "asset_size": settings.ASSET_SIZE,
        "urls": {
            "home": reverse("review:home"),
            "next": reverse("review:next", args=[mode]) if mode != "view" else None,
            "annotation": reverse("api:annotation-detail", args=[annotation.pk]),
            "revisions": reverse("api:annotation-revisions", args=[annotation.pk]),
            "timeline": reverse("api:annotation-timeline", args=[annotation.pk]),
            "skip": reverse("api:annotation-skip", args=[annotation.pk]),
            # The work page of another sample: "0" stands for its id (skip, jump to a sample).
            "work": reverse("review:work", args=[0]),
            "autocomplete": reverse("api:vocabulary-autocomplete"),
            "validate": reverse("api:vocabulary-validate-captions"),
            "drafts": reverse("api:caption-draft-list"),
            "segment": reverse("api:annotation-segment"),
            "prediction": reverse("api:annotation-prediction", args=[annotation.pk]),
            "accept": reverse("api:annotation-accept-prediction", args=[annotation.pk]),
            "discard": reverse("api:annotation-discard-prediction", args=[annotation.pk]),
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


SORT_COLUMNS = (
    ("sample", gettext_lazy("Sample")),
    ("state", gettext_lazy("Status")),
    ("priority", gettext_lazy("Priority")),
    ("source", gettext_lazy("Source")),
)


@login_required
@in_user_language
def samples(request):
    """The data managers' sample table: column filters, sorting, thumbnails with the regions'
    outlines, selection and bulk actions (the page's script calls the API), keyset pages."""
    if not can_browse_samples(request.user):
        raise PermissionDenied(_("The sample browser is for data managers."))
    filters = sample_browser.SampleFilters.from_query(request.GET)
    after, before = request.GET.get("after") or None, request.GET.get("before") or None
    if after:
        before = None
    try:
        page = sample_browser.sample_page(request.user, filters, after=after, before=before)
    except sample_browser.CursorError:
        filters.errors["after" if after else "before"] = after or before
        page = sample_browser.sample_page(request.user, filters)
    choices = sample_browser.browser_choices(request.user)
    language = _term_language(request)
    query = filters.as_query(sort=False)
    context = {
        "filters": filters,
        "query": filters.as_query(),
        "page": page,
        "rows": [
            {
                "sample": row.sample,
                "annotation": row.annotation,
                "outlines": row.outlines,
                "tally": row.tally,
                "state_label": STATE_LABELS.get(row.annotation.state) if row.annotation else None,
            }
            for row in sample_browser.browser_rows(page.samples)
        ],
        "sort_columns": [
            {
                "name": name,
                "label": label,
                "active": filters.sort.lstrip("-") == name,
                "descending": filters.sort.startswith("-"),
                # A click sorts by the column, newest/highest first; a second click reverses it.
                "query": {**query, "sort": name if filters.sort == f"-{name}" else f"-{name}"},
            }
            for name, label in SORT_COLUMNS
        ],
        "sources": choices["sources"],
        "defect_types": [(term.pk, term.label(language)) for term in choices["defect_types"]],
        "states": [(value, STATE_LABELS[value]) for value, _label in choices["states"]],
        "stages": list(STAGE_LABELS.items()),
        "not_enqueued": sample_browser.NOT_ENQUEUED,
        "browser_data": {
            "annotators": [
                {"id": u.pk, "username": u.get_username()}
                for u in sample_browser.annotators_for_assignment(request.user)
            ],
            "urls": {
                "enqueue": reverse("api:annotation-enqueue"),
                "assign": reverse("api:annotation-assign"),
                "priority": reverse("api:annotation-priority"),
                "versions": reverse("api:dataset-version-list"),
            },
            "filters": {
                "source": filters.source,
                "domain": filters.domain,
                "defect_type": next(
                    (term.slug for term in choices["defect_types"] if term.pk == filters.defect_type), None
                ),
            },
        },
    }
    return render(request, "review/samples.html", context)


@login_required
@in_user_language
def dashboards(request):
    """Throughput, time per sample, agreement and backlog: for data managers per queue and per
    person; everyone else sees their own."""
    filters = dashboard_selectors.DashboardFilters.from_query(request.GET)
    manager = can_browse_samples(request.user)
    if not manager:
        filters.person = request.user.pk
    board = dashboard_selectors.dashboard(request.user, filters)
    stages = [filters.stage] if filters.stage else list(STAGE_LABELS)
    context = {
        "filters": filters,
        "manager": manager,
        "people": dashboard_selectors.people_choices(request.user) if manager else [],
        "stages": list(STAGE_LABELS.items()),
        "day_choices": dashboard_selectors.DashboardFilters.ALLOWED_DAYS,
        "board": board,
        "charts": dashboard_charts(board, stages),
        "totals": [{"label": STAGE_LABELS[stage], **board.totals[stage]} for stage in stages],
        "backlog": [
            {"stage": stage, "label": STAGE_LABELS[stage], **counts}
            for stage, counts in dashboard_selectors.backlog_now(request.user).items()
        ],
    }
    return render(request, "review/dashboards.html", context)


STAGE_COLORS = {Stage.ANNOTATION: "#2458d6", Stage.REVIEW: "#d97706", Stage.CONSENSUS: "#1f8a4c"}


def dashboard_charts(board, stages) -> list[dict]:
    days = board.days
    no_data = _("No finished work in these days.")

    def per_stage(values: dict) -> list[charts.Series]:
        return [charts.Series(str(STAGE_LABELS[stage]), values[stage], STAGE_COLORS[stage]) for stage in stages]

    def table(series: list[charts.Series]) -> list[tuple]:
        return list(zip(days, zip(*(s.values for s in series), strict=True), strict=True))

    return [
        {
            "name": "throughput",
            "title": _("Samples done per day"),
            "svg": charts.stacked_bar_chart(_("Samples done per day"), days, per_stage(board.done), empty=no_data),
            "series": per_stage(board.done),
            "rows": table(per_stage(board.done)),
        },
        {
            "name": "median-time",
            "title": _("Median minutes per sample"),
            "svg": charts.line_chart(
                _("Median minutes per sample"), days, per_stage(board.median_minutes), empty=no_data
            ),
            "series": per_stage(board.median_minutes),
            "rows": table(per_stage(board.median_minutes)),
        },
        {
            "name": "agreement",
            "title": _("Agreement over time"),
            "svg": charts.line_chart(
                _("Agreement over time"),
                days,
                agreement := [
                    charts.Series(str(_("Reviews approved without changes")), board.review_approval, "#d97706"),
                    charts.Series(str(_("Votes agreeing with the decision")), board.consensus_agreement, "#1f8a4c"),
                ],
                unit="%",
                top=100,
                empty=no_data,
            ),
            "series": agreement,
            "rows": table(agreement),
        },
    ]


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
