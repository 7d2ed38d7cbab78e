from django.apps import AppConfig


class CaptioningConfig(AppConfig):
    """Caption drafting jobs and drafts: a small app of its own inside `annotation`."""

    name = "captioning"
    label = "captioning"
    verbose_name = "Captioning"

    def ready(self):
        from base.job_kinds import job_kind_register

        from .models import CaptionJob
        from .services import caption_job_requeue

        job_kind_register(name="caption", model=CaptionJob, requeue=caption_job_requeue)
