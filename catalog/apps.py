from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    label = "catalog"
    verbose_name = "Catalog"

    def ready(self):
        from base.job_kinds import job_kind_register

        from .models import ImportJob
        from .services import import_job_requeue

        job_kind_register(name="import", model=ImportJob, requeue=import_job_requeue)
