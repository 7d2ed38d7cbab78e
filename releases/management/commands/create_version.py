import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from releases.versions import VersionError, dataset_version_create, dataset_version_publish


class Command(BaseCommand):
    help = "Freeze the VERIFIED annotations a selection picks as the next dataset version (and publish it)."

    def add_arguments(self, parser):
        parser.add_argument("--title", required=True)
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--selection", default="{}", help='JSON, e.g. {"sources": [1], "defect_types": ["def-scratch"]}'
        )
        parser.add_argument(
            "--splits", default="{}", help='JSON, e.g. {"train": 0.8, "val": 0.1, "test": 0.1, "seed": 1}'
        )
        parser.add_argument("--publish", action="store_true")

    def handle(self, *args, **options):
        try:
            selection = json.loads(options["selection"])
            split_plan = json.loads(options["splits"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--selection and --splits take JSON objects ({error})") from None
        try:
            with transaction.atomic():  # a publish that fails leaves no draft behind (nor a number taken)
                version = dataset_version_create(
                    title=options["title"],
                    description=options["description"],
                    selection=selection,
                    split_plan=split_plan,
                )
                if options["publish"]:
                    dataset_version_publish(version=version)
        except VersionError as error:
            raise CommandError(str(error)) from None
        splits = ", ".join(f"{k} {v}" for k, v in sorted(version.statistics.get("per_split", {}).items()))
        self.stdout.write(
            f"{version.name} ({version.status}): {version.sample_count} samples" + (f"; {splits}" if splits else "")
        )
