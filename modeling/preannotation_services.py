"""Pre-annotation jobs: create one, queue it on the `train` queue, run it in this process. The
batches themselves are in preannotation.py (called by the tasks).

Who may ask: whoever may see the source and the dataset version the checkpoint learned from
(catalog's visibility rule, through sources_visible_to and versions_visible_to).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from accounts.models import User
from base.jobs import job_run_here
from catalog.models import Sample, Source, Visibility
from catalog.selectors import sees_every_source, sources_visible_to, visible_to
from modeling.core.checkpoint_files import checkpoint_missing
from vocabulary.models import Facet, Term

from .models import ModelCheckpoint, PreannotationJob, TrainingRun
from .preannotation import preannotation_batch, preannotation_finish
from .selectors import checkpoints_visible_to, lineage_training_sources, runs_usable_by, runs_visible_to
from .tasks import preannotation_batch_task


class PreannotationError(ValueError):
    """A pre-annotation that cannot be made as asked; the message names what is wrong, and `field`
    the request's field to blame ("checkpoint", "source", "limit", "score_threshold", "classes"), so
    that the API and the admin form show the message on that field."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


def preannotation_jobs_visible_to(user: User) -> QuerySet[PreannotationJob]:
    """The jobs over a source `user` may see, by a checkpoint of a run they may see (selectors.py): a
    job names its checkpoint, the classes of the export that checkpoint learned from and what it did,
    so it is as hidden as the more hidden of the two."""
    jobs = visible_to(PreannotationJob.objects.all(), user, "source_id")
    if sees_every_source(user):
        return jobs
    return jobs.filter(checkpoint__run__in=runs_visible_to(user).values("pk"))


def checkpoint_resolve(reference: str | int, *, requester: User | None = None) -> ModelCheckpoint:
    """A checkpoint from "12" or "checkpoint:12" (its id), or "run:3" (run 3's newest checkpoint),
    among those `requester` may see (None: an operator on the command line, who sees all). A hidden
    run or checkpoint is refused with the very words a missing one is: whether it exists, how many
    checkpoints it has and what their ids are is nobody else's business."""
    text = str(reference).strip()
    kind, _, number = text.rpartition(":")
    if kind not in ("", "checkpoint", "run") or not number.isdigit():
        raise PreannotationError(
            f"checkpoint {text!r}: give a checkpoint id (12, checkpoint:12) or a run (run:3)", field="checkpoint"
        )
    checkpoints = ModelCheckpoint.objects.all() if requester is None else checkpoints_visible_to(requester)
    if kind == "run":
        runs = TrainingRun.objects.all() if requester is None else runs_usable_by(requester)
        checkpoint = checkpoints.filter(run_id=int(number)).order_by("-step").first()
        if checkpoint is None and not runs.filter(pk=int(number)).exists():
            raise PreannotationError(f"no run {number}", field="checkpoint")
        if checkpoint is None:
            raise PreannotationError(f"run {number} has no checkpoint", field="checkpoint")
        return checkpoint
    checkpoint = checkpoints.filter(pk=int(number)).first()
    if checkpoint is None:
        raise PreannotationError(f"no checkpoint {number}", field="checkpoint")
    return checkpoint


def checkpoint_classes(checkpoint: ModelCheckpoint) -> list[str]:
    """The defect-type slugs of the export the checkpoint's run trained on (the manifest's class list)."""
    return [entry["slug"] for entry in checkpoint.run.export.classes if entry.get("index")]


def preannotation_request(
    *,
    checkpoint: ModelCheckpoint,
    source: Source,
    requester: User | None,
    limit: int | None = None,
    score_threshold: float = 0.3,
    classes: list[str] | None = None,
    enqueue: bool = True,
) -> PreannotationJob:
    """Create the job (and queue its first batch once the caller commits). requester None is the
    system (the CLI), which sees every source."""
    classes = preannotation_check(
        checkpoint=checkpoint,
        source=source,
        requester=requester,
        limit=limit,
        score_threshold=score_threshold,
        classes=classes,
    )
    with transaction.atomic():
        job = PreannotationJob.objects.create(
            checkpoint=checkpoint,
            source=source,
            classes=classes,
            limit=limit,
            score_threshold=score_threshold,
            created_by=requester,
        )
        if enqueue:
            preannotation_enqueue(job=job)
    return job


def preannotation_check(
    *,
    checkpoint: ModelCheckpoint,
    source: Source,
    requester: User | None,
    limit: int | None = None,
    score_threshold: float = 0.3,
    classes: list[str] | None = None,
) -> list[str]:
    """Raise PreannotationError (naming the field) unless the job can be made as asked; return the
    defect-type slugs it will choose among. The admin's form calls it to show errors on its fields."""
    if requester is not None:
        if not sources_visible_to(requester).filter(pk=source.pk).exists():
            raise PreannotationError(f"no source {source.pk}", field="source")
        if not checkpoints_visible_to(requester).filter(pk=checkpoint.pk).exists():
            raise PreannotationError(f"no checkpoint {checkpoint.pk}", field="checkpoint")
    if str(checkpoint.stage) != "2":
        raise PreannotationError(
            f"checkpoint {checkpoint.pk} is from stage {checkpoint.stage or '?'}; pre-annotation needs a Stage 2 one",
            field="checkpoint",
        )
    # Predictions carry what the model learned; whoever sees the source would see them. A model that
    # learned from a partner's samples therefore predicts only into that partner's source.
    others = [
        learned.name
        for learned in lineage_training_sources(checkpoint.run)
        if learned.visibility == Visibility.RESTRICTED and learned.pk != source.pk
    ]
    if others:
        raise PreannotationError(
            f"checkpoint {checkpoint.pk} learned from restricted source(s) {', '.join(sorted(others))}: "
            f"its predictions may go only into those sources, not into {source.name}",
            field="checkpoint",
        )
    missing = checkpoint_missing(checkpoint.path)
    if missing is not None:
        # Said now, not as the job's failure after it was queued: the file was moved or deleted.
        raise PreannotationError(f"checkpoint {checkpoint.pk}'s files are gone: {missing}", field="checkpoint")
    if limit is not None and limit < 1:
        raise PreannotationError("limit must be at least 1", field="limit")
    if not 0.0 <= score_threshold < 1.0:
        raise PreannotationError("score_threshold must be at least 0 and below 1", field="score_threshold")
    # Classes the caller did not name are the checkpoint's: then the checkpoint is to blame.
    field = "checkpoint" if classes is None else "classes"
    classes = list(classes) if classes is not None else checkpoint_classes(checkpoint)
    if not classes:
        raise PreannotationError(f"checkpoint {checkpoint.pk}'s export lists no defect classes; name them", field=field)
    known = set(Term.objects.filter(slug__in=classes, facet=Facet.DEFECT_TYPE).values_list("slug", flat=True))
    unknown = [slug for slug in classes if slug not in known]
    if unknown:
        raise PreannotationError(f"not defect types of the vocabulary: {', '.join(unknown)}", field=field)
    return classes


def preannotation_nothing_predicted_why(job: PreannotationJob) -> str | None:
    """Why a finished job predicted nothing, naming its source; None when it predicted something, or
    when some samples failed (their items say why). "0 of 0" alone leaves an operator guessing:
    pre-annotation looks only at samples in the annotation workflow, so a source imported but never
    enqueued gives nothing, and so does one whose every sample a person or this model got to first."""
    if job.predicted or job.failed:
        return None
    name = job.source.name
    if job.total == 0:
        samples = Sample.objects.filter(source_id=job.source_id).count()
        if samples == 0:
            return f"nothing to pre-annotate: source {name!r} has no samples"
        return (
            f"nothing to pre-annotate: none of the {samples} samples of source {name!r} is enqueued for "
            f"annotation yet, and pre-annotation works on enqueued ones "
            f"(python manage.py enqueue_samples --source {job.source_id})"
        )
    return (
        f"nothing to pre-annotate: each of the {job.total} samples of source {name!r} it looked at has a "
        f"person's work or checkpoint {job.checkpoint_id}'s prediction already"
    )


def preannotation_enqueue(*, job: PreannotationJob) -> None:
    job_id, batch = job.pk, job.next_batch
    transaction.on_commit(lambda: preannotation_batch_task.delay(job_id, batch))


def preannotation_requeue(job_id: int) -> None:
    """The job registry's requeue (base/job_kinds.py)."""
    preannotation_enqueue(job=PreannotationJob.objects.get(pk=job_id))


def preannotation_run(*, job: PreannotationJob, predictor=None, on_progress=None) -> PreannotationJob:
    """Run the job's remaining batches in this process (the CLI without --enqueue, tests, benchmarks)."""
    return job_run_here(
        job,
        run_batch=lambda job_id, batch: preannotation_batch(job_id=job_id, batch=batch, predictor=predictor),
        finish=preannotation_finish,
        on_progress=on_progress,
    )
