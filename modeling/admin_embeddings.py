"""The embedding jobs' admin: start one over sources the person may see (the "add" page checks it as
the API does, through embedding_job_check, then queues it), follow its progress, resume it."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin

from base.job_views import resume_jobs
from catalog.admin_access import SourceVisibilityAdmin
from catalog.models import Source
from catalog.selectors import sources_visible_to

from .embeddings import (
    EmbeddingJobError,
    embedding_job_check,
    embedding_job_create,
    embedding_job_enqueue,
    embedding_jobs_visible_to,
)
from .models import EmbeddingJob, ModelCheckpoint
from .selectors import checkpoints_visible_to

START_FIELDS = ("sources", "model_name", "weights", "training_checkpoint", "allow_random_init")


class EmbeddingJobStartForm(forms.ModelForm):
    """The add page: the sources, and the tower (a weights file, a training checkpoint, or random)."""

    user = None  # set by EmbeddingJobAdmin.get_form: whose visibility the choices and the check follow

    training_checkpoint = forms.ModelChoiceField(
        queryset=ModelCheckpoint.objects.none(),
        required=False,
        help_text="Embed with the image tower a training run saved (instead of a weights file).",
    )

    class Meta:
        model = EmbeddingJob
        fields = ("sources", "model_name", "weights", "allow_random_init")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sources"].required = True
        self.fields["sources"].queryset = sources_visible_to(self.user) if self.user else Source.objects.none()
        self.fields["model_name"].initial = settings.CURATION_CLIP_MODEL
        self.fields[
            "weights"
        ].help_text = "An open_clip weights file under MODEL_WEIGHTS_ROOTS; empty: CURATION_CLIP_WEIGHTS."
        if self.user is not None:
            self.fields["training_checkpoint"].queryset = checkpoints_visible_to(self.user).select_related("run")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        checkpoint = data.get("training_checkpoint")
        try:
            embedding_job_check(
                created_by=self.user,
                source_ids=[source.pk for source in data["sources"]],
                weights=data.get("weights") or None,
                checkpoint=checkpoint.path if checkpoint else None,
                allow_random_init=data.get("allow_random_init", False),
            )
        except EmbeddingJobError as error:
            field = {"weights": "weights", "sources": "sources"}.get(error.field or "")
            raise forms.ValidationError({field: str(error)} if field else str(error)) from None
        return data


@admin.register(EmbeddingJob)
class EmbeddingJobAdmin(SourceVisibilityAdmin):
    """Start an embedding job, follow it, resume it; a started job is read only."""

    sources_path = "sources"  # one hidden source hides the job whole
    list_display = ("id", "source_names", "model_name", "status", "processed", "embedded", "failed", "space")
    list_filter = ("status",)
    list_select_related = ("space",)
    actions = [resume_jobs]
    form = EmbeddingJobStartForm
    readonly_fields = (
        "sources",
        "model_name",
        "weights",
        "checkpoint",
        "allow_random_init",
        "space",
        "status",
        "error",
        "processed",
        "embedded",
        "failed",
        "failures",
        "index_report",
        "next_batch",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )

    def get_queryset(self, request):
        # The sources' rule (SourceVisibilityAdmin), and the tower's: embedding_jobs_visible_to.
        visible = embedding_jobs_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible).prefetch_related("sources")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:  # read only: no start form
            return super().get_form(request, obj, change=change, form=forms.ModelForm, **kwargs)
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def get_fields(self, request, obj=None):
        return START_FIELDS if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        checkpoint = form.cleaned_data.get("training_checkpoint")
        job = embedding_job_create(
            created_by=request.user,
            source_ids=[source.pk for source in form.cleaned_data["sources"]],
            model_name=form.cleaned_data.get("model_name") or None,
            weights=form.cleaned_data.get("weights") or None,
            checkpoint=checkpoint.path if checkpoint else None,
            allow_random_init=form.cleaned_data.get("allow_random_init", False),
        )
        embedding_job_enqueue(job=job)
        obj.pk = job.pk

    def save_related(self, request, form, formsets, change):
        pass  # embedding_job_create set the sources

    def has_delete_permission(self, request, obj=None):
        return False  # its vectors and the index it fed outlive it

    @admin.display(description="sources")
    def source_names(self, job: EmbeddingJob) -> str:
        return ", ".join(source.name for source in job.sources.all())
