from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from base.jobs import JobStatus
from catalog.management.source_arguments import source_name
from catalog.models import Source
from modeling.models import PreannotationOutcome
from modeling.preannotation_services import (
    PreannotationError,
    checkpoint_resolve,
    preannotation_enqueue,
    preannotation_nothing_predicted_why,
    preannotation_request,
    preannotation_run,
)


class Command(BaseCommand):
    help = (
        "Pre-annotate a source's samples that nobody has started with a trained Stage 2 checkpoint: its "
        "regions, scores and uncertainty become each sample's prediction layer (never its content)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint", required=True, help="a checkpoint id (12 or checkpoint:12), or run:N for run N's newest"
        )
        parser.add_argument("--source", type=source_name, required=True, help="the source's name or id")
        parser.add_argument("--limit", type=int, help="at most this many samples")
        parser.add_argument("--score-threshold", type=float, default=0.3)
        parser.add_argument("--classes", help="comma-separated defect-type slugs; default: the checkpoint's export's")
        parser.add_argument("--enqueue", action="store_true", help="run on the Celery 'train' queue instead")

    def handle(self, *args, **options):
        source = Source.objects.filter(name=options["source"]).first()
        if source is None:
            raise CommandError(f"unknown source {options['source']!r}")
        classes = (
            [slug.strip() for slug in options["classes"].split(",") if slug.strip()] if options["classes"] else None
        )
        try:
            with transaction.atomic():
                job = preannotation_request(
                    checkpoint=checkpoint_resolve(options["checkpoint"]),
                    source=source,
                    requester=None,
                    limit=options["limit"],
                    score_threshold=options["score_threshold"],
                    classes=classes,
                    enqueue=False,
                )
                if options["enqueue"]:
                    preannotation_enqueue(job=job)
        except PreannotationError as error:
            raise CommandError(str(error)) from None
        if options["enqueue"]:
            self.stdout.write(f"pre-annotation job #{job.pk} queued on 'train'")
            return
        job = preannotation_run(job=job)
        if job.status == JobStatus.FAILED:
            raise CommandError(f"pre-annotation job #{job.pk} failed: {job.error}")
        self.stdout.write(
            f"pre-annotation job #{job.pk}: {job.predicted} predicted, {job.skipped} skipped, "
            f"{job.failed} failed, of {job.total}"
        )
        why = preannotation_nothing_predicted_why(job)
        if why:
            self.stdout.write(why)
        for item in job.items.exclude(outcome=PreannotationOutcome.PREDICTED)[:20]:
            self.stdout.write(f"  {item.outcome} sample {item.annotation_id}: {item.reason}")
