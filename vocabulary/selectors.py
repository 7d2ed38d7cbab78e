import re

from django.conf import settings
from django.db.models import Case, Count, Max, OuterRef, Q, QuerySet, Subquery, Value, When

from .captions import CaptionValidator, TermInfo
from .label_maps import label_term_slug
from .matching import Name, TermMatcher
from .models import LANGUAGES, Facet, Term, TermName, TermStatus, VocabularyVersion
from .text import fold_key


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
            names__normalized=fold_key(label.strip()),
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


# Chinese and Japanese write compounds without spaces and put the head noun last (不锈钢 stainless
# steel, 表面亀裂 surface crack): a query holding Han or kana is looked for anywhere in a name.
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Where a word starts inside a folded name: after a space (fold reads '_', '-' and whitespace as
# spaces) or a slash ("etching over/under"). Mid-word pieces ("teel") are noise in English.
_WORD_BREAKS = (" ", "/")


def _name_matches(folded: str) -> Q:
    if _CJK.search(folded):
        return Q(normalized__contains=folded)
    starts = Q(normalized__startswith=folded)
    for separator in _WORD_BREAKS:
        starts |= Q(normalized__contains=separator + folded)
    return starts


def term_search(*, query: str = "", facet: str | None = None, statuses=(TermStatus.APPROVED,)) -> QuerySet[Term]:
    """Terms with a label or alias (any language) matching `query`, best match first.

    A match is at the start of a word of the name, or anywhere in it for a Chinese or Japanese
    query. Ranked by a term's best name: the whole name, then a name starting with the query, then
    any other match; within each, a label before an alias; ties by facet and English label. Both
    sides are folded (case, fullwidth Latin, halfwidth katakana, traditional Chinese, '_' and '-':
    text.fold_key).

    A match inside a name cannot use an index, so the names are scanned: the bundled ~8,300 in
    about 4 ms a search on SQLite and PostgreSQL (`python -m benchmarks autocomplete`). A trigram
    index would not pay: one- and two-character Chinese and Japanese queries cannot use one."""
    terms = Term.objects.filter(status__in=statuses)
    if facet:
        terms = terms.filter(facet=facet)
    folded = fold_key(query.strip())
    if not folded:
        return terms.order_by("facet", "label_en")
    matching = TermName.objects.filter(_name_matches(folded))
    # One number per name: 0/1 the whole name (label/alias), 2/3 its start, 4/5 a word or a part.
    rank = Case(
        When(normalized=folded, then=Value(0)), When(normalized__startswith=folded, then=Value(2)), default=Value(4)
    ) + Case(When(is_label=True, then=Value(0)), default=Value(1))
    best = matching.filter(term=OuterRef("pk")).annotate(rank=rank).order_by("rank").values("rank")[:1]
    return (
        terms.filter(id__in=matching.values("term_id"))
        .annotate(match_rank=Subquery(best))
        .order_by("match_rank", "facet", "label_en")
    )


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
