from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "imdd_platform.releases"
    label = "releases"
    verbose_name = "Dataset releases"
