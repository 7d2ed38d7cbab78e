from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from releases import exports
from releases.models import DatasetVersion, ExportFormat, ExportStatus


class Command(BaseCommand):
    help = "Export a published dataset version as WebDataset shards, COCO, QA JSONL or captions CSV."

    def add_arguments(self, parser):
        parser.add_argument("version", help="version number or name (3 or v3)")
        parser.add_argument("--format", choices=ExportFormat.values, default=ExportFormat.WEBDATASET)
        parser.add_argument("--to", required=True, help="a directory, or s3://bucket/prefix")
        parser.add_argument("--shard-samples", type=int, default=10_000)
        parser.add_argument("--shard-bytes", type=int, default=1_000_000_000)
        parser.add_argument("--include-restricted", action="store_true", help="this export is marked for them")
        parser.add_argument("--enqueue", action="store_true", help="fan out on the Celery 'export' queue")

    def handle(self, *args, **options):
        number = options["version"].lstrip("v")
        version = DatasetVersion.objects.filter(number=int(number)).first() if number.isdigit() else None
        if version is None:
            raise CommandError(f"there is no dataset version {options['version']}")
        try:
            export = exports.export_create(
                version=version,
                format=options["format"],
                target=options["to"],
                include_restricted=options["include_restricted"],
                shard_max_samples=options["shard_samples"],
                shard_max_bytes=options["shard_bytes"],
            )
        except exports.ExportError as error:
            raise CommandError(str(error)) from None
        if options["enqueue"]:
            exports.export_start(export=export)
            self.stdout.write(f"export #{export.pk}: {export.shards_total} file(s) queued on 'export'")
            return
        progress = tqdm(
            total=export.shards_total, unit="shard", desc=f"export #{export.pk}", disable=options["verbosity"] == 0
        )

        def on_progress(current):
            progress.n = current.shards_done
            progress.refresh()

        export = exports.export_run_here(export=export, on_progress=on_progress)
        progress.close()
        if export.status != ExportStatus.SUCCEEDED:
            raise CommandError(f"export #{export.pk} failed: {export.error} (run it again to resume)")
        self.stdout.write(
            f"export #{export.pk}: {version.name} as {export.format} to {options['to']}: "
            f"{export.samples_written} samples in {export.shards_total} file(s)"
        )
