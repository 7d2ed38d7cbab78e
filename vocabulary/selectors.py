from .models import Term, TermStatus, VocabularyVersion
from .text import fold


def vocabulary_current_version() -> VocabularyVersion | None:
    """The latest released version: what new annotations and dataset versions record."""
    return VocabularyVersion.objects.order_by("-number").first()


def term_for_raw_label(label: str, *, facet: str) -> Term | None:
    """The approved term of `facet` whose label or alias, folded, equals the raw label
    (e.g. an importer's 'rolled-in_scale' -> def-rolled-in-scale), or None."""
    return (
        Term.objects.filter(facet=facet, status=TermStatus.APPROVED, names__normalized=fold(label.strip()))
        .distinct()
        .first()
    )
