from django.core.management.base import BaseCommand, CommandError

from base.job_kinds import JOB_KINDS, JobNotResumable, job_resume


class Command(BaseCommand):
    help = "Resume a failed, cancelled or lost job at the batch it stopped at (a worker picks it up)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(JOB_KINDS), help="which kind of job")
        parser.add_argument("job_id", type=int)

    def handle(self, *args, kind, job_id, **options):
        job_kind = JOB_KINDS[kind]
        job = job_kind.model.objects.filter(pk=job_id).first()
        if job is None:
            raise CommandError(f"there is no {job_kind.label} {job_id}")
        try:
            job = job_resume(job=job)
        except JobNotResumable as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{job_kind.label} {job.pk} resumed at batch {job.next_batch}; a worker will pick it up")
