from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import AnnotationState
from base.jobs import JobStatus
from captioning import services
from captioning.inputs import LANGUAGES
from captioning.models import CaptionerKind, CaptionJob
from catalog.management.source_arguments import source_name
from catalog.models import Source


class Command(BaseCommand):
    help = "Draft captions (EN/ZH/JA) for annotated samples with the template or the LLM captioner."

    def add_arguments(self, parser):
        parser.add_argument("--captioner", choices=CaptionerKind.values, default=CaptionerKind.TEMPLATE)
        parser.add_argument("--languages", default=",".join(LANGUAGES), help="comma-separated, e.g. en,zh")
        parser.add_argument(
            "--source", type=source_name, action="append", default=[], help="source name or id (repeatable)"
        )
        parser.add_argument("--state", action="append", default=[], choices=AnnotationState.values)
        parser.add_argument("--sample", action="append", type=int, default=[], help="sample id (repeatable)")
        parser.add_argument("--limit", type=int)
        parser.add_argument("--retry-failed", type=int, metavar="JOB", help="only the samples that failed in JOB")
        parser.add_argument("--resume", type=int, metavar="JOB", help="continue an interrupted job")
        parser.add_argument("--enqueue", action="store_true", help="run on the Celery 'caption' queue instead")

    def handle(self, *args, **options):
        if options["resume"]:
            job = CaptionJob.objects.filter(pk=options["resume"]).first()
            if job is None:
                raise CommandError(f"there is no caption job {options['resume']}")
            if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
                raise CommandError(f"job {job.pk} is {job.status}; only a pending or running job resumes")
        else:
            job = self._create(options)
        if options["enqueue"]:
            services.caption_job_enqueue(job=job)
            self.stdout.write(f"caption job #{job.pk} queued on 'caption'")
            return

        progress = tqdm(total=0, unit="sample", desc=f"caption job #{job.pk}", disable=options["verbosity"] == 0)

        def on_progress(current):
            progress.total, progress.n = current.total, current.processed
            progress.set_postfix(drafted=current.drafted, skipped=current.skipped, failed=current.failed, refresh=False)
            progress.refresh()

        job = services.caption_job_run(job=job, on_progress=on_progress)
        progress.close()
        if job.status == JobStatus.FAILED:
            raise CommandError(f"caption job #{job.pk} failed: {job.error}")
        self.stdout.write(
            f"caption job #{job.pk}: {job.drafted} drafted ({job.flagged} flagged by the validator), "
            f"{job.skipped} skipped (unchanged), {job.failed} failed, of {job.total}; "
            f"{job.requests} requests, {job.prompt_tokens} prompt + {job.completion_tokens} completion tokens, "
            f"estimated cost {job.estimated_cost}"
        )
        for attempt in job.attempts.filter(outcome="failed")[:20]:
            self.stdout.write(f"  failed sample {attempt.annotation_id}: {attempt.error}")
        if job.failed:
            self.stdout.write(f"  re-run the failed ones: manage.py caption_samples --retry-failed {job.pk}")

    def _create(self, options) -> CaptionJob:
        filters = {}
        if options["source"]:
            sources = dict(Source.objects.filter(name__in=options["source"]).values_list("name", "id"))
            missing = sorted(set(options["source"]) - set(sources))
            if missing:
                raise CommandError(f"unknown source(s): {', '.join(missing)}")
            filters["sources"] = sorted(sources.values())
        if options["state"]:
            filters["states"] = options["state"]
        if options["sample"]:
            filters["samples"] = options["sample"]
        if options["limit"]:
            filters["limit"] = options["limit"]
        retry_of = None
        if options["retry_failed"]:
            retry_of = CaptionJob.objects.filter(pk=options["retry_failed"]).first()
            if retry_of is None:
                raise CommandError(f"there is no caption job {options['retry_failed']}")
        try:
            return services.caption_job_create(
                captioner=options["captioner"],
                languages=tuple(code.strip() for code in options["languages"].split(",") if code.strip()),
                filters=filters,
                retry_failed_of=retry_of,
            )
        except services.CaptionJobError as error:
            raise CommandError(str(error)) from None
