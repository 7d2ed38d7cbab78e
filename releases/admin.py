from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from base.admin_json import PrettyJSONWidget, json_help
from catalog.admin_access import SourceVisibilityAdmin

from . import exports, versions
from .models import DatasetVersion, Export, ExportFormat, ExportShard
from .near_duplicates import version_near_duplicates

NEAR_DUPLICATE_GROUPS_SHOWN = 50


def _bars(counts: dict, colour: str = "#417690") -> str:
    """A small horizontal bar chart as inline SVG: no JavaScript, no external library."""
    if not counts:
        return "—"
    items = list(counts.items())[:25]
    top = max(value for _, value in items) or 1
    rows = format_html_join(
        "",
        '<text x="0" y="{}" font-size="11">{}</text><rect x="190" y="{}" width="{}" height="12" fill="{}"/>'
        '<text x="{}" y="{}" font-size="11">{}</text>',
        (
            (
                i * 16 + 11,
                str(label)[:30],
                i * 16 + 1,
                max(1, int(260 * value / top)),
                colour,
                196 + int(260 * value / top),
                i * 16 + 11,
                value,
            )
            for i, (label, value) in enumerate(items)
        ),
    )
    return format_html('<svg width="520" height="{}" role="img">{}</svg>', len(items) * 16 + 4, rows)


SELECTION_HELP = json_help(
    {
        "sources": "list of source ids (only sources you may see)",
        "domains": "list of domain slugs or names",
        "defect_types": "list of defect-type term slugs",
        "licenses": "list of license texts",
        "include_restricted": "true to include restricted sources you are a member of (default false)",
        "include_synthetic": "false to leave out Defect-Gen samples (default true)",
    },
    {"sources": [1, 2], "defect_types": ["def-scratch"], "include_synthetic": False},
)
SPLIT_PLAN_HELP = json_help(
    {
        "train / val / test": "ratios, non-negative, summing to 1 (default 0.8 / 0.1 / 0.1)",
        "seed": "integer; the same seed gives the same split",
        "stratify": "true to split each defect type separately",
        "held_out_defect_types": "defect-type slugs whose samples all go to test (open vocabulary)",
        "held_out_domains": "domains whose samples all go to test (unseen domains)",
    },
    {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 0, "stratify": True},
)


class DatasetVersionForm(forms.ModelForm):
    """Checks the selection and split plan with the service's own rules, so a bad plan is a field
    error on a form that keeps what was typed (not a message after the save)."""

    class Meta:
        model = DatasetVersion
        fields = ("title", "description", "selection", "split_plan")
        widgets = {"selection": PrettyJSONWidget(), "split_plan": PrettyJSONWidget()}
        help_texts = {"selection": SELECTION_HELP, "split_plan": SPLIT_PLAN_HELP}

    def __init__(self, *args, requested_by=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.requested_by = requested_by

    def clean_selection(self):
        try:
            return versions.selection_check(self.cleaned_data.get("selection"), requested_by=self.requested_by)
        except versions.VersionError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_split_plan(self):
        plan = self.cleaned_data.get("split_plan")
        try:
            versions.split_plan_parse(plan)
        except versions.VersionError as error:
            raise forms.ValidationError(str(error)) from None
        return plan


@admin.register(DatasetVersion)
class DatasetVersionAdmin(SourceVisibilityAdmin):
    form = DatasetVersionForm
    sources_path = "sources"  # one hidden source hides the version whole
    list_display = ("number", "title", "status", "sample_count", "vocabulary_version", "created_at")
    list_filter = ("status",)
    readonly_fields = (
        "number",
        "status",
        "sample_count",
        "vocabulary_version",
        "created_by",
        "created_at",
        "published_at",
        "split_chart",
        "domain_chart",
        "defect_type_chart",
        "source_chart",
        "caption_chart",
        "caption_length_chart",
        "region_chart",
        "synthetic_share",
        "near_duplicate_groups",
    )
    fields = ("title", "description", "selection", "split_plan") + readonly_fields
    actions = [
        "publish",
        "export_webdataset",
        "export_coco",
        "export_qa",
        "export_captions",
        "export_anomalib",
        "export_yolo",
    ]

    def get_fields(self, request, obj=None):
        # The add page asks only for what makes a version; the figures exist once it is frozen.
        return self.fields if obj else ("title", "description", "selection", "split_plan")

    def get_readonly_fields(self, request, obj=None):
        # A version is frozen when it is made: only the title and description stay editable.
        return self.readonly_fields + ("selection", "split_plan") if obj else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class FormForThisPerson(form_class):
            def __init__(self, *args, **form_kwargs):
                super().__init__(*args, requested_by=request.user, **form_kwargs)

        return FormForThisPerson

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["title", "description"])
            return
        # The form checked the selection and plan with the same rules (DatasetVersionForm).
        version = versions.dataset_version_create(
            title=obj.title,
            description=obj.description,
            selection=obj.selection or {},
            split_plan=obj.split_plan or {},
            created_by=request.user,
        )
        obj.pk, obj.number = version.pk, version.number
        self.message_user(request, f"{version.name} frozen with {version.sample_count} samples")
        report = version_near_duplicates(version=version, requested_by=request.user)
        if report.groups:
            self.message_user(
                request,
                f"{len(report.groups)} near-duplicate group(s) inside it: see its page before publishing",
                level=messages.WARNING,
            )

    @admin.display(description="Near-duplicate groups")
    def near_duplicate_groups(self, version):
        """Computed when the page is shown, largest groups first. Every sample of the version is the
        viewer's to see: the admin shows a version only to those who see all its sources (without_hidden)."""
        if version.pk is None:
            return "-"
        report = version_near_duplicates(version=version, requested_by=None)
        lines = [
            format_html(
                "{} samples: {} (embedding distance {}, pHash bits {})",
                len(group.sample_ids),
                ", ".join(map(str, group.sample_ids[:20])) + (" ..." if len(group.sample_ids) > 20 else ""),
                "-" if group.min_cosine_distance is None else f"{group.min_cosine_distance:.4f}",
                "-" if group.min_hamming is None else group.min_hamming,
            )
            for group in report.groups[:NEAR_DUPLICATE_GROUPS_SHOWN]
        ]
        head = f"{len(report.groups)} group(s) among {report.samples} samples"
        notes = [*report.warnings]
        if len(report.groups) > NEAR_DUPLICATE_GROUPS_SHOWN:
            notes.append(f"the largest {NEAR_DUPLICATE_GROUPS_SHOWN} are shown; the API lists them all")
        return format_html(
            "{}<br>{}{}",
            head,
            format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)),
            format_html_join("", "<br><em>{}</em>", ((note,) for note in notes)),
        )

    @admin.action(description="Publish (make immutable and exportable)")
    def publish(self, request, queryset):
        for version in queryset:
            try:
                versions.dataset_version_publish(version=version)
            except versions.VersionError as error:
                self.message_user(request, str(error), level=messages.ERROR)

    def _export(self, request, queryset, format):
        for version in queryset:
            target = str(settings.EXPORT_ROOT)
            try:
                export = exports.export_create(version=version, format=format, target=target, created_by=request.user)
            except exports.ExportError as error:
                self.message_user(request, str(error), level=messages.ERROR)
                continue
            exports.export_start(export=export)
            self.message_user(request, f"export #{export.pk} of {version.name} to {target}/{version.name} queued")

    @admin.action(description="Export as WebDataset shards (to EXPORT_ROOT)")
    def export_webdataset(self, request, queryset):
        self._export(request, queryset, ExportFormat.WEBDATASET)

    @admin.action(description="Export as COCO JSON (to EXPORT_ROOT)")
    def export_coco(self, request, queryset):
        self._export(request, queryset, ExportFormat.COCO)

    @admin.action(description="Export QA pairs as JSONL (to EXPORT_ROOT)")
    def export_qa(self, request, queryset):
        self._export(request, queryset, ExportFormat.QA)

    @admin.action(description="Export captions as CSV (to EXPORT_ROOT)")
    def export_captions(self, request, queryset):
        self._export(request, queryset, ExportFormat.CAPTIONS)

    @admin.action(description="Export as anomalib / MVTec AD folders (to EXPORT_ROOT)")
    def export_anomalib(self, request, queryset):
        self._export(request, queryset, ExportFormat.ANOMALIB)

    @admin.action(description="Export as YOLO labels (to EXPORT_ROOT)")
    def export_yolo(self, request, queryset):
        self._export(request, queryset, ExportFormat.YOLO)

    def _stat(self, version, key):
        return _bars(version.statistics.get(key, {}))

    @admin.display(description="samples per split")
    def split_chart(self, version):
        return self._stat(version, "per_split")

    @admin.display(description="samples per domain")
    def domain_chart(self, version):
        return self._stat(version, "per_domain")

    @admin.display(description="samples per defect type")
    def defect_type_chart(self, version):
        return self._stat(version, "per_defect_type")

    @admin.display(description="samples per source")
    def source_chart(self, version):
        return self._stat(version, "per_source")

    @admin.display(description="captions per language")
    def caption_chart(self, version):
        return self._stat(version, "captions_per_language")

    @admin.display(description="English caption length (words)")
    def caption_length_chart(self, version):
        return self._stat(version, "english_caption_words")

    @admin.display(description="regions per sample")
    def region_chart(self, version):
        return self._stat(version, "regions_per_sample")

    @admin.display(description="synthetic share")
    def synthetic_share(self, version):
        return f"{100 * version.statistics.get('synthetic_share', 0):.1f}%"


class ExportShardInline(admin.TabularInline):
    model = ExportShard
    fields = ("index", "name", "split", "samples", "status", "bytes", "sha256", "index_sha256")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


@admin.register(Export)
class ExportAdmin(SourceVisibilityAdmin):
    sources_path = "version__sources"
    list_display = ("id", "version", "format", "target", "status", "progress", "samples_written", "created_at")
    list_filter = ("status", "format")
    readonly_fields = [f.name for f in Export._meta.fields if f.name != "classes"]
    exclude = ("classes",)
    inlines = [ExportShardInline]
    actions = ["resume"]

    def has_add_permission(self, request):
        return False  # exports start from a dataset version's actions

    @admin.display(description="progress")
    def progress(self, export):
        return f"{export.shards_done}/{export.shards_total}"

    @admin.action(description="Resume (keeps committed shards; safe while running)")
    def resume(self, request, queryset):
        for export in queryset:
            try:
                exports.export_start(export=export)
            except exports.ExportError as error:
                self.message_user(request, str(error), level=messages.ERROR)
