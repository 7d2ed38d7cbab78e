from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "modeling"
    verbose_name = "Modeling"

    def ready(self):
        from base.job_kinds import job_kind_register

        from .models import PreannotationJob
        from .preannotation_services import preannotation_requeue

        job_kind_register(name="preannotation", model=PreannotationJob, requeue=preannotation_requeue)
