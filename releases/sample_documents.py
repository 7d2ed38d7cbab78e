"""The json documents of an export's samples (docs/webdataset-schema.md), read a batch at a time.

A sample's document gathers about a dozen rows (the item and its sample, the revision's terms,
regions, captions, QA pairs). Read as model instances through prefetch_related, building those
objects cost several times more than writing the shard, so the rows are read here as plain values,
a fixed number of queries per batch, with terms and sources looked up once per reader.
The documents are exactly those `annotation.content.content_of` gives for the revision.
"""

import posixpath
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from django.db.models import TextField
from django.db.models.functions import Cast

from annotation.models import AnnotationRevision, Caption, QAPair, RevisionTerm
from catalog.models import Source, Visibility
from vocabulary.matching import DEFECT_FREE
from vocabulary.models import LANGUAGES, Term

from .models import DatasetVersionItem, Export

SCHEMA_VERSION = 2
READ_BATCH = 1000
# PIL's name of an original's format -> the one extension the exports spell it with
IMAGE_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "BMP": "bmp", "TIFF": "tif", "WEBP": "webp", "GIF": "gif"}
SUFFIX_FORMATS = {"jpeg": "jpg", "tiff": "tif"}
# annotation template field -> the facet name a document uses for it
FIELD_FACETS = {
    "product": "product",
    "materials": "material",
    "defect_types": "defect_type",
    "locations": "location",
    "morphology": "morphology",
    "root_causes": "root_cause",
}


class ExportDataError(ValueError):
    """A sample whose annotation no export format can hold as it is; the message names the sample."""


@dataclass(frozen=True, slots=True)
class SampleRecord:
    sample_id: int
    original: str  # the original image's storage name
    document: dict  # the json member; shared parts (terms, source) must not be modified


def document_defect_types(document: dict) -> set[str]:
    """The defect types a sample document shows: its defect type field's and its regions' terms,
    without "defect-free" (what an annotator picks for a good sample: the absence of a defect)."""
    found = {term["slug"] for term in document["terms"].get("defect_type", [])}
    found.update(region["term"]["slug"] for region in document["regions"] if region["term"])
    return found - {DEFECT_FREE}


def sample_key(sample_id: int) -> str:
    """The key every file of a sample shares, in shards and in the other exports' file names."""
    return f"{sample_id:010d}"


def image_format(original_format: str, original: str) -> str:
    """The extension of an original image: from the format Pillow found in its bytes at import,
    else from its storage name ("png" when it has none). A JPEG stored as .png is a jpg."""
    if original_format.upper() in IMAGE_FORMATS:
        return IMAGE_FORMATS[original_format.upper()]
    suffix = posixpath.splitext(original)[1].lower().lstrip(".")
    return SUFFIX_FORMATS.get(suffix, suffix or "png")


def document_json(document: dict) -> bytes:
    """The json member's bytes: the document with sorted keys, compact, non-ASCII text as UTF-8.
    orjson: a fifth less CPU per exported sample than the standard library's encoder."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def export_items(export: Export):
    """The version's items the export writes. Unless it is marked include_restricted, the samples
    of every source restricted now are left out: the item's `restricted` says what the source was
    when the version was cut, and a source an admin restricts since must not leave with an export
    (releases.selectors.training_sources reads the sources the same way)."""
    items = DatasetVersionItem.objects.filter(version=export.version)
    if not export.include_restricted:
        items = items.exclude(sample__source__visibility=Visibility.RESTRICTED)
    return items.order_by("split", "sample_id")


def _check_regions(sample_id: int, regions: list[dict], width: int, height: int) -> None:
    """ExportDataError unless every region has a mask of its image's size or a box: a mask of another
    size (the 512 px asset's, say) would be painted over the wrong pixels, or not at all."""
    for position, region in enumerate(regions):
        rle = region["rle"]
        if rle is not None and list(rle.get("size", ())) != [height, width]:
            mask_height, mask_width = rle.get("size", ("?", "?"))
            raise ExportDataError(
                f"sample {sample_id}: region {position} has a mask of {mask_width}x{mask_height}, "
                f"its image is {width}x{height}"
            )
        if rle is None and not region["bbox"]:
            raise ExportDataError(f"sample {sample_id}: region {position} has neither a mask nor a box")


class SampleDocumentReader:
    """Reads the documents of an export's items; keeps the terms and sources it has met."""

    def __init__(self, export: Export, classes: dict[str, int]):
        self.export = export
        self.classes = classes  # slug -> class index
        self._terms: dict[int, dict] = {}
        self._term_slugs: dict[int, str] = {}
        self._parent_slugs: dict[str, str | None] = {}  # term slug -> its parent's (a product's domain)
        self._sources: dict[int, dict] = {}

    def batches(
        self, *, split: str, first_sample: int | None = None, last_sample: int | None = None, size: int = READ_BATCH
    ) -> Iterator[list[SampleRecord]]:
        """Lists of SampleRecord, in sample order, for the items of `split` (within the sample
        range, when given)."""
        items = export_items(self.export).filter(split=split)
        if first_sample is not None:
            items = items.filter(sample_id__gte=first_sample)
        if last_sample is not None:
            items = items.filter(sample_id__lte=last_sample)
        items = items.order_by("sample_id").values_list(
            "sample_id",
            "revision_id",
            "revision__number",
            "sample__original",
            "sample__original_format",
            "sample__sha256",
            "sample__width",
            "sample__height",
            "sample__is_synthetic",
            "sample__source_id",
            "sample__domain",
        )
        batch = list(items[:size])
        while batch:
            # The batch's revisions as a subquery: a list of ids as query parameters would cost
            # more in Django's per-value preparation than reading the rows.
            revisions = items.filter(sample_id__gte=batch[0][0], sample_id__lte=batch[-1][0]).values("revision_id")
            yield self._records(batch, split, revisions)
            batch = list(items.filter(sample_id__gt=batch[-1][0])[:size])

    def _records(self, rows: list[tuple], split: str, revisions) -> list[SampleRecord]:
        terms = self._revision_terms(revisions, [row[1] for row in rows])
        regions, region_positions = self._revision_regions(revisions)
        captions = defaultdict(dict)
        for revision_id, language, text in (
            Caption.objects.filter(revision_id__in=revisions)
            .order_by("revision_id", "language")
            .values_list("revision_id", "language", "text")
        ):
            captions[revision_id][language] = text
        qa = self._revision_qa(revisions, region_positions)
        self._load_sources({row[9] for row in rows})

        records = []
        for row in rows:
            sample_id, revision_id, number, original, original_format, sha256, width, height = row[:8]
            is_synthetic, source_id, domain = row[8:]
            sample_terms = terms[revision_id]
            written = captions.get(revision_id, {})
            _check_regions(sample_id, regions.get(revision_id, []), width, height)
            document = {
                "schema_version": SCHEMA_VERSION,
                "sample_id": sample_id,
                "annotation_revision": number,
                "sha256": sha256,
                "image_format": image_format(original_format, original),
                "width": width,
                "height": height,
                "split": split,
                "source": self._sources[source_id],
                "is_synthetic": is_synthetic,
                "domain": self._domain(sample_terms, domain),
                "terms": sample_terms,
                "regions": regions.get(revision_id, []),
                # the three languages always, null where there is none (its txt member is empty);
                # a caption in another language is kept too
                "captions": {language: None for language in LANGUAGES} | written,
                "qa": qa.get(revision_id, []),
            }
            records.append(SampleRecord(sample_id, original, document))
        return records

    def _revision_terms(self, revisions, revision_ids: list[int]) -> dict[int, dict[str, list[dict]]]:
        rows = list(
            RevisionTerm.objects.filter(revision_id__in=revisions)
            .order_by("revision_id", "field", "position", "id")
            .values_list("revision_id", "field", "term_id")
        )
        self._load_terms({term_id for _, _, term_id in rows})
        terms = {revision_id: {facet: [] for facet in FIELD_FACETS.values()} for revision_id in revision_ids}
        for revision_id, field, term_id in rows:
            if field in FIELD_FACETS:
                terms[revision_id][FIELD_FACETS[field]].append(self._terms[term_id])
        return terms

    def _revision_regions(self, revisions) -> tuple[dict[int, list[dict]], dict[int, dict[int, int]]]:
        """Each revision's regions in id order, and each region's position in its revision's list."""
        through = AnnotationRevision.regions.through
        rows = list(
            through.objects.filter(annotationrevision_id__in=revisions)
            .order_by("region_id")
            # The JSON columns as text, parsed by orjson below: Django's json.loads per value cost more.
            .annotate(bbox_json=Cast("region__bbox", TextField()), mask_json=Cast("region__mask_rle", TextField()))
            .values_list(
                "annotationrevision_id",
                "region_id",
                "region__defect_type_id",
                "region__raw_label",
                "bbox_json",
                "mask_json",
            )
        )
        self._load_terms({row[2] for row in rows if row[2] is not None})
        regions: dict[int, list[dict]] = defaultdict(list)
        positions: dict[int, dict[int, int]] = defaultdict(dict)
        for revision_id, region_id, term_id, raw_label, bbox_json, mask_json in rows:
            bbox = orjson.loads(bbox_json) if bbox_json is not None else None
            mask_rle = orjson.loads(mask_json) if mask_json is not None else None
            slug = self._term_slugs[term_id] if term_id is not None else None
            positions[revision_id][region_id] = len(regions[revision_id])
            regions[revision_id].append(
                {
                    "class_index": self.classes.get(slug, 0) if mask_rle else 0,
                    "term": self._terms[term_id] if term_id is not None else None,
                    "raw_label": raw_label,
                    "bbox": bbox,
                    "rle": mask_rle,
                }
            )
        return regions, positions

    def _revision_qa(self, revisions, region_positions: dict[int, dict[int, int]]) -> dict[int, list]:
        pairs = list(
            QAPair.objects.filter(revision_id__in=revisions)
            .order_by("revision_id", "position", "id")
            .values_list("revision_id", "id", "question", "answer", "language")
        )
        if not pairs:
            return {}
        pair_regions = defaultdict(list)
        for pair_id, region_id in (
            QAPair.regions.through.objects.filter(qapair__revision_id__in=revisions)
            .order_by("region_id")
            .values_list("qapair_id", "region_id")
        ):
            pair_regions[pair_id].append(region_id)
        qa = defaultdict(list)
        for revision_id, pair_id, question, answer, language in pairs:
            positions = region_positions.get(revision_id, {})
            qa[revision_id].append(
                {
                    "question": question,
                    "answer": answer,
                    "language": language,
                    # a QA pair may point at a region its revision no longer keeps: left out
                    "regions": [positions[r] for r in pair_regions[pair_id] if r in positions],
                }
            )
        return qa

    def _load_terms(self, term_ids: set[int]) -> None:
        missing = term_ids - self._terms.keys()
        for term_id, slug, en, zh, ja, parent in Term.objects.filter(pk__in=missing).values_list(
            "pk", "slug", "label_en", "label_zh", "label_ja", "parent__slug"
        ):
            self._terms[term_id] = {"slug": slug, "labels": {"en": en, "zh": zh, "ja": ja}}
            self._term_slugs[term_id] = slug
            self._parent_slugs[slug] = parent

    def _domain(self, sample_terms: dict[str, list[dict]], sample_domain: str) -> str | None:
        """The domain slug: the product term's parent, else the sample's free-text domain, else None."""
        for product in sample_terms.get("product", []):
            parent = self._parent_slugs.get(product["slug"])
            if parent:
                return parent
        return sample_domain or None

    def _load_sources(self, source_ids: set[int]) -> None:
        missing = source_ids - self._sources.keys()
        for source_id, name, kind, license in Source.objects.filter(pk__in=missing).values_list(
            "pk", "name", "kind", "license"
        ):
            self._sources[source_id] = {"name": name, "kind": kind, "license": license}
