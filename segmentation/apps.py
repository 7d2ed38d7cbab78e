from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SegmentationConfig(AppConfig):
    name = "segmentation"
    verbose_name = "Click segmentation"

    def ready(self):
        # SAM or SAM 2 from local weights, only where a folder is configured (nothing is ever downloaded).
        if settings.SEGMENT_SAM_PATH:
            from .backends import register
            from .sam import SamBackendError, sam_backend_from_folder

            try:
                register(sam_backend_from_folder(settings.SEGMENT_SAM_PATH))
            except SamBackendError as error:
                raise ImproperlyConfigured(str(error)) from None
