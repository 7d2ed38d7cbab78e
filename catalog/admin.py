from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import ImportJob, ImportRow, Sample, Source, SourceRegion


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "dataset", "visibility", "created_at")
    list_filter = ("kind", "visibility")
    search_fields = ("name",)
    filter_horizontal = ("members",)


class SourceRegionInline(admin.TabularInline):
    model = SourceRegion
    fields = ("label", "bbox", "area")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail_preview", "source", "external_id", "product", "width", "height", "is_synthetic")
    list_filter = ("is_synthetic", "source")
    search_fields = ("external_id", "sha256", "product", "domain")
    readonly_fields = ("sha256", "phash", "width", "height", "original_format", "created_at", "thumbnail_preview")
    inlines = [SourceRegionInline]
    list_select_related = ("source",)
    show_full_result_count = False  # no COUNT(*) over a million rows on every page

    @admin.display(description="image")
    def thumbnail_preview(self, sample):
        url = reverse("api:sample-file", args=[sample.pk, "thumbnail"])
        return format_html('<img src="{}" height="48" alt="">', url)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "format", "source", "status", "processed", "total", "imported", "duplicates", "rejected")
    list_filter = ("status", "format")
    readonly_fields = [f.name for f in ImportJob._meta.fields] + ["report"]

    @admin.display(description="per-row report")
    def report(self, job):
        # A link, not an inline: a large import has too many rows for one page.
        url = reverse("admin:catalog_importrow_changelist") + f"?job__id__exact={job.pk}"
        return format_html('<a href="{}">{} rows</a>', url, job.processed)


@admin.register(ImportRow)
class ImportRowAdmin(admin.ModelAdmin):
    list_display = ("job", "item", "outcome", "reason", "sample")
    list_filter = ("outcome",)
    search_fields = ("item", "reason")
    readonly_fields = ("job", "item", "outcome", "reason", "sample")
    show_full_result_count = False
