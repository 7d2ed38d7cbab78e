from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from vocabulary import services
from vocabulary.formats import READERS, format_for_path
from vocabulary.models import Term
from vocabulary.records import VocabularyFileError

BUNDLED = Path(__file__).resolve().parents[2] / "data"


class Command(BaseCommand):
    help = "Load vocabulary files (JSON, CSV or SKOS Turtle), all or nothing. With no file: the bundled vocabulary."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help=f"default: every file in {BUNDLED}")
        parser.add_argument("--format", choices=sorted(READERS), help="default: from each file's extension")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when terms exist already")
        parser.add_argument("--release", metavar="NOTE", help="release a new version after loading")

    def handle(self, *args, **options):
        if options["if_empty"] and Term.objects.exists():
            self.stdout.write(f"vocabulary already loaded ({Term.objects.count()} terms)")
            return
        paths = [Path(p) for p in options["files"]] or sorted(BUNDLED.glob("*.json"))
        records, problems = [], []
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"cannot read {path}: {error}") from None
            try:
                records += READERS[options["format"] or format_for_path(str(path))](text)
            except VocabularyFileError as error:
                problems += [f"{path.name}: {p}" for p in error.problems]
        try:
            if problems:
                raise VocabularyFileError(problems)
            counts = services.vocabulary_load(records=records)
        except VocabularyFileError as error:
            raise CommandError(f"nothing was loaded: {error}") from None
        self.stdout.write(
            f"vocabulary loaded from {len(paths)} file(s): {counts['created']} terms created, "
            f"{counts['updated']} updated, {counts['unchanged']} unchanged"
        )
        if options["release"] is not None:
            version = services.vocabulary_version_release(note=options["release"])
            self.stdout.write(f"released vocabulary v{version.number} ({version.term_count} terms)")
