"""Embed samples with the CLIP image tower, for near-duplicate groups and the diversity sampler.

python manage.py embed_samples                                  # every source, CURATION_CLIP_WEIGHTS
python manage.py embed_samples --source 3 --weights /models/ViT-B-16.pt --enqueue
python manage.py embed_samples --checkpoint var/training/run-12  # the tower a training run saved
python manage.py embed_samples --checkpoint run:12                # run 12's newest checkpoint (or an id: 7)
python manage.py embed_samples --model imdd-tiny-clip --allow-random-init   # flagged as random everywhere
"""

import re

from django.core.management.base import BaseCommand, CommandError

from catalog.management.source_arguments import source_id
from catalog.models import Source
from modeling.core.checkpoint_files import checkpoint_missing
from modeling.embeddings import (
    EmbeddingJobError,
    embedding_job_create,
    embedding_job_enqueue,
    embedding_job_run_here,
)
from modeling.preannotation_services import PreannotationError, checkpoint_resolve

REFERENCE = re.compile(r"^(checkpoint:|run:)?\d+$")


def checkpoint_path(text: str) -> str:
    """The folder a --checkpoint names: a checkpoint id (12, checkpoint:12) or a run (run:3) as
    preannotate and the API take them, else a path; CommandError when no checkpoint is there."""
    path = text
    if REFERENCE.match(text.strip()):
        try:
            path = checkpoint_resolve(text).path
        except PreannotationError as error:
            raise CommandError(str(error)) from None
    if reason := checkpoint_missing(path):
        raise CommandError(f"--checkpoint {text}: {reason}")
    return path


class Command(BaseCommand):
    help = "Compute image embeddings of the samples that have none in the model's space (batches; resumable)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", type=source_id, action="append", help="only this source, by name or id (repeatable)"
        )
        parser.add_argument("--model", help="open_clip model name (default CURATION_CLIP_MODEL)")
        parser.add_argument("--weights", help="a local open_clip weights file (default CURATION_CLIP_WEIGHTS)")
        parser.add_argument(
            "--checkpoint",
            help="the checkpoint whose image tower embeds: its id (12, checkpoint:12), run:N (run N's newest), "
            "or a checkpoint or run folder",
        )
        parser.add_argument("--allow-random-init", action="store_true", help="no weights: a seeded random tower")
        parser.add_argument("--enqueue", action="store_true", help="run on the Celery 'train' queue")

    def handle(self, *args, source=None, model=None, weights=None, checkpoint=None, **options):
        if source:
            missing = set(source) - set(Source.objects.filter(pk__in=source).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no source with id {', '.join(map(str, sorted(missing)))}")
        if checkpoint:
            checkpoint = checkpoint_path(checkpoint)
        try:
            job = embedding_job_create(
                created_by=None,
                source_ids=source,
                model_name=model,
                weights=weights,
                checkpoint=checkpoint,
                allow_random_init=options["allow_random_init"],
            )
        except EmbeddingJobError as error:
            raise CommandError(str(error)) from None
        if options["enqueue"]:
            embedding_job_enqueue(job=job)
            self.stdout.write(f"embedding job {job.pk} queued")
            return
        job = embedding_job_run_here(
            job, on_progress=lambda j: self.stdout.write(f"  {j.processed} processed, {j.embedded} embedded")
        )
        self.stdout.write(
            f"embedding job {job.pk} {job.status}: {job.embedded} embedded, {job.failed} failed"
            + (f" — {job.error}" if job.error else "")
        )
        if job.space is not None and job.space.random_init:
            self.stdout.write(self.style.WARNING("these embeddings come from a RANDOMLY INITIALISED image tower"))
        if job.failed:
            self.stdout.write(self.style.WARNING(f"first failures: {job.failures[:5]}"))
        if job.status != "succeeded":
            raise CommandError(f"embedding job {job.pk} {job.status}")
