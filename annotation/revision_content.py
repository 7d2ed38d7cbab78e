"""What a revision holds, in memory: load it, check it is complete, write it as a new immutable
revision, and diff two of them. Applying a client's payload to it is in content_edits.py.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Prefetch

from accounts.models import User
from catalog.models import Sample
from vocabulary.models import LANGUAGES, Facet, Term, TermStatus, VocabularyVersion
from vocabulary.selectors import term_for_raw_label, term_for_source_label

from .error_codes import ContentErrors
from .models import Annotation, AnnotationRevision, Caption, QAPair, Region, RevisionTerm
from .template_fields import TEMPLATE_FIELDS


@dataclass
class RegionDraft:
    defect_type: Term | None
    bbox: list
    area: int
    mask_rle: dict | None = None
    raw_label: str = ""
    source_region_id: int | None = None
    existing: Region | None = None  # set once the region is a row
    key: str = ""  # the client's name for a new region, for QA pairs of the same payload


@dataclass
class CaptionText:
    text: str
    author_id: int | None
    generator: str = ""


@dataclass
class QADraft:
    question: str
    answer: str
    language: str
    regions: list[RegionDraft] = field(default_factory=list)


@dataclass
class Content:
    fields: dict[str, list[Term]] = field(default_factory=lambda: {f.name: [] for f in TEMPLATE_FIELDS})
    notes: str = ""
    regions: list[RegionDraft] = field(default_factory=list)
    captions: dict[str, CaptionText] = field(default_factory=dict)
    qa_pairs: list[QADraft] = field(default_factory=list)


# -- loading -----------------------------------------------------------------------------------


def revisions_with_content():
    """AnnotationRevision rows with everything content_of() reads, in a fixed number of queries."""
    return AnnotationRevision.objects.prefetch_related(
        Prefetch("terms", queryset=RevisionTerm.objects.select_related("term")),
        Prefetch("regions", queryset=Region.objects.select_related("defect_type").order_by("id")),
        "captions",
        Prefetch("qa_pairs", queryset=QAPair.objects.prefetch_related("regions")),
    )


def region_draft(region: Region) -> RegionDraft:
    """An existing region as the in-memory draft a content holds."""
    return RegionDraft(
        defect_type=region.defect_type,
        bbox=region.bbox,
        area=region.area,
        mask_rle=region.mask_rle,
        raw_label=region.raw_label,
        source_region_id=region.source_region_id,
        existing=region,
    )


def content_of(revision: AnnotationRevision | None) -> Content:
    """The revision's content (prefetch with revisions_with_content() when reading many)."""
    content = Content()
    if revision is None:
        return content
    for row in revision.terms.all():
        content.fields[row.field].append(row.term)
    content.notes = revision.notes
    by_id = {}
    for region in revision.regions.all():
        draft = region_draft(region)
        by_id[region.id] = draft
        content.regions.append(draft)
    for caption in revision.captions.all():
        content.captions[caption.language] = CaptionText(caption.text, caption.author_id, caption.generator)
    for pair in revision.qa_pairs.all():
        regions = [by_id[r.id] for r in sorted(pair.regions.all(), key=lambda r: r.id) if r.id in by_id]
        content.qa_pairs.append(QADraft(pair.question, pair.answer, pair.language, regions))
    return content


def draft_content_for_sample(sample: Sample, *, label_terms: dict, product_terms: dict, dataset: str = "") -> Content:
    """The first draft: the sample's imported regions with their raw labels mapped to defect-type
    terms as the source's dataset means them (vocabulary/label_maps.py: 'copper' is spurious copper
    in DeepPCB only; an unmapped label keeps its region, with no term, so the annotator sees it),
    and the product when the vocabulary knows the sample's product name. The dicts cache lookups."""
    content = Content()
    for source_region in sample.source_regions.all():
        key = (dataset, source_region.label)
        if key not in label_terms:
            label_terms[key] = term_for_source_label(source_region.label, dataset=dataset)
        term = label_terms[key]
        content.regions.append(
            RegionDraft(
                defect_type=term,
                bbox=source_region.bbox,
                area=source_region.area,
                mask_rle=source_region.mask_rle,
                raw_label=source_region.label,
                source_region_id=source_region.id,
            )
        )
        if term is not None and term not in content.fields["defect_types"]:
            content.fields["defect_types"].append(term)
    if sample.product:
        if sample.product not in product_terms:
            product_terms[sample.product] = term_for_raw_label(sample.product, facet=Facet.PRODUCT)
        if product_terms[sample.product] is not None:
            content.fields["product"] = [product_terms[sample.product]]
    return content


def term_problem(term: Term | None, term_id, facet: str) -> str | None:
    if term is None:
        return f"no term {term_id}"
    if term.facet != facet:
        return f"term {term_id} ({term.slug}) is a {term.facet} term, not a {facet} term"
    if term.status == TermStatus.DEPRECATED:
        instead = f"; use {term.replaced_by.slug} ({term.replaced_by_id})" if term.replaced_by_id else ""
        return f"term {term_id} ({term.slug}) is deprecated{instead}"
    if term.status != TermStatus.APPROVED:
        return f"term {term_id} ({term.slug}) is {term.status}, not approved"
    return None


# -- completeness ------------------------------------------------------------------------------


def content_check_complete(content: Content) -> None:
    """What submit, approve and an edit vote require, beyond a valid payload."""
    errors = ContentErrors()
    for spec in TEMPLATE_FIELDS:
        path = f"fields.{spec.name}"
        if spec.required and not content.fields[spec.name]:
            errors.add(path, "required")
        for term in content.fields[spec.name]:  # terms carried from earlier revisions may be deprecated since
            if problem := term_problem(term, term.pk, spec.facet):
                errors.add(path, problem)
    for index, region in enumerate(content.regions):
        if region.defect_type is None:
            hint = f" (the source's label {region.raw_label!r} is not in the vocabulary)" if region.raw_label else ""
            errors.add(f"regions[{index}].defect_type", "required" + hint)
        elif problem := term_problem(region.defect_type, region.defect_type.pk, Facet.DEFECT_TYPE):
            errors.add(f"regions[{index}].defect_type", problem)
    for language in settings.ANNOTATION_REQUIRED_LANGUAGES:
        caption = content.captions.get(language)
        if caption is None or not caption.text.strip():
            errors.add(f"captions.{language}", "required")
    errors.raise_if_any()


# -- writing -----------------------------------------------------------------------------------


def revision_write(
    *,
    annotation: Annotation,
    content: Content,
    stage: str,
    author: User | None,
    vocabulary_version: VocabularyVersion | None,
) -> AnnotationRevision:
    """A new immutable revision of `content`, made the annotation's current one (the caller
    holds the annotation's row lock and saves it). New regions become rows."""
    based_on = annotation.current_revision
    revision = AnnotationRevision.objects.create(
        annotation=annotation,
        number=(based_on.number if based_on else 0) + 1,
        stage=stage,
        author=author,
        based_on=based_on,
        notes=content.notes,
        vocabulary_version=vocabulary_version,
    )
    regions_write(annotation=annotation, drafts=content.regions, author=author)
    revision.regions.add(*[draft.existing for draft in content.regions])
    RevisionTerm.objects.bulk_create(
        RevisionTerm(revision=revision, field=name, term=term, position=position)
        for name, terms in content.fields.items()
        for position, term in enumerate(terms)
    )
    Caption.objects.bulk_create(
        Caption(revision=revision, language=language, text=c.text, author_id=c.author_id, generator=c.generator)
        for language, c in sorted(content.captions.items())
    )
    if content.qa_pairs:
        pairs = QAPair.objects.bulk_create(
            QAPair(revision=revision, position=i, question=p.question, answer=p.answer, language=p.language)
            for i, p in enumerate(content.qa_pairs)
        )
        QAPair.regions.through.objects.bulk_create(
            QAPair.regions.through(qapair_id=pair.pk, region_id=region.existing.pk)
            for pair, draft in zip(pairs, content.qa_pairs, strict=True)
            for region in draft.regions
        )
    annotation.current_revision = revision
    return revision


def regions_write(*, annotation: Annotation, drafts: list[RegionDraft], author: User | None) -> None:
    new = [draft for draft in drafts if draft.existing is None]
    rows = Region.objects.bulk_create(
        Region(
            annotation=annotation,
            defect_type=draft.defect_type,
            raw_label=draft.raw_label,
            mask_rle=draft.mask_rle,
            bbox=draft.bbox,
            area=draft.area,
            source_region_id=draft.source_region_id,
            created_by=author,
        )
        for draft in new
    )
    for draft, row in zip(new, rows, strict=True):
        draft.existing = row


# -- comparing ---------------------------------------------------------------------------------


def term_ref(term: Term | None) -> dict | None:
    if term is None:
        return None
    return {"id": term.pk, "slug": term.slug, "label": {language: term.label(language) for language in LANGUAGES}}


def region_summary(region: RegionDraft) -> dict:
    return {
        "id": region.existing.pk if region.existing else None,
        "defect_type": region.defect_type.slug if region.defect_type else None,
        "raw_label": region.raw_label,
        "bbox": region.bbox,
        "area": region.area,
    }


def _qa_summary(pair: QADraft) -> dict:
    regions = [r.existing.pk if r.existing else r.key for r in pair.regions]
    return {"question": pair.question, "answer": pair.answer, "language": pair.language, "regions": regions}


def content_diff(old: Content, new: Content) -> list[tuple[str, object, object]]:
    """(field, before, after) for every part that differs: one audit event each."""
    changes = []
    for spec in TEMPLATE_FIELDS:
        before = [t.slug for t in old.fields[spec.name]]
        after = [t.slug for t in new.fields[spec.name]]
        if before != after:
            changes.append((f"fields.{spec.name}", before, after))
    if old.notes != new.notes:
        changes.append(("notes", old.notes, new.notes))
    for language in sorted(set(old.captions) | set(new.captions)):
        before = old.captions[language].text if language in old.captions else None
        after = new.captions[language].text if language in new.captions else None
        if before != after:
            changes.append((f"captions.{language}", before, after))
    before_regions = [region_summary(r) for r in old.regions]
    after_regions = [region_summary(r) for r in new.regions]
    if before_regions != after_regions:
        changes.append(("regions", before_regions, after_regions))
    before_pairs = [_qa_summary(p) for p in old.qa_pairs]
    after_pairs = [_qa_summary(p) for p in new.qa_pairs]
    if before_pairs != after_pairs:
        changes.append(("qa_pairs", before_pairs, after_pairs))
    return changes


def content_disagrees(first: Content, second: Content) -> bool:
    """Whether review changed what the sample *is*: a template field, or the defect types of
    its regions. Caption wording and region outlines alone are not a disagreement."""
    for spec in TEMPLATE_FIELDS:
        if {t.pk for t in first.fields[spec.name]} != {t.pk for t in second.fields[spec.name]}:
            return True

    def region_types(content: Content) -> list:
        return sorted((r.defect_type.pk if r.defect_type else 0) for r in content.regions)

    return region_types(first) != region_types(second)
