from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from modeling.caption_terms import caption_terms_write
from releases.models import DatasetVersion


class Command(BaseCommand):
    help = (
        "Write the caption-terms file of a dataset version (the vocabulary terms the normalizer finds in each "
        "sample's English caption), for Stage 2's grounding: --set data.caption_terms=FILE."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", help="version number or name (3 or v3)")
        parser.add_argument("--out", required=True, help="the JSON-lines file to write")

    def handle(self, *args, **options):
        number = options["version"].lstrip("v")
        version = DatasetVersion.objects.filter(number=int(number)).first() if number.isdigit() else None
        if version is None:
            raise CommandError(f"there is no dataset version {options['version']}")
        counts = caption_terms_write(version=version, path=Path(options["out"]))
        self.stdout.write(
            f"{options['out']}: {counts['samples']} samples, {counts['captions']} English captions, "
            f"{counts['terms']} terms found"
        )
