from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from base.jobs import JobStatus
from releases import exports
from releases.models import DatasetVersion, Export, ExportFormat


class Command(BaseCommand):
    help = (
        "Export a published dataset version as WebDataset shards (with Parquet index and card), COCO, QA JSONL, "
        "captions CSV, anomalib (MVTec AD folders) or YOLO labels; or resume an export."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", nargs="?", help="version number or name (3 or v3)")
        parser.add_argument("--format", choices=ExportFormat.values, default=ExportFormat.WEBDATASET)
        parser.add_argument("--to", help="a directory, or s3://bucket/prefix")
        parser.add_argument(
            "--resume", type=int, metavar="EXPORT_ID", help="run export #EXPORT_ID again, keeping its committed files"
        )
        parser.add_argument("--shard-samples", type=int, default=10_000)
        parser.add_argument("--shard-bytes", type=int, default=1_000_000_000)
        parser.add_argument("--include-restricted", action="store_true", help="this export is marked for them")
        parser.add_argument("--enqueue", action="store_true", help="fan out on the Celery 'export' queue")

    def handle(self, *args, **options):
        if options["resume"] is not None:
            export = Export.objects.select_related("version").filter(pk=options["resume"]).first()
            if export is None:
                raise CommandError(f"there is no export #{options['resume']}")
            if export.status == JobStatus.SUCCEEDED:
                raise CommandError(f"export #{export.pk} has succeeded: there is nothing to resume")
            return self._run(export, options)
        if not options["version"] or not options["to"]:
            raise CommandError("give a version and --to (or --resume EXPORT_ID)")
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
        self._run(export, options)

    def _run(self, export, options):
        version = export.version
        if options["enqueue"]:
            exports.export_start(export=export)
            self.stdout.write(f"export #{export.pk}: {_work(export)} queued on 'export'")
            return
        progress = tqdm(
            total=export.shards_total, unit="shard", desc=f"export #{export.pk}", disable=options["verbosity"] == 0
        )

        def on_progress(current):
            progress.n = current.shards_done
            progress.refresh()

        export = exports.export_run_here(export=export, on_progress=on_progress)
        progress.close()
        if export.status != JobStatus.SUCCEEDED:
            raise CommandError(f"export #{export.pk} failed: {export.error} (resume it: --resume {export.pk})")
        self.stdout.write(
            f"export #{export.pk}: {version.name} as {export.format} to {export.target}: "
            f"{export.samples_written} samples"
            + (f" in {_work(export)}" if export.format == ExportFormat.WEBDATASET else "")
        )


def _work(export) -> str:
    """What the export's tasks are: a WebDataset export's shards (each a tar with its index entries),
    else one task that writes the format's files (a COCO file per split, YOLO labels, ...)."""
    if export.format == ExportFormat.WEBDATASET:
        return f"{export.shards_total} shard(s)"
    return f"one {export.format} task"
