"""Admin: read-only views of annotations, revisions and the audit trail (state changes go through
the workflow, never through a form), agreement reports, and a few audited data-manager actions."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from base.admin_json import json_readable
from base.job_views import resume_jobs
from catalog.admin_access import SourceVisibilityAdmin
from vocabulary.models import LANGUAGES

from . import services
from .models import AgreementReport, Annotation, AnnotationRevision, AuditEvent, Caption, RevisionTerm
from .services import annotations_set_priority
from .template_fields import TEMPLATE_FIELDS


class ReadOnlyAdmin(SourceVisibilityAdmin):
    # The per-sample and per-person links filter on these.
    linked_lookups = ("annotation__sample__id", "actor__id__exact")

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.linked_lookups or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyAdmin):
    source_path = "source_id"
    list_display = (
        "sample_id",
        "state",
        "queue",
        "is_gold",
        "priority",
        "annotator",
        "reviewer",
        "lease_holder",
        "version",
        "updated_at",
    )
    list_filter = ("state", "queue", "is_gold", "consensus_reason", "has_disagreement")
    search_fields = ("=sample__id", "sample__external_id")
    list_select_related = ("annotator", "reviewer", "lease_holder")
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    readonly_fields = ("trail", "timeline")
    actions = ["mark_gold", "unmark_gold", "raise_priority", "reset_priority"]
    TIMELINE_LENGTH = 50

    @admin.display(description="audit timeline (newest first)")
    def timeline(self, annotation):
        events = list(annotation.audit_events.select_related("actor").order_by("-id")[: self.TIMELINE_LENGTH + 1])
        if not events:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    event.actor.username if event.actor else "system",
                    event.action,
                    event.field or "",
                    json_readable(event.before),
                    json_readable(event.after),
                    event.version,
                )
                for event in events[: self.TIMELINE_LENGTH]
            ),
        )
        more = ""
        if len(events) > self.TIMELINE_LENGTH:
            url = reverse("admin:annotation_auditevent_changelist") + f"?annotation__sample__id={annotation.pk}"
            more = format_html('<p><a href="{}">all events</a></p>', url)
        return format_html(
            '<table style="max-width:100%;table-layout:auto"><thead><tr><th>when</th><th>who</th><th>action</th>'
            "<th>field</th><th>before</th><th>after</th><th>version</th></tr></thead><tbody>{}</tbody></table>{}",
            rows,
            more,
        )

    @admin.display(description="revisions and audit trail")
    def trail(self, annotation):
        revisions = (
            reverse("admin:annotation_annotationrevision_changelist") + f"?annotation__sample__id={annotation.pk}"
        )
        events = reverse("admin:annotation_auditevent_changelist") + f"?annotation__sample__id={annotation.pk}"
        return format_html('<a href="{}">revisions</a> · <a href="{}">audit events</a>', revisions, events)

    def has_assign_permission(self, request):
        return request.user.has_perm("annotation.assign_annotation")

    def _set(self, request, queryset, **change):
        count = annotations_set_priority(by=request.user, sample_ids=queryset.values_list("pk", flat=True), **change)
        self.message_user(request, f"{count} annotation(s) changed (audited).", messages.SUCCESS)

    @admin.action(description="Mark as gold (claimed first)", permissions=["assign"])
    def mark_gold(self, request, queryset):
        self._set(request, queryset, is_gold=True)

    @admin.action(description="Unmark gold", permissions=["assign"])
    def unmark_gold(self, request, queryset):
        self._set(request, queryset, is_gold=False)

    @admin.action(description="Raise priority to 10", permissions=["assign"])
    def raise_priority(self, request, queryset):
        self._set(request, queryset, priority=10)

    @admin.action(description="Reset priority to 0", permissions=["assign"])
    def reset_priority(self, request, queryset):
        self._set(request, queryset, priority=0)


class RevisionTermInline(admin.TabularInline):
    model = RevisionTerm
    fields = ("field", "term", "position")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class CaptionInline(admin.TabularInline):
    model = Caption
    fields = ("language", "text", "author", "generator")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(ReadOnlyAdmin):
    source_path = "annotation__source_id"
    list_display = ("annotation_id", "number", "stage", "author", "created_at")
    list_filter = ("stage",)
    search_fields = ("=annotation__sample__id",)
    list_select_related = ("author",)
    show_full_result_count = False
    fields = ("annotation", "number", "stage", "author", "based_on", "notes", "vocabulary_version", "created_at")
    readonly_fields = fields
    inlines = [RevisionTermInline, CaptionInline]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    source_path = "annotation__source_id"
    """Append-only. Per sample: ?annotation__sample__id=N (linked from the annotation);
    per person: click an actor, or ?actor__id__exact=N."""

    list_display = (
        "created_at",
        "sample_link",
        "actor_link",
        "action",
        "field",
        "before_shown",
        "after_shown",
        "version",
    )
    fields = ("created_at", "annotation", "actor", "action", "field", "before_shown", "after_shown", "version")
    readonly_fields = fields
    list_filter = ("action",)
    search_fields = ("=annotation__sample__id", "actor__username", "field")
    list_select_related = ("actor",)
    show_full_result_count = False

    @admin.display(description="before")
    def before_shown(self, event):
        return json_readable(event.before)

    @admin.display(description="after")
    def after_shown(self, event):
        return json_readable(event.after)

    @admin.display(description="sample")
    def sample_link(self, event):
        url = reverse("admin:annotation_auditevent_changelist") + f"?annotation__sample__id={event.annotation_id}"
        return format_html('<a href="{}">{}</a>', url, event.annotation_id)

    @admin.display(description="who")
    def actor_link(self, event):
        if event.actor is None:
            return "system"
        url = reverse("admin:annotation_auditevent_changelist") + f"?actor__id__exact={event.actor_id}"
        return format_html('<a href="{}">{}</a>', url, event.actor.username)


@admin.register(AgreementReport)
class AgreementReportAdmin(SourceVisibilityAdmin):
    """Add one to compute it (a Celery task); open it to read the figures."""

    sources_path = "sources"

    list_display = ("id", "scope", "source", "user", "status", "created_at", "finished_at")
    list_filter = ("scope", "status")
    list_select_related = ("source", "user")
    actions = [resume_jobs]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("scope", "source", "user")
        return (
            "scope",
            "source",
            "user",
            "status",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
            "next_batch",
            "figures",
        )

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        report = services.agreement_report_request(by=request.user, scope=obj.scope, source=obj.source, user=obj.user)
        obj.pk, obj.created_at = report.pk, report.created_at

    @admin.display(description="figures")
    def figures(self, report):
        result = report.result
        if not result:
            return "-"
        fields = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    spec.name,
                    result["fields"][spec.name]["stage1_vs_stage2"]["n"],
                    result["fields"][spec.name]["stage1_vs_stage2"]["observed"],
                    result["fields"][spec.name]["stage1_vs_stage2"]["cohen_kappa"],
                    result["fields"][spec.name]["all_raters"]["krippendorff_alpha"],
                )
                for spec in TEMPLATE_FIELDS
            ),
        )
        masks = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((k, v["n"], v["mean_iou"]) for k, v in result["masks"].items()),
        )
        captions = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    language,
                    result["captions"][language]["draft_vs_stage1"]["mean_normalized_edit_distance"],
                    result["captions"][language]["stage1_vs_final"]["mean_normalized_edit_distance"],
                )
                for language in LANGUAGES
            ),
        )
        annotators = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (a["username"], a["items"], a["changes_requested"], a["rejected"], a["mean_iou_vs_final"])
                for a in result["annotators"]
            ),
        )
        # reports computed before pre-annotation existed have no model section
        model = result.get("model_vs_final") or {"samples": 0, "fields": {}, "masks": {"n": 0, "mean_iou": None}}
        model_rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, v["n"], v["observed"], v["cohen_kappa"]) for name, v in model["fields"].items()),
        )
        return format_html(
            "<p>items: {}</p>"
            "<table><tr><th>field</th><th>n</th><th>observed (1 vs 2)</th><th>Cohen's kappa (1 vs 2)</th>"
            "<th>Krippendorff's alpha (all raters)</th></tr>{}</table>"
            "<table><tr><th>masks</th><th>n</th><th>mean IoU</th></tr>{}</table>"
            "<table><tr><th>captions</th><th>draft vs stage 1</th><th>stage 1 vs final</th></tr>{}</table>"
            "<table><tr><th>annotator</th><th>items</th><th>changes requested</th><th>rejected</th>"
            "<th>mean IoU vs final</th></tr>{}</table>"
            "<p>model vs final: {} pre-annotated samples, mask IoU {} (n={})</p>"
            "<table><tr><th>field (model vs final)</th><th>n</th><th>observed</th><th>Cohen's kappa</th></tr>{}</table>",
            result["items"],
            fields,
            masks,
            captions,
            annotators,
            model["samples"],
            model["masks"]["mean_iou"],
            model["masks"]["n"],
            model_rows,
        )
