from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet

from .captions import CaptionValidator, TermInfo
from .label_maps import label_term_slug
from .matching import Name, TermMatcher
from .models import LANGUAGES, Facet, Term, TermName, TermStatus, VocabularyVersion
from .text import fold


def vocabulary_current_version() -> VocabularyVersion | None:
    """The latest released version: what new annotations and dataset versions record."""
    return VocabularyVersion.objects.order_by("-number").first()


def term_for_raw_label(label: str, *, facet: str) -> Term | None:
    """The approved term of `facet` whose label or alias, folded, equals the raw label
    (e.g. an importer's 'rolled-in_scale' -> def-rolled-in-scale), or None. Ambiguous aliases
    ('copper', 'open') are left out: with no context they say nothing."""
    return (
        Term.objects.filter(
            facet=facet,
            status=TermStatus.APPROVED,
            names__normalized=fold(label.strip()),
            names__context__isnull=True,
        )
        .distinct()
        .first()
    )


def term_for_source_label(label: str, *, dataset: str = "") -> Term | None:
    """The defect-type term for a region's raw label in a source of `dataset` (label_maps.py):
    the dataset's own map first ('copper' in DeepPCB), then the generic one ('good'), then the
    vocabulary's unambiguous names. None when the label names no term (an unmapped label, or
    one like 'bad' that names a defect of no known type): the region keeps no term."""
    known, slug = label_term_slug(label, dataset=dataset)
    if known:
        return Term.objects.filter(slug=slug, status=TermStatus.APPROVED).first() if slug else None
    return term_for_raw_label(label, facet=Facet.DEFECT_TYPE)


def term_search(*, prefix: str = "", facet: str | None = None, statuses=(TermStatus.APPROVED,)) -> QuerySet[Term]:
    """Terms with a label or alias (any language) starting with `prefix`, labels first.

    Served by the varchar_pattern_ops index on TermName.normalized on PostgreSQL."""
    terms = Term.objects.filter(status__in=statuses)
    if facet:
        terms = terms.filter(facet=facet)
    if prefix.strip():
        matching = TermName.objects.filter(normalized__startswith=fold(prefix.strip())).values("term_id")
        terms = terms.filter(id__in=matching)
    return terms.order_by("facet", "label_en")


# The normalizer and validator are built from the whole vocabulary (a few thousand names, ~50 ms)
# and kept per process until the vocabulary changes; the stamp query costs well under a millisecond.
_cache: dict[str, object] = {}


def _vocabulary_stamp() -> tuple:
    stamp = Term.objects.aggregate(changed=Max("updated_at"), count=Count("id"))
    names = TermName.objects.aggregate(last=Max("id"), count=Count("id"))
    return (stamp["changed"], stamp["count"], names["last"], names["count"])


def _names_and_terms() -> tuple[list[Name], dict[str, TermInfo]]:
    usable = Q(term__status__in=(TermStatus.APPROVED, TermStatus.DEPRECATED))
    names = [
        Name(
            text=text,
            term=slug,
            facet=facet,
            language=language,
            is_label=is_label,
            context=tuple(context) if context is not None else None,
        )
        for text, slug, facet, language, is_label, context in TermName.objects.filter(usable).values_list(
            "text", "term__slug", "term__facet", "language", "is_label", "context"
        )
    ]
    terms = {
        slug: TermInfo(
            slug=slug,
            facet=facet,
            labels=dict(zip(LANGUAGES, labels, strict=True)),
            status=status,
            replaced_by=replaced_by,
            parent=parent,
        )
        for slug, facet, status, replaced_by, parent, *labels in Term.objects.values_list(
            "slug", "facet", "status", "replaced_by__slug", "parent__slug", "label_en", "label_zh", "label_ja"
        )
    }
    return names, terms


def _matcher(names: list[Name], terms: dict[str, TermInfo]) -> TermMatcher:
    return TermMatcher(names, parents={slug: info.parent for slug, info in terms.items()})


def _cached(key: str, build):
    stamp = _vocabulary_stamp()
    entry = _cache.get(key)
    if entry is None or entry[0] != stamp:
        entry = (stamp, build())
        _cache[key] = entry
    return entry[1]


def vocabulary_matcher() -> TermMatcher:
    return _cached("matcher", lambda: _matcher(*_names_and_terms()))


def caption_validator() -> CaptionValidator:
    def build():
        names, terms = _names_and_terms()
        return CaptionValidator(names=names, terms=terms, target_words=settings.CAPTION_TARGET_WORDS)

    return _cached("validator", build)


def version_diff(old: list[dict], new: list[dict]) -> dict[str, list]:
    """What changed between two term lists in the vocabulary JSON shape (versions or the working copy)."""
    before = {term["slug"]: term for term in old}
    after = {term["slug"]: term for term in new}
    added = sorted(slug for slug in after if slug not in before)
    removed = sorted(slug for slug in before if slug not in after)
    deprecated, changed = [], []
    for slug in sorted(set(before) & set(after)):
        if before[slug] == after[slug]:
            continue
        if after[slug]["status"] == TermStatus.DEPRECATED and before[slug]["status"] != TermStatus.DEPRECATED:
            deprecated.append({"slug": slug, "replaced_by": after[slug].get("replaced_by")})
        else:
            fields = sorted(name for name in after[slug] if after[slug].get(name) != before[slug].get(name))
            changed.append({"slug": slug, "fields": fields})
    return {"added": added, "changed": changed, "deprecated": deprecated, "removed": removed}
