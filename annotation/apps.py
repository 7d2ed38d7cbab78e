from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "Annotation and verification"

    def ready(self):
        from base.job_kinds import job_kind_register

        from .models import AgreementReport
        from .services import agreement_report_requeue

        job_kind_register(name="report", model=AgreementReport, requeue=agreement_report_requeue)
