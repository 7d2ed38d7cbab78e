from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from base.admin_json import PrettyJSONWidget, json_help
from base.job_views import resume_jobs
from catalog.admin_access import SourceVisibilityAdmin

from . import services
from .models import CaptionDraft, CaptionJob

FILTERS_HELP = json_help(
    {
        "sources": "list of source ids (only sources you may see)",
        "states": "list of annotation states, e.g. unassigned, in_annotation",
        "samples": "list of sample ids",
        "limit": "at most this many samples",
    },
    {"sources": [1], "states": ["unassigned"], "limit": 200},
)


def _language_codes(text: str) -> tuple[str, ...]:
    return tuple(code.strip() for code in (text or "").split(",") if code.strip())


class CaptionJobForm(forms.ModelForm):
    """Checks the job with the service's own rules (services.caption_job_check): a wrong filter is a
    field error on a form that keeps what was typed."""

    class Meta:
        model = CaptionJob
        fields = ("captioner", "languages", "filters", "retry_failed_of")
        widgets = {"filters": PrettyJSONWidget(attrs={"rows": 6})}
        help_texts = {"filters": FILTERS_HELP, "languages": "Comma-separated: en, zh, ja."}

    def __init__(self, *args, requested_by=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.requested_by = requested_by

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            services.caption_job_check(
                captioner=data.get("captioner"),
                languages=_language_codes(data.get("languages")),
                filters=data.get("filters"),
                retry_failed_of=data.get("retry_failed_of"),
                created_by=self.requested_by,
            )
        except services.CaptionJobError as error:
            self.add_error(error.field if error.field in self.fields else None, str(error))
        return data


@admin.register(CaptionJob)
class CaptionJobAdmin(SourceVisibilityAdmin):
    form = CaptionJobForm
    sources_path = "sources"
    list_display = (
        "id",
        "captioner",
        "languages",
        "status",
        "progress",
        "drafted",
        "flagged",
        "skipped",
        "failed",
        "prompt_tokens",
        "completion_tokens",
        "estimated_cost",
        "created_at",
    )
    list_filter = ("status", "captioner")
    fields = ("captioner", "languages", "filters", "retry_failed_of")
    actions = ["retry_failed_samples", "cancel_jobs", resume_jobs]

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj else ()

    @admin.display(description="progress")
    def progress(self, job):
        return f"{job.processed}/{job.total}"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class FormForThisPerson(form_class):
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, requested_by=request.user, **form_kwargs)

        return FormForThisPerson

    def save_model(self, request, obj, form, change):
        if change:
            return  # a job is created once and then only followed
        # The form checked the job with the same rules (CaptionJobForm).
        job = services.caption_job_create(
            captioner=obj.captioner,
            languages=_language_codes(obj.languages),
            filters=obj.filters or {},
            retry_failed_of=obj.retry_failed_of,
            created_by=request.user,
        )
        obj.pk = job.pk
        services.caption_job_enqueue(job=job)
        self.message_user(request, f"caption job #{job.pk} queued")

    @admin.action(description="Run again for the failed samples")
    def retry_failed_samples(self, request, queryset):
        for original in queryset:
            try:
                job = services.caption_job_create(
                    captioner=original.captioner,
                    languages=original.language_list,
                    retry_failed_of=original,
                    created_by=request.user,
                )
            except services.CaptionJobError as error:
                self.message_user(request, f"caption job #{original.pk}: {error}", level=messages.ERROR)
                continue
            services.caption_job_enqueue(job=job)
            self.message_user(request, f"caption job #{job.pk} queued for the failed samples of #{original.pk}")

    @admin.action(description="Cancel")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            services.caption_job_cancel(job=job)


@admin.register(CaptionDraft)
class CaptionDraftAdmin(SourceVisibilityAdmin):
    source_path = "annotation__source_id"
    list_display = ("id", "sample_link", "generator", "prompt_version", "passed", "created_at")
    list_filter = ("passed", "generator", "prompt_version")
    readonly_fields = [f.name for f in CaptionDraft._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    @admin.display(description="sample")
    def sample_link(self, draft):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:catalog_sample_change", args=[draft.annotation_id]),
            draft.annotation_id,
        )
