from django.core.management.base import BaseCommand, CommandError

from modeling.models import RunKind
from modeling.services import RunError, training_run_register
from releases.models import Export


class Command(BaseCommand):
    help = (
        "Record a run trained outside the platform (python -m modeling.train, torchrun on another machine) as a "
        "finished run of the WebDataset export it read, with its checkpoints and metrics: pre-annotation "
        "(--checkpoint run:N), evaluation and Stage 2 can then start from it."
    )

    def add_arguments(self, parser):
        parser.add_argument("out_dir", help="the run's --out folder (it holds checkpoints/ and metrics.jsonl)")
        parser.add_argument(
            "--export", type=int, required=True, metavar="EXPORT_ID", help="the WebDataset export whose shards it read"
        )

    def handle(self, *args, **options):
        export = Export.objects.filter(pk=options["export"]).select_related("version").first()
        if export is None:
            raise CommandError(f"no export {options['export']}")
        try:
            run = training_run_register(out_dir=options["out_dir"], export=export)
        except RunError as error:
            raise CommandError(str(error)) from None
        newest = run.checkpoints.order_by("-step").first()
        # Pre-annotation takes a Stage 2 checkpoint only: point each kind at what can use it.
        next_step = {
            RunKind.STAGE_2: f"pre-annotate with --checkpoint run:{run.pk}",
            RunKind.STAGE_1: f"Stage 2 can start from run {run.pk}",
        }.get(run.kind, f"run:{run.pk}")
        self.stdout.write(
            f"run {run.pk} ({run.get_kind_display()}, {run.dataset_version.name}): {run.checkpoints.count()} "
            f"checkpoint(s), newest step {newest.step if newest else '?'}; {next_step}"
        )
