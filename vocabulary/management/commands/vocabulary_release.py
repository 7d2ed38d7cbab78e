from django.core.management.base import BaseCommand, CommandError

from vocabulary import services


class Command(BaseCommand):
    help = "Release the approved and deprecated terms as the next immutable vocabulary version."

    def add_arguments(self, parser):
        parser.add_argument("--note", default="")

    def handle(self, *args, **options):
        try:
            version = services.vocabulary_version_release(note=options["note"])
        except services.TermLifecycleError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"released vocabulary v{version.number} ({version.term_count} terms)")
