from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from base.admin_json import json_readable
from base.job_views import resume_jobs

from . import services
from .admin_access import SourceVisibilityAdmin, SourceVisibilityInline, VisibleSourceFilter, source_filter
from .models import ImportJob, ImportRow, Sample, Source, SourceEvent, SourceRegion
from .selectors import with_visible_sample


class SourceEventInline(SourceVisibilityInline):
    model = SourceEvent
    source_path = "source_id"
    fields = ("at", "kind", "actor", "before_shown", "after_shown")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "who may see it: the audit trail"

    @admin.display(description="before")
    def before_shown(self, event):
        return json_readable(event.before)

    @admin.display(description="after")
    def after_shown(self, event):
        return json_readable(event.after)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Source)
class SourceAdmin(SourceVisibilityAdmin):
    list_display = ("name", "kind", "dataset", "visibility", "created_at")
    list_filter = ("kind", "visibility")
    search_fields = ("name",)
    filter_horizontal = ("members",)
    source_path = "pk"
    inlines = [SourceEventInline]

    def get_readonly_fields(self, request, obj=None):
        # Who may see a source is an admin's decision, and audited (services.source_access_set).
        if services.may_manage_source_access(request.user):
            return ()
        return ("visibility", "members") if obj else ("members",)

    def save_model(self, request, obj, form, change):
        access = {"visibility": form.cleaned_data.get("visibility"), "members": form.cleaned_data.get("members")}
        if not change:
            created = services.source_create(
                name=obj.name,
                kind=obj.kind,
                license=obj.license,
                restricted=access["visibility"] == "restricted",
                provenance=obj.provenance,
                by=request.user,
            )
            obj.pk, obj.created_at = created.pk, created.created_at
        else:
            fields = [name for name in ("name", "kind", "license", "provenance") if name in form.changed_data]
            if fields:
                obj.save(update_fields=fields)
        # Applied once the form's own m2m save is skipped (save_related); kept on the request, not
        # on this ModelAdmin, which every request thread shares.
        request.source_access_to_apply = access if services.may_manage_source_access(request.user) else None

    def save_related(self, request, form, formsets, change):
        # Members go through the audited service, not the form's m2m save.
        form.save_m2m = lambda: None
        super().save_related(request, form, formsets, change)
        access = getattr(request, "source_access_to_apply", None)
        if access is not None:
            source = Source.objects.get(pk=form.instance.pk)
            try:
                services.source_access_set(
                    source=source, by=request.user, visibility=access["visibility"], members=access["members"]
                )
            except services.SourceAccessError as error:
                self.message_user(request, str(error), level=messages.ERROR)


class SourceRegionInline(SourceVisibilityInline):
    model = SourceRegion
    source_path = "sample__source_id"
    fields = ("label", "bbox", "area")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Sample)
class SampleAdmin(SourceVisibilityAdmin):
    source_path = "source_id"
    list_display = ("id", "thumbnail_preview", "source", "external_id", "product", "width", "height", "is_synthetic")
    list_filter = ("is_synthetic", VisibleSourceFilter)
    search_fields = ("external_id", "sha256", "product", "domain")
    readonly_fields = ("sha256", "phash", "width", "height", "original_format", "created_at", "thumbnail_preview")
    inlines = [SourceRegionInline]
    list_select_related = ("source",)
    show_full_result_count = False  # no COUNT(*) over a million rows on every page

    def has_add_permission(self, request):
        return False  # samples come in through an import, which hashes, letterboxes and checks them

    change_list_template = "admin/change_list_with_note.html"

    def changelist_view(self, request, extra_context=None):
        how = "Samples come in through an import (see Import jobs): it hashes, checks and resizes each image."
        return super().changelist_view(request, {**(extra_context or {}), "list_note": how})

    @admin.display(description="image")
    def thumbnail_preview(self, sample):
        if sample.pk is None:
            return "—"  # not stored yet: no file to show
        url = reverse("api:sample-file", args=[sample.pk, "thumbnail"])
        return format_html('<img src="{}" height="48" alt="">', url)


@admin.register(ImportJob)
class ImportJobAdmin(SourceVisibilityAdmin):
    source_path = "source_id"
    list_display = ("id", "format", "source", "status", "processed", "total", "imported", "duplicates", "rejected")
    list_filter = ("status", "format", VisibleSourceFilter)
    readonly_fields = [f.name for f in ImportJob._meta.fields] + ["report"]
    actions = [resume_jobs]

    def has_add_permission(self, request):
        return False  # an import starts from the API or `manage.py import_dataset`, which check the path

    # No Add button here; the list says where an import does start.
    change_list_template = "admin/change_list_with_note.html"

    def changelist_view(self, request, extra_context=None):
        how = (
            "Imports start with `manage.py import_dataset --format FORMAT PATH --source NAME` or "
            "POST /api/import-jobs/ (paths under IMPORT_ROOTS); this list follows them."
        )
        return super().changelist_view(request, {**(extra_context or {}), "list_note": how})

    @admin.display(description="per-row report")
    def report(self, job):
        # A link, not an inline: a large import has too many rows for one page.
        url = reverse("admin:catalog_importrow_changelist") + f"?job__id__exact={job.pk}"
        return format_html('<a href="{}">{} rows</a>', url, job.processed)


class HasWarningsFilter(admin.SimpleListFilter):
    title = "warnings"
    parameter_name = "has_warnings"

    def lookups(self, request, model_admin):
        return [("yes", "With warnings"), ("no", "Without warnings")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(warnings=[])
        if self.value() == "no":
            return queryset.filter(warnings=[])
        return queryset


@admin.register(ImportRow)
class ImportRowAdmin(SourceVisibilityAdmin):
    source_path = "job__source_id"
    list_display = ("job", "item", "outcome", "reason", "warning_list", "visible_sample")
    list_filter = ("outcome", HasWarningsFilter, source_filter("job__source_id"))
    search_fields = ("item", "reason")
    readonly_fields = ("job", "item", "outcome", "reason", "warning_list", "visible_sample")
    exclude = ("warnings", "sample")
    show_full_result_count = False

    def get_queryset(self, request):
        return with_visible_sample(super().get_queryset(request), request.user)

    @admin.display(description="sample")
    def visible_sample(self, row):
        """A duplicate's sample only for those who may see it (it may be a partner's)."""
        if row.visible_sample_id is None:
            return "-"
        url = reverse("admin:catalog_sample_change", args=[row.visible_sample_id])
        return format_html('<a href="{}">sample {}</a>', url, row.visible_sample_id)

    def has_add_permission(self, request):
        return False  # rows are what an import did; nobody writes them by hand

    @admin.display(description="warnings")
    def warning_list(self, row):
        return "; ".join(row.warnings)
