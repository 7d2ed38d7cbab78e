from django.apps import AppConfig


class BaseConfig(AppConfig):
    """Layer 0: shared building blocks. An app so that its job commands and sweep task are found."""

    name = "base"
    label = "base"
    verbose_name = "Shared building blocks"
