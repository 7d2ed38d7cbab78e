from django.apps import AppConfig


class ModelingConfig(AppConfig):
    name = "modeling"
    verbose_name = "Modeling"

    def ready(self):
        from base.job_kinds import job_kind_register

        from .embeddings import embedding_job_requeue
        from .models import EmbeddingJob

        job_kind_register(name="embedding", model=EmbeddingJob, requeue=embedding_job_requeue)
