import sys

from django.core.management.base import BaseCommand, CommandError

from vocabulary import services
from vocabulary.formats import WRITERS
from vocabulary.models import VocabularyVersion
from vocabulary.records import record_from_dict


class Command(BaseCommand):
    help = "Export the vocabulary (the working copy, or a released version) as CSV, JSON or SKOS Turtle."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=sorted(WRITERS))
        parser.add_argument(
            "--vocabulary-version", type=int, help="a released version number (default: the working copy)"
        )
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        version = None
        if options["vocabulary_version"] is not None:
            found = VocabularyVersion.objects.filter(number=options["vocabulary_version"]).first()
            if found is None:
                raise CommandError(f"there is no vocabulary version {options['version']}")
            records = [record_from_dict(term, term["slug"]) for term in found.terms]
            version = found.number
        else:
            records = services.vocabulary_records()
        writer = WRITERS[options["format"]]
        text = writer(records, version=version) if options["format"] in ("skos", "json") else writer(records)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                out.write(text)
            self.stderr.write(f"wrote {len(records)} terms to {options['output']}")
        else:
            sys.stdout.write(text)
