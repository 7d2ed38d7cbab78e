from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ModelingConfig(AppConfig):
    name = "modeling"
    verbose_name = "Modeling"

    def ready(self):
        # The learned click segmenter joins segmentation's registry only with a trained checkpoint.
        if settings.SEGMENT_LEARNED_CHECKPOINT:
            from modeling.core.errors import ModelingError

            from .click_backend import register_learned_backend

            try:
                register_learned_backend(settings.SEGMENT_LEARNED_CHECKPOINT)
            except (ModelingError, ImportError) as error:
                raise ImproperlyConfigured(
                    f"SEGMENT_LEARNED_CHECKPOINT={settings.SEGMENT_LEARNED_CHECKPOINT}: {error}"
                ) from None

        from base.job_kinds import job_kind_register

        from .models import PreannotationJob
        from .preannotation_services import preannotation_requeue

        job_kind_register(name="preannotation", model=PreannotationJob, requeue=preannotation_requeue)
        from .embeddings import embedding_job_requeue
        from .models import EmbeddingJob

        job_kind_register(name="embedding", model=EmbeddingJob, requeue=embedding_job_requeue)
