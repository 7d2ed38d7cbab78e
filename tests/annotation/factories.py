"""Small factories for annotation tests: vocabulary terms (Term + TermName rows, written directly
while the vocabulary loader is being built), sources and samples with imported regions."""

import uuid

import numpy as np

from catalog.dedup import dedup_scope_for
from catalog.models import Sample, Source, SourceRegion, Visibility
from catalog.rle import mask_bbox, mask_to_rle
from vocabulary.models import Facet, Term, TermName, TermStatus
from vocabulary.text import fold_key


def make_term(
    facet: str,
    slug: str,
    *,
    label: str | None = None,
    status: str = TermStatus.APPROVED,
    aliases: tuple[str, ...] = (),
    parent: Term | None = None,
    replaced_by: Term | None = None,
) -> Term:
    label = label or slug.split("-", 1)[-1].replace("-", " ")
    term = Term.objects.create(
        slug=slug,
        facet=facet,
        status=status,
        parent=parent,
        replaced_by=replaced_by,
        label_en=label,
        label_zh=f"{label}(zh)",
        label_ja=f"{label}(ja)",
        definition=f"A {label}.",
    )
    for language, text, is_label in [("en", label, True)] + [("en", alias, False) for alias in aliases]:
        TermName.objects.create(term=term, language=language, text=text, normalized=fold_key(text), is_label=is_label)
    return term


class Vocabulary:
    """A handful of approved terms in every facet, plus a deprecated and a proposed one."""

    def __init__(self):
        self.surface = make_term(Facet.DEFECT_CATEGORY, "cat-surface", label="surface defect")
        self.bottle = make_term(Facet.PRODUCT, "prod-bottle", label="bottle")
        self.gear = make_term(Facet.PRODUCT, "prod-gear", label="gear")
        self.glass = make_term(Facet.MATERIAL, "mat-glass", label="glass")
        self.steel = make_term(Facet.MATERIAL, "mat-steel", label="steel")
        self.scratch = make_term(Facet.DEFECT_TYPE, "def-scratch", label="scratch", parent=self.surface)
        self.crack = make_term(Facet.DEFECT_TYPE, "def-crack", label="crack", parent=self.surface)
        self.stain = make_term(Facet.DEFECT_TYPE, "def-stain", label="stain", aliases=("contamination",))
        self.old_dent = make_term(
            Facet.DEFECT_TYPE, "def-old-dent", label="old dent", status=TermStatus.DEPRECATED, replaced_by=self.crack
        )
        self.proposed = make_term(Facet.DEFECT_TYPE, "def-bubble", label="bubble", status=TermStatus.PROPOSED)
        self.edge = make_term(Facet.LOCATION, "loc-edge", label="edge")
        self.center = make_term(Facet.LOCATION, "loc-center", label="center")
        self.linear = make_term(Facet.MORPHOLOGY, "mor-linear", label="linear")
        self.handling = make_term(Facet.ROOT_CAUSE, "cau-handling", label="handling damage")


def make_source(name: str = "bench source", *, restricted: bool = False) -> Source:
    visibility = Visibility.RESTRICTED if restricted else Visibility.PUBLIC
    return Source.objects.get_or_create(name=name, defaults={"visibility": visibility})[0]


def box_mask(width: int, height: int, x: int, y: int, w: int, h: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[y : y + h, x : x + w] = True
    return mask


def make_sample(
    source: Source | None = None,
    *,
    width: int = 40,
    height: int = 30,
    regions: tuple = (),
    product: str = "",
    domain: str = "",
    language: str = "",
) -> Sample:
    """regions: (label, mask) pairs, or (label, [x, y, w, h]) for a box only."""
    digest = uuid.uuid4().hex * 2
    source = source or make_source()
    sample = Sample.objects.create(
        source=source,
        dedup_scope_id=dedup_scope_for(source),
        external_id=f"img/{digest[:8]}.png",
        original=f"originals/{digest[:2]}/{digest}.png",
        asset=f"assets/{digest[:2]}/{digest}.jpg",
        thumbnail=f"thumbnails/{digest[:2]}/{digest}.jpg",
        sha256=digest,
        phash="0" * 16,
        width=width,
        height=height,
        original_format="PNG",
        product=product,
        domain=domain,
        source_text="有划痕" if language == "zh" else "",
        source_text_language=language,
    )
    for label, geometry in regions:
        if isinstance(geometry, np.ndarray):
            SourceRegion.objects.create(
                sample=sample,
                label=label,
                mask_rle=mask_to_rle(geometry),
                bbox=mask_bbox(geometry),
                area=int(geometry.sum()),
            )
        else:
            x, y, w, h = geometry
            SourceRegion.objects.create(sample=sample, label=label, mask_rle=None, bbox=list(geometry), area=w * h)
    return sample
