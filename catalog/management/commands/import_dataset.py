from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from base.jobs import JobStatus
from catalog import services
from catalog.importers import IMPORTERS
from catalog.importers.base import ImportOptions
from catalog.ingest import import_run
from catalog.models import RowOutcome, SourceKind


class Command(BaseCommand):
    help = "Import a dataset folder (or COCO JSON / manifest file) into the catalog, with a per-row report."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=sorted(IMPORTERS), help="source layout")
        parser.add_argument("path", help="dataset folder, or a COCO JSON / manifest file")
        parser.add_argument("--source", required=True, help="source name (created on first use)")
        parser.add_argument("--kind", default=SourceKind.BENCHMARK, choices=SourceKind.values)
        parser.add_argument("--license", default="", help="license text or SPDX id of the source")
        parser.add_argument(
            "--restricted",
            action="store_true",
            help="a new source is visible only to its members (an existing source keeps its visibility)",
        )
        parser.add_argument("--product", default="", help="product of every item whose layout names none")
        parser.add_argument("--domain", default="", help="domain of every item whose layout names none")
        parser.add_argument("--images", default="", help="coco: the image folder, relative to the dataset root")
        parser.add_argument("--workers", type=int, default=2, help="decoding threads")
        parser.add_argument(
            "--show-rejected", type=int, default=20, help="list at most this many rejected rows (and warned rows)"
        )

    def handle(self, *args, **options):
        try:
            job = services.import_request(
                source_name=options["source"],
                kind=options["kind"],
                license=options["license"],
                restricted=True if options["restricted"] else None,
                format=options["format"],
                path=options["path"],
                created_by=None,
                restrict_to_import_roots=False,
                options=ImportOptions(product=options["product"], domain=options["domain"], images=options["images"]),
            )
        except services.ImportRequestError as error:
            raise CommandError(str(error)) from None

        progress = tqdm(total=0, unit="img", desc=f"import #{job.pk}", disable=options["verbosity"] == 0)

        def on_progress(current):
            progress.total = current.total
            progress.n = current.processed
            progress.set_postfix(
                imported=current.imported, duplicate=current.duplicates, rejected=current.rejected, refresh=False
            )
            progress.refresh()

        job = import_run(job=job, on_progress=on_progress, workers=options["workers"])
        progress.close()
        if job.status == JobStatus.FAILED:
            raise CommandError(f"import #{job.pk} failed: {job.error}")

        self.stdout.write(
            f"import #{job.pk} into source '{job.source.name}' (id {job.source_id}): {job.imported} imported, "
            f"{job.duplicates} skipped as duplicate, {job.rejected} rejected (of {job.total})"
        )
        rejected = job.rows.filter(outcome=RowOutcome.REJECTED)[: options["show_rejected"]]
        for row in rejected:
            self.stdout.write(f"  rejected {row.item}: {row.reason}")
        if job.rejected > options["show_rejected"]:
            self.stdout.write(f"  ... and {job.rejected - options['show_rejected']} more (see the admin or the API)")
        warned = job.rows.exclude(warnings=[])
        warned_count = warned.count()
        if warned_count:
            self.stdout.write(f"{warned_count} imported row(s) with warnings:")
        for row in warned[: options["show_rejected"]]:
            for warning in row.warnings:
                self.stdout.write(f"  warning {row.item}: {warning}")
        if warned_count > options["show_rejected"]:
            self.stdout.write(f"  ... and {warned_count - options['show_rejected']} more (see the admin or the API)")
