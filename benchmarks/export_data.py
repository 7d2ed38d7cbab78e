"""Verified samples for the export benchmark, bulk-created: a catalog of small JPEGs with
annotations in the VERIFIED state, as many rows per sample as a real verified annotation has
(template terms, a region with its mask, captions in three languages, a QA pair).

Images: a few textured 128x128 JPEGs (about 5 KB) made once; each sample's file is one of them
with the sample's number in a JPEG comment segment, so every file is a valid JPEG with its own
sha256, and writing 100,000 of them takes seconds.
"""

import hashlib
import io
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 128
BASE_IMAGES = 16
DEFECTIVE_SHARE = 0.7  # like MVTec AD's test sets: most samples show a defect, the rest are "good"
BATCH = 5000
NO_DEFECT = {"en": "no defect", "zh": "无缺陷", "ja": "欠陥なし"}
CAPTION_EN = (
    "A close-up of a {product} surface made of {material} showing a {defect} near the {location}; "
    "the defect looks {morphology} and was most likely caused by {cause} during production, "
    "seen under diffuse white light on an inspection line, sample number {number}."
)
CAPTION_ZH = "{product}表面的特写，材料为{material}，在{location}附近有{defect}，形态{morphology}，很可能由{cause}造成。编号{number}。"
CAPTION_JA = "{product}の表面のクローズアップ。材質は{material}、{location}付近に{defect}があり、形状は{morphology}、原因はおそらく{cause}。番号{number}。"


def base_jpegs() -> list[bytes]:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(BASE_IMAGES):
        coarse = rng.integers(60, 200, (8, 8, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((SIZE, SIZE), Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = np.clip(smooth + rng.integers(-8, 9, smooth.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noisy).save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def numbered_jpeg(base: bytes, number: int) -> bytes:
    """The base JPEG with a COM segment naming the sample: a valid JPEG with its own bytes."""
    comment = f"imdd benchmark sample {number}".encode()
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


def region_masks(count: int) -> list[tuple[dict, list[int], int]]:
    """(RLE, bbox, area) of elliptic defects of assorted sizes and places."""
    from catalog.rle import mask_bbox, mask_to_rle

    rng = random.Random(1)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    masks = []
    for _ in range(count):
        cy, cx = rng.randrange(16, SIZE - 16), rng.randrange(16, SIZE - 16)
        ry, rx = rng.randrange(3, 16), rng.randrange(3, 16)
        mask = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1
        masks.append((mask_to_rle(mask), mask_bbox(mask), int(mask.sum())))
    return masks


SAMPLE_COLUMNS = [
    "id",
    "source_id",
    "external_id",
    "original",
    "asset",
    "thumbnail",
    "sha256",
    "phash",
    "width",
    "height",
    "original_format",
    "original_size",
    "domain",
    "product",
]
ANNOTATION_COLUMNS = ["sample_id", "source_id", "domain", "state", "queue", "version"]


def insert_rows(cursor, model, columns: list[str], rows: list[tuple]) -> None:
    """INSERT the rows (values for `columns`, by attname, ready for the database) with
    executemany; every other column gets its field's default (now for auto_now fields), so that a
    field added to a model later does not break the benchmark. The ORM's bulk_create spends
    minutes of Python on 1.6 million rows; this takes seconds."""
    from django.db import connection
    from django.utils import timezone

    fields = model._meta.concrete_fields
    column_of = {field.attname: field.column for field in fields}
    unknown = set(columns) - column_of.keys()
    if unknown:
        raise RuntimeError(f"{model.__name__} has no column(s) {', '.join(sorted(unknown))}")
    names = [column_of[attname] for attname in columns]
    defaults = []
    now = timezone.now()
    for field in fields:
        if field.attname in columns or field.primary_key:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        else:
            value = field.get_default()  # "" for a text field without a default
            if value is None and not field.null:
                raise RuntimeError(f"{model.__name__}.{field.name} needs a value in the benchmark")
        names.append(field.column)
        defaults.append(field.get_db_prep_save(value, connection))
    quoted = ", ".join(connection.ops.quote_name(name) for name in names)
    placeholders = ", ".join(["%s"] * len(names))
    cursor.executemany(
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({quoted}) VALUES ({placeholders})",
        [row + tuple(defaults) for row in rows],
    )


def _reset_sequences() -> None:
    """Rows inserted with explicit ids leave PostgreSQL's sequences behind; put them after."""
    from django.core.management.color import no_style
    from django.db import connection

    from annotation.models import AnnotationRevision, QAPair, Region
    from catalog.models import Sample

    statements = connection.ops.sequence_reset_sql(no_style(), [Sample, AnnotationRevision, Region, QAPair])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


class VerifiedSamples:
    """Grows the catalog, a batch at a time, to any number of verified samples."""

    def __init__(self, media_root: str):
        from django.db.models import Q

        from vocabulary import services as vocabulary_services
        from vocabulary.formats import records_from_json
        from vocabulary.models import Facet, Term

        self.media_root = Path(media_root)
        records = []
        for path in sorted((Path(vocabulary_services.__file__).parent / "data").glob("*.json")):
            records += records_from_json(path.read_text(encoding="utf-8"))
        vocabulary_services.vocabulary_load(records=records)
        vocabulary_services.vocabulary_version_release(note="benchmark")

        def terms(facet, **filters):
            found = list(Term.objects.filter(Q(facet=facet), status="approved", **filters).order_by("slug")[:12])
            if not found:
                raise RuntimeError(f"the bundled vocabulary has no approved {facet} term")
            return found

        self.terms = {
            "product": terms(Facet.PRODUCT, parent__isnull=False),
            "materials": terms(Facet.MATERIAL),
            "defect_types": terms(Facet.DEFECT_TYPE),
            "locations": terms(Facet.LOCATION),
            "morphology": terms(Facet.MORPHOLOGY),
            "root_causes": terms(Facet.ROOT_CAUSE),
        }
        self.images = base_jpegs()
        self.masks = region_masks(64)
        self.count = 0

    def grow_to(self, total: int) -> None:
        from django.db import connection, transaction
        from django.db.models import Max

        from annotation.models import AnnotationRevision, QAPair, Region
        from catalog.models import Sample, Source

        source, _ = Source.objects.get_or_create(
            name="benchmark", defaults={"license": "CC BY 4.0", "kind": "synthetic"}
        )
        while self.count < total:
            size = min(BATCH, total - self.count)
            first_id = 1 + max(
                model.objects.aggregate(last=Max("id"))["last"] or 0
                for model in (Sample, AnnotationRevision, Region, QAPair)
            )
            with transaction.atomic(), connection.cursor() as cursor:
                self._add(cursor, source.pk, range(self.count, self.count + size), first_id)
            self.count += size
        _reset_sequences()

    def _add(self, cursor, source_id: int, numbers: range, first_id: int) -> None:
        """Rows of `numbers` samples; sample i (of this batch) gets the id first_id + i, and so do
        its annotation, revision, region and QA pair, which keeps the links simple."""
        from django.db import connection

        from annotation.models import (
            Annotation,
            AnnotationRevision,
            AnnotationState,
            Caption,
            QAPair,
            Region,
            RevisionTerm,
            Stage,
        )
        from catalog.models import Sample, original_name
        from vocabulary.selectors import vocabulary_current_version

        vocabulary_version_id = vocabulary_current_version().pk
        samples, annotations, revisions, terms, captions = [], [], [], [], []
        regions, revision_regions, pairs, pair_regions = [], [], [], []
        for offset, number in enumerate(numbers):
            row_id = first_id + offset
            data = numbered_jpeg(self.images[number % BASE_IMAGES], number)
            sha256 = hashlib.sha256(data).hexdigest()
            name = original_name(sha256, f"{number}.jpg")
            path = self.media_root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            product = self._pick("product", number)
            domain = product.parent.slug if product.parent_id else ""
            samples.append(
                (row_id, source_id, f"bench/{number:07d}.jpg", name, name, name, sha256, sha256[:16])
                + (SIZE, SIZE, "JPEG", len(data), domain, product.label_en)
            )
            annotations.append((row_id, source_id, domain, AnnotationState.VERIFIED, "", 5))
            revisions.append((row_id, row_id, 1, Stage.CONSENSUS, vocabulary_version_id))
            defective = self._defective(number)
            for field in self.terms:
                if field != "defect_types" or defective:
                    terms.append((row_id, field, self._pick(field, number).pk, 0))
            for language, template in (("en", CAPTION_EN), ("ja", CAPTION_JA), ("zh", CAPTION_ZH)):
                captions.append((row_id, language, template.format(**self._words(number, language)), "template"))
            if defective:
                rle, bbox, area = self.masks[number % len(self.masks)]
                defect_type = self._pick("defect_types", number).pk
                regions.append((row_id, row_id, defect_type, "defect", json.dumps(rle), json.dumps(bbox), area))
                revision_regions.append((row_id, row_id))
                location = self._pick("locations", number).label_en
                pairs.append((row_id, row_id, 0, "Where is the defect?", f"Near the {location}.", "en"))
                pair_regions.append((row_id, row_id))

        # Every row's parents go in first: a row that waits for its parent is a deferred foreign
        # key violation, and while one is outstanding SQLite checks every new parent row against
        # its children, without an index for the annotation's revision links: quadratic time.
        insert_rows(cursor, Sample, SAMPLE_COLUMNS, samples)
        insert_rows(cursor, Annotation, ANNOTATION_COLUMNS, annotations)
        insert_rows(
            cursor, AnnotationRevision, ["id", "annotation_id", "number", "stage", "vocabulary_version_id"], revisions
        )
        table = connection.ops.quote_name(Annotation._meta.db_table)
        cursor.executemany(
            f"UPDATE {table} SET final_revision_id = %s, current_revision_id = %s WHERE sample_id = %s",
            [(row[0], row[0], row[0]) for row in revisions],
        )
        insert_rows(cursor, RevisionTerm, ["revision_id", "field", "term_id", "position"], terms)
        insert_rows(cursor, Caption, ["revision_id", "language", "text", "generator"], captions)
        insert_rows(
            cursor, Region, ["id", "annotation_id", "defect_type_id", "raw_label", "mask_rle", "bbox", "area"], regions
        )
        insert_rows(
            cursor, AnnotationRevision.regions.through, ["annotationrevision_id", "region_id"], revision_regions
        )
        insert_rows(cursor, QAPair, ["id", "revision_id", "position", "question", "answer", "language"], pairs)
        insert_rows(cursor, QAPair.regions.through, ["qapair_id", "region_id"], pair_regions)

    def _pick(self, field: str, number: int):
        choices = self.terms[field]
        return choices[(number * 7 + len(field)) % len(choices)]

    @staticmethod
    def _defective(number: int) -> bool:
        return (number * 37) % 100 < DEFECTIVE_SHARE * 100

    def _words(self, number: int, language: str) -> dict:
        def label(field: str) -> str:
            return self._pick(field, number).label(language)

        return {
            "product": label("product"),
            "material": label("materials"),
            "defect": label("defect_types") if self._defective(number) else NO_DEFECT[language],
            "location": label("locations"),
            "morphology": label("morphology"),
            "cause": label("root_causes"),
            "number": number,
        }
