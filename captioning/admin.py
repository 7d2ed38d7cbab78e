from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from base.job_views import resume_jobs
from catalog.admin_access import SourceVisibilityAdmin

from . import services
from .models import CaptionDraft, CaptionJob


@admin.register(CaptionJob)
class CaptionJobAdmin(SourceVisibilityAdmin):
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

    def save_model(self, request, obj, form, change):
        if change:
            return  # a job is created once and then only followed
        try:
            job = services.caption_job_create(
                captioner=obj.captioner,
                languages=tuple(code.strip() for code in obj.languages.split(",") if code.strip()),
                filters=obj.filters or {},
                retry_failed_of=obj.retry_failed_of,
                created_by=request.user,
            )
        except services.CaptionJobError as error:
            self.message_user(request, str(error), level=messages.ERROR)
            return
        obj.pk = job.pk
        services.caption_job_enqueue(job=job)
        self.message_user(request, f"caption job #{job.pk} queued")

    @admin.action(description="Run again for the failed samples")
    def retry_failed_samples(self, request, queryset):
        for original in queryset:
            job = services.caption_job_create(
                captioner=original.captioner,
                languages=original.language_list,
                retry_failed_of=original,
                created_by=request.user,
            )
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
