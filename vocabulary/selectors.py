from .models import VocabularyVersion


def vocabulary_current_version() -> VocabularyVersion | None:
    """The latest released version: what new annotations and dataset versions record."""
    return VocabularyVersion.objects.order_by("-number").first()
