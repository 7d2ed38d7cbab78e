"""Look after the nearest-neighbour index of an embedding space, and list near-duplicate groups.

python manage.py embedding_index                      # the spaces, their vectors and index sizes
python manage.py embedding_index --sync --space 2     # add what the index lacks, drop deleted samples
python manage.py embedding_index --rebuild --space 2  # from the stored vectors (a lost folder, many removals)
python manage.py embedding_index --pairs --space 2    # sync, then find every vector's near-duplicate pairs again
python manage.py embedding_index --near-duplicates --source 3
"""

import json

from django.core.management.base import BaseCommand, CommandError

from catalog.embedding_index import EmbeddingError, embedding_index_open, embedding_index_sync
from catalog.management.source_arguments import source_id
from catalog.models import EmbeddingSpace, Sample
from catalog.near_duplicate_pairs import near_duplicate_pairs_find
from catalog.near_duplicates import near_duplicate_groups


class Command(BaseCommand):
    help = "List embedding spaces, reconcile or rebuild an index, print near-duplicate groups."

    def add_arguments(self, parser):
        parser.add_argument("--space", type=int, help="the embedding space id (default: every space / the newest)")
        parser.add_argument("--sync", action="store_true")
        parser.add_argument("--rebuild", action="store_true")
        parser.add_argument(
            "--pairs", action="store_true", help="sync, then store the near-duplicate pairs the batches missed"
        )
        parser.add_argument("--near-duplicates", action="store_true")
        parser.add_argument(
            "--source", type=source_id, action="append", help="near-duplicates among these sources (name or id)"
        )

    def handle(self, *args, space=None, source=None, **options):
        spaces = EmbeddingSpace.objects.all()
        if space is not None:
            spaces = spaces.filter(pk=space)
            if not spaces.exists():
                raise CommandError(f"no embedding space {space}")
        if options["near_duplicates"]:
            samples = Sample.objects.filter(source_id__in=source) if source else Sample.objects.all()
            try:
                report = near_duplicate_groups(samples=samples, space_id=space)
            except EmbeddingError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(json.dumps(report.to_json(), indent=2))
            return
        for row in spaces:
            if options["sync"] or options["rebuild"] or options["pairs"]:
                result = embedding_index_sync(space=row, rebuild=options["rebuild"])
                self.stdout.write(f"space {row.pk}: {result}")
            if options["pairs"]:
                self.stdout.write(f"space {row.pk} pairs: {near_duplicate_pairs_find(space=row)}")
            index = embedding_index_open(row)
            flag = "  RANDOM INIT" if row.random_init else ""
            self.stdout.write(
                f"space {row.pk} {row.model_name} {row.weights}{flag}: {row.embeddings.count()} vectors, "
                f"index {len(index) if index is not None else 'missing'}"
            )
