"""Put samples that have no annotation yet into the annotation queue (stage 1), with their drafts.

python manage.py enqueue_samples                 # every sample without an annotation
python manage.py enqueue_samples --source 3 --limit 1000 --priority 5
"""

from django.core.management.base import BaseCommand, CommandError

from annotation.services import annotations_enqueue
from catalog.models import Sample, Source


class Command(BaseCommand):
    help = "Create the annotations (drafts from imported regions) of samples that have none, queued for stage 1."

    def add_arguments(self, parser):
        parser.add_argument("--source", type=int, action="append", help="only samples of this source id (repeatable)")
        parser.add_argument("--limit", type=int, help="at most this many")
        parser.add_argument("--priority", type=int, default=0, help="higher is claimed first")

    def handle(self, *args, source=None, limit=None, priority=0, **options):
        samples = Sample.objects.all()
        if source:
            missing = set(source) - set(Source.objects.filter(pk__in=source).values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no source with id {', '.join(map(str, sorted(missing)))}")
            samples = samples.filter(source_id__in=source)
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        created = annotations_enqueue(samples=samples, by=None, priority=priority, limit=limit)
        self.stdout.write(f"queued {created} sample(s) for annotation")
