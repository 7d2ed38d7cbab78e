from django.apps import AppConfig


class CaptioningConfig(AppConfig):
    """Caption drafting jobs and drafts: a small app of its own inside `annotation`."""

    name = "captioning"
    label = "captioning"
    verbose_name = "Captioning"
