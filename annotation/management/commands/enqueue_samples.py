"""Put samples that have no annotation yet into the annotation queue (stage 1), with their drafts.

python manage.py enqueue_samples                 # every sample without an annotation
python manage.py enqueue_samples --source 3 --limit 1000 --priority 5
python manage.py enqueue_samples --source 3 --limit 500 --diverse   # 500 that cover the embedding space
"""

from django.core.management.base import BaseCommand, CommandError

from annotation.error_codes import WorkflowError
from annotation.services import annotations_enqueue, annotations_enqueue_diverse
from catalog.management.source_arguments import source_id
from catalog.models import Sample, Source


class Command(BaseCommand):
    help = "Create the annotations (drafts from imported regions) of samples that have none, queued for stage 1."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", type=source_id, action="append", help="only samples of this source, by name or id (repeatable)"
        )
        parser.add_argument("--limit", type=int, help="at most this many")
        parser.add_argument("--priority", type=int, default=0, help="higher is claimed first")
        parser.add_argument(
            "--diverse", action="store_true", help="pick --limit samples that cover the embedding space (k-center)"
        )
        parser.add_argument("--seed", type=int, default=0, help="with --diverse: the first pick's seed")

    def handle(self, *args, source=None, limit=None, priority=0, diverse=False, seed=0, **options):
        samples = Sample.objects.all()
        if source:
            missing = set(source) - set(Source.objects.filter(pk__in=source).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no source with id {', '.join(map(str, sorted(missing)))}")
            samples = samples.filter(source_id__in=source)
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        if diverse:
            if limit is None:
                raise CommandError("--diverse needs --limit: how many samples to pick")
            try:
                created, pick = annotations_enqueue_diverse(
                    samples=samples, by=None, count=limit, priority=priority, seed=seed
                )
            except WorkflowError as error:
                raise CommandError(str(error)) from None
            for warning in pick.warnings:
                self.stdout.write(self.style.WARNING(warning))
            self.stdout.write(
                f"queued {created} sample(s) for annotation, chosen among {pick.sampled_from} for diversity"
            )
            return
        created = annotations_enqueue(samples=samples, by=None, priority=priority, limit=limit)
        self.stdout.write(f"queued {created} sample(s) for annotation")
