"""The ML team's screens: launch Stage 1, Stage 2 or an evaluation on a dataset version, follow a run
(progress, loss curves, checkpoints, log tail), read its evaluation report, cancel it."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

import base.ids  # noqa: F401  (registers the `id` path converter)
from base.admin_json import PrettyJSONWidget, json_help
from base.ids import parse_id
from base.job_views import resume_jobs
from base.jobs import JobStatus
from catalog.admin_access import SourceVisibilityAdmin
from releases.models import DatasetVersion, VersionStatus
from releases.selectors import versions_visible_to

from . import services
from .charts import figure, loss_charts
from .models import ModelCheckpoint, PreannotationJob, RunKind, TrainingRun
from .preannotation_services import (
    PreannotationError,
    preannotation_check,
    preannotation_jobs_visible_to,
    preannotation_request,
)
from .selectors import checkpoints_visible_to, runs_visible_to

# Metric keys that are not losses; every other number in a metrics line is drawn as a curve.
NOT_LOSSES = {"step", "stage", "lr", "samples_per_s", "steps_per_s", "data_wait_fraction", "elapsed_s"}


class LaunchForm(forms.Form):
    kind = forms.ChoiceField(choices=RunKind.choices)
    dataset_version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.filter(status=VersionStatus.PUBLISHED),
        help_text="The run reads the version's newest finished WebDataset export.",
    )
    parent = forms.ModelChoiceField(
        queryset=TrainingRun.objects.filter(
            status=JobStatus.SUCCEEDED, kind__in=[RunKind.STAGE_1, RunKind.STAGE_2, RunKind.DEFECT_GEN]
        ),
        required=False,
        label="Start from run",
        help_text=(
            "Stage 2: the Stage 1 run whose U-Net it builds on. Evaluation: the Stage 2 run to score. "
            "Synthesis: the Defect-Gen run that generates. Text-to-image: the Stage 1 run that generates."
        ),
    )
    config_preset = forms.CharField(initial="tiny", help_text="tiny (CPU), sd15 (the paper's size), or a JSON path.")
    config_overrides = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        help_text="One KEY=VALUE per line, e.g. train.lr=5e-5",
    )
    options = forms.JSONField(
        required=False,
        initial=dict,
        widget=PrettyJSONWidget(attrs={"rows": 5}),
        help_text=json_help(
            {
                "Defect-Gen": 'product or domain (a term slug), classes (defect-type slugs), e.g. {"product": '
                '"prod-bottle", "classes": ["def-scratch"]}',
                "Synthesis": 'per_class, seed, switch_at, e.g. {"per_class": 50, "seed": 0, "switch_at": 40}',
                "Text-to-image": "limit, per_prompt, guidance, steps, sampler (ddim or ddpm), seed",
                "Stage 1, Stage 2, Evaluation": "none: leave {}",
            },
            {"limit": 20, "per_prompt": 1, "guidance": 7.5, "steps": 50, "sampler": "ddim"},
        ),
    )
    steps = forms.IntegerField(min_value=1, required=False, help_text="Empty: the preset's number of steps.")
    few_shot_per_class = forms.IntegerField(min_value=1, required=False, label="Few-shot: samples per class")
    split = forms.CharField(required=False, help_text="Manifest split; empty: train (evaluation: test).")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only what the person may see: versions (and runs made from them) with a hidden source are not offered.
        self.fields["dataset_version"].queryset = versions_visible_to(user).filter(status=VersionStatus.PUBLISHED)
        self.fields["parent"].queryset = self.fields["parent"].queryset.filter(
            pk__in=runs_visible_to(user).values("pk")
        )


class ModelCheckpointInline(admin.TabularInline):
    model = ModelCheckpoint
    extra = 0
    can_delete = False
    fields = ("step", "stage", "path", "size_bytes", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(SourceVisibilityAdmin):
    sources_path = "dataset_version__sources"  # a run is as visible as the version it learns from
    # ... and as the versions of the runs it starts from (get_queryset: selectors.runs_visible_to)
    list_display = (
        "id",
        "kind",
        "dataset_version",
        "config_preset",
        "status",
        "progress_percent",
        "loss",
        "created_at",
    )
    list_filter = ("kind", "status")
    list_select_related = ("dataset_version",)
    actions = [
        "cancel_runs",
        "fine_tune_stage_2",
        "evaluate_runs",
        "generate_samples",
        "generate_text_to_image",
        "preannotate",
    ]
    inlines = [ModelCheckpointInline]
    change_form_template = "admin/modeling/trainingrun/change_form.html"
    fieldsets = (
        # What a person follows first: progress, curves, the log; the settings below.
        (None, {"fields": ("kind", "status", "progress_bar", "error", "dataset_version", "export", "parent_link")}),
        ("Loss curves", {"fields": ("loss_curves", "latest_metrics")}),
        ("Log", {"fields": ("log",)}),
        ("Evaluation report", {"fields": ("report_table", "report_image", "evaluations")}),
        ("Synthetic samples", {"fields": ("synthetic_source",)}),
        (
            "Configuration",
            {"fields": ("config_preset", "config_overrides", "options", "steps", "few_shot_per_class", "split")},
        ),
        (
            "Process",
            {
                "fields": ("command_line", "out_dir", "checkpoint_path", "attempts"),
                "classes": ("collapse",),
            },
        ),
        ("Who and when", {"fields": ("created_by", "created_at", "started_at", "finished_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=runs_visible_to(request.user).values("pk"))

    def get_readonly_fields(self, request, obj=None):
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def has_delete_permission(self, request, obj=None):
        return False  # a run's record is the history of its checkpoints

    # -- launching: the "add" button opens the launch form ---------------------------------------
    def get_urls(self):
        own = [
            path("launch/", self.admin_site.admin_view(self.launch_view), name="modeling_trainingrun_launch"),
            path("<id:run_id>/live/", self.admin_site.admin_view(self.live_view), name="modeling_trainingrun_live"),
            path(
                "<id:run_id>/report.png",
                self.admin_site.admin_view(self.report_png_view),
                name="modeling_trainingrun_report_png",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Every field of a run is read-only (the actions change it): no Save buttons that do nothing.
        no_saving = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **no_saving})

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:modeling_trainingrun_launch"))

    def launch_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        # A POST with every field left blank is still a submission to check, not a fresh form.
        form = LaunchForm(request.POST if request.method == "POST" else None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                run = services.training_run_launch(
                    kind=data["kind"],
                    dataset_version=data["dataset_version"],
                    parent=data["parent"],
                    config_preset=data["config_preset"],
                    config_overrides=data["config_overrides"].splitlines(),
                    options=data["options"] or {},
                    steps=data["steps"],
                    few_shot_per_class=data["few_shot_per_class"],
                    split=data["split"],
                    created_by=request.user,
                )
            except services.RunError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Run {run.pk} queued on the train queue.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:modeling_trainingrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Launch a training run",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/modeling/trainingrun/launch.html", context)

    def live_view(self, request, run_id: int):
        """What the run page redraws while the run runs (polled by its template): progress, log
        tail and loss curves, for whoever may view the run (visibility rule included)."""
        run = get_object_or_404(self.get_queryset(request), pk=run_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return JsonResponse(
            {
                "status": run.status,
                "finished": run.is_finished,
                "step": run.step,
                "total_steps": run.total_steps,
                "progress": str(self.progress_bar(run)),
                "log_tail": run.log_tail,
                "loss_curves": str(self.loss_curves(run)),
                "latest_metrics": str(self.latest_metrics(run)),
            }
        )

    def report_png_view(self, request, run_id: int):
        run = get_object_or_404(self.get_queryset(request), pk=run_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        png = Path(run.out_dir) / "report.png" if run.out_dir else None
        if png is None or not png.is_file():
            raise Http404("this run has no report image")
        return FileResponse(png.open("rb"), content_type="image/png")

    # -- actions ---------------------------------------------------------------------------------
    @admin.action(description="Cancel the selected runs", permissions=["change"])
    def cancel_runs(self, request, queryset):
        for run in queryset:
            services.training_run_cancel(run=run)
        self.message_user(request, f"Cancellation requested for {queryset.count()} run(s).")

    @admin.action(description="Fine-tune Stage 2 from the selected Stage 1 runs", permissions=["add"])
    def fine_tune_stage_2(self, request, queryset):
        self._launch_children(request, queryset, RunKind.STAGE_2)

    @admin.action(description="Evaluate the selected Stage 2 runs (test split)", permissions=["add"])
    def evaluate_runs(self, request, queryset):
        self._launch_children(request, queryset, RunKind.EVALUATE)

    @admin.action(description="Generate synthetic samples from the selected Defect-Gen runs", permissions=["add"])
    def generate_samples(self, request, queryset):
        self._launch_children(request, queryset, RunKind.GENERATE)

    @admin.action(
        description="Generate images from the selected Stage 1 runs (text-to-image, test captions)", permissions=["add"]
    )
    def generate_text_to_image(self, request, queryset):
        self._launch_children(request, queryset, RunKind.TEXT_TO_IMAGE)

    @admin.action(description="Pre-annotate a source with the selected Stage 2 run's newest checkpoint")
    def preannotate(self, request, queryset):
        """Opens the pre-annotation form with the run's newest checkpoint chosen; the source is picked there."""
        run = queryset.filter(kind=RunKind.STAGE_2).first()
        checkpoint = ModelCheckpoint.objects.filter(run=run, stage="2").order_by("-step").first() if run else None
        if checkpoint is None:
            self.message_user(request, "select a Stage 2 run that has a checkpoint", messages.ERROR)
            return None
        url = reverse("admin:modeling_preannotationjob_add")
        return HttpResponseRedirect(f"{url}?checkpoint={checkpoint.pk}")

    def _launch_children(self, request, queryset, kind: str) -> None:
        """Stage 2 inherits the parent's preset, steps and overrides; for other settings use the launch form."""
        for parent in queryset:
            inherited = {}
            if kind == RunKind.STAGE_2:
                inherited = {"steps": parent.steps, "config_overrides": parent.config_overrides}
            try:
                child = services.training_run_launch(
                    kind=kind,
                    dataset_version=parent.dataset_version,
                    parent=parent,
                    config_preset=parent.config_preset,
                    created_by=request.user,
                    **inherited,
                )
            except services.RunError as error:
                self.message_user(request, f"run {parent.pk}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"Run {child.pk} ({child.get_kind_display()}) queued.", messages.SUCCESS)

    # -- the run page ----------------------------------------------------------------------------
    @admin.display(description="progress")
    def progress_percent(self, run: TrainingRun) -> str:
        return f"{run.step}/{run.total_steps}" if run.total_steps else "—"

    @admin.display(description="loss")
    def loss(self, run: TrainingRun):
        value = run.metrics.get("loss")
        return f"{value:.4f}" if isinstance(value, int | float) else "—"

    @admin.display(description="progress")
    def progress_bar(self, run: TrainingRun) -> str:
        if not run.total_steps:
            return run.get_status_display()
        return format_html(
            '<progress max="{}" value="{}" style="width:20em"></progress> step {} of {} ({})',
            run.total_steps,
            run.step,
            run.step,
            run.total_steps,
            run.get_status_display(),
        )

    @admin.display(description="starts from")
    def parent_link(self, run: TrainingRun) -> str:
        if run.parent_id is None:
            return "—"
        url = reverse("admin:modeling_trainingrun_change", args=[run.parent_id])
        return format_html('<a href="{}">{}</a>', url, run.parent)

    @admin.display(description="loss curves")
    def loss_curves(self, run: TrainingRun) -> str:
        series: dict[str, list[tuple[int, float]]] = {}
        for step, values in run.metric_lines.values_list("step", "values"):
            for name, value in values.items():
                if name not in NOT_LOSSES and isinstance(value, int | float) and not isinstance(value, bool):
                    series.setdefault(name, []).append((step, float(value)))
        return loss_charts(series, title=f"losses of run {run.pk}")

    @admin.display(description="newest metrics")
    def latest_metrics(self, run: TrainingRun) -> str:
        if not run.metrics:
            return "—"
        cells = [(name, _metric_figure(value)) for name, value in run.metrics.items()]
        return format_html(
            '<table class="run-metrics">{}</table>', format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", cells)
        )

    @admin.display(description="report")
    def report_table(self, run: TrainingRun) -> str:
        """The evaluation report as HTML tables: the headline metrics for all classes and for the
        held-out (open-vocabulary) ones side by side, then IoU per class."""
        report = run.report
        if not report:
            return "—"
        warning = ""
        if report.get("random_frozen"):
            warning = format_html(
                '<p class="errornote">RANDOM frozen {}: not a pretrained model</p>', ", ".join(report["random_frozen"])
            )
        open_vocabulary = report.get("open_vocabulary") or {}

        def both(part: str, key: str) -> tuple[str, str]:
            return (
                _percent((report.get(part) or {}).get(key)),
                _percent((open_vocabulary.get(part) or {}).get(key)) if open_vocabulary.get("classes") else "—",
            )

        headline = [
            ("classification accuracy", *both("classification", "accuracy")),
            ("detection mAP@0.5", *both("detection", "map50")),
            ("detection mAP@0.5:0.95", *both("detection", "map50_95")),
            ("segmentation mIoU", *both("segmentation", "miou")),
        ]
        held_out = set(report.get("held_out_classes") or [])
        per_class = [
            (slug, _percent(iou), "held out" if slug in held_out else "")
            for slug, iou in ((report.get("segmentation") or {}).get("per_class_iou") or {}).items()
        ]
        seconds = report.get("seconds_per_image")
        facts = [
            ("split", report.get("split", "—")),
            ("images", report.get("images", "—")),
            ("checkpoint step", report.get("checkpoint_step", "—")),
            ("seconds per image", "n/a" if seconds is None else f"{figure(seconds)} s"),
            ("device", report.get("device", "—")),
        ]
        return format_html(
            "{}<table><tr><th>metric</th><th>all classes</th><th>held-out classes ({})</th></tr>{}</table>"
            "<table><tr><th>class</th><th>IoU</th><th></th></tr>{}</table><table>{}</table>",
            warning,
            ", ".join(open_vocabulary.get("classes") or []) or "none",
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", headline),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", per_class),
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", facts),
        )

    @admin.display(description="report image")
    def report_image(self, run: TrainingRun) -> str:
        if not run.report:
            return "—"
        url = reverse("admin:modeling_trainingrun_report_png", args=[run.pk])
        return format_html('<img src="{}" alt="evaluation report of run {}" style="max-width:720px">', url, run.pk)

    def get_object(self, request, object_id, from_field=None):
        run = super().get_object(request, object_id, from_field)
        if run is not None:
            # The page's read-only fields get the run alone; the evaluations list needs who is asking.
            run.viewer = request.user
        return run

    @admin.display(description="evaluations of this run")
    def evaluations(self, run: TrainingRun) -> str:
        # An evaluation of a visible run may have read a version this person may not see: not listed.
        # A run that did not come through get_object has no viewer: then nothing is listed.
        viewer = getattr(run, "viewer", None)
        if viewer is None:
            return "—"
        children = runs_visible_to(viewer).filter(parent=run, kind=RunKind.EVALUATE).order_by("-id")
        if not children:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">run {}</a> ({})',
            (
                (reverse("admin:modeling_trainingrun_change", args=[c.pk]), c.pk, c.get_status_display())
                for c in children
            ),
        )

    @admin.display(description="imported into")
    def synthetic_source(self, run: TrainingRun) -> str:
        if run.generated_source_id is None:
            return "—"
        source = run.generated_source
        url = reverse("admin:catalog_sample_changelist") + f"?source__id__exact={source.pk}"
        return format_html('<a href="{}">{}</a> ({} samples, queued for stage 1)', url, source, source.samples.count())

    @admin.display(description="command")
    def command_line(self, run: TrainingRun) -> str:
        return " ".join(run.command) if run.command else "—"

    @admin.display(description="log tail")
    def log(self, run: TrainingRun) -> str:
        return format_html(
            '<pre id="run-log-tail" style="max-height:30em;overflow:auto;white-space:pre-wrap">{}</pre>',
            run.log_tail or "—",
        )


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _metric_figure(value) -> str:
    if isinstance(value, float):
        return figure(value)
    return str(value)


class PreannotationStartForm(forms.ModelForm):
    """The add page of a pre-annotation: a Stage 2 checkpoint and a source the person may see.
    What preannotation_check refuses shows on the field it names (PreannotationJobAdmin.get_form
    sets `requester`)."""

    requester = None

    class Meta:
        model = PreannotationJob
        fields = ("checkpoint", "source", "limit", "score_threshold")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not self.errors:
            try:
                preannotation_check(
                    checkpoint=cleaned["checkpoint"],
                    source=cleaned["source"],
                    requester=self.requester,
                    limit=cleaned.get("limit"),
                    score_threshold=cleaned["score_threshold"],
                )
            except PreannotationError as error:
                self.add_error(error.field if error.field in self.fields else None, str(error))
        return cleaned


@admin.register(PreannotationJob)
class PreannotationJobAdmin(SourceVisibilityAdmin):
    """Start a pre-annotation (the "add" page, or the action on Stage 2 runs), follow it, resume it."""

    source_path = "source_id"
    list_display = ("id", "checkpoint", "source", "status", "total", "processed", "predicted", "skipped", "failed")
    list_filter = ("status",)
    list_select_related = ("source", "checkpoint")
    actions = [resume_jobs]
    form = PreannotationStartForm
    readonly_fields = (
        "classes",
        "status",
        "error",
        "total",
        "processed",
        "predicted",
        "skipped",
        "failed",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_queryset(self, request):
        # The source's rule (SourceVisibilityAdmin), and the checkpoint's: preannotation_jobs_visible_to.
        visible = preannotation_jobs_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("checkpoint", "source", "limit", "score_threshold")
        return ("checkpoint", "source", "limit", "score_threshold", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("checkpoint", "source", "limit", "score_threshold", *self.readonly_fields)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "checkpoint":
            kwargs["queryset"] = checkpoints_visible_to(request.user).filter(stage="2")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.requester = request.user  # a class made for this request (modelform_factory)
        return form

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if parse_id(request.GET.get("checkpoint", "")) is not None:
            initial["checkpoint"] = parse_id(request.GET["checkpoint"])
        return initial

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            job = preannotation_request(
                checkpoint=form.cleaned_data["checkpoint"],
                source=form.cleaned_data["source"],
                requester=request.user,
                limit=form.cleaned_data["limit"],
                score_threshold=form.cleaned_data["score_threshold"],
            )
        except PreannotationError as error:
            raise PermissionDenied(str(error)) from None
        obj.pk = job.pk

    def has_delete_permission(self, request, obj=None):
        return False  # its items record what the model did to which sample


from . import admin_embeddings  # noqa: E402, F401  (registers EmbeddingJobAdmin)
