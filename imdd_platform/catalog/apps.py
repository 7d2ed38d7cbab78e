from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "imdd_platform.catalog"
    label = "catalog"
    verbose_name = "Catalog"
