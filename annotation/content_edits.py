"""Applying a client's payload to a revision's content: every part checked, every problem named.

A payload changes only the parts it names: `fields` per template field, `captions` per language,
and `notes`, `regions`, `qa_pairs` as a whole. Regions are kept by id ({"id": 12}) or given new
(defect_type plus mask_rle, mask_png or bbox; an optional "key" lets a QA pair of the same
payload point at it). Nothing is written here.
"""

from dataclasses import replace

from accounts.models import User
from catalog.models import Sample, Visibility
from vocabulary.models import LANGUAGES, Facet, Term

from .error_codes import ContentErrors
from .models import Annotation, Region
from .region_geometry import geometry_from_bbox, geometry_from_png, geometry_from_rle
from .revision_content import CaptionText, Content, QADraft, RegionDraft, region_draft, term_problem
from .template_fields import TEMPLATE

CONTENT_KEYS = ("fields", "notes", "regions", "captions", "qa_pairs")
NEW_REGION_KEYS = ("key", "defect_type", "mask_rle", "mask_png", "bbox")
QA_PAIR_KEYS = ("question", "answer", "language", "regions")


def content_apply(*, base: Content, data, sample: Sample, annotation: Annotation, author: User) -> Content:
    """`base` changed as the payload says. Raises WorkflowError(INVALID) naming every bad field;
    nothing is written here."""
    errors = ContentErrors()
    if not isinstance(data, dict):
        errors.add("content", "an object with any of " + ", ".join(CONTENT_KEYS))
        errors.raise_if_any()
    for key in data:
        if key not in CONTENT_KEYS:
            errors.add(key, "unknown part; one of " + ", ".join(CONTENT_KEYS))
    terms = _load_terms(data)
    new = replace(base, fields=dict(base.fields), captions=dict(base.captions))
    if "fields" in data:
        _apply_fields(new, data["fields"], terms, errors)
    if "notes" in data:
        if not isinstance(data["notes"], str):
            errors.add("notes", "a string")
        else:
            new.notes = data["notes"]
    if "captions" in data:
        _apply_captions(new, data["captions"], author, errors)
    region_keys: dict[str, RegionDraft] = {}
    if "regions" in data:
        region_keys = _apply_regions(new, data["regions"], terms, sample, annotation, errors)
    if "qa_pairs" in data:
        _apply_qa_pairs(new, data["qa_pairs"], region_keys, annotation, errors)
    elif "regions" in data:
        _carry_qa_pairs(new, base, errors)
    errors.raise_if_any()
    return new


def _load_terms(data) -> dict[int, Term]:
    ids = set()
    if isinstance(data, dict):
        if isinstance(data.get("fields"), dict):
            for value in data["fields"].values():
                ids.update(v for v in (value if isinstance(value, list) else [value]) if _is_id(v))
        if isinstance(data.get("regions"), list):
            ids.update(
                r["defect_type"] for r in data["regions"] if isinstance(r, dict) and _is_id(r.get("defect_type"))
            )
    return Term.objects.select_related("replaced_by").in_bulk(ids) if ids else {}


def _apply_fields(new: Content, value, terms: dict[int, Term], errors: ContentErrors) -> None:
    if not isinstance(value, dict):
        errors.add("fields", "an object: template field -> term id, or list of term ids")
        return
    for name, ids in value.items():
        path = f"fields.{name}"
        spec = TEMPLATE.get(name)
        if spec is None:
            errors.add(path, "unknown template field; one of " + ", ".join(TEMPLATE))
            continue
        if ids is None:
            ids = []
        if not isinstance(ids, list):
            ids = [ids]
        if not all(_is_id(i) for i in ids):
            errors.add(path, "term ids (integers)")
            continue
        ids = list(dict.fromkeys(ids))
        if len(ids) > 1 and not spec.multiple:
            errors.add(path, "takes one term")
            continue
        problems = [p for i in ids if (p := term_problem(terms.get(i), i, spec.facet))]
        for problem in problems:
            errors.add(path, problem)
        if not problems:
            new.fields[name] = [terms[i] for i in ids]


def _apply_captions(new: Content, value, author: User, errors: ContentErrors) -> None:
    if not isinstance(value, dict):
        errors.add("captions", "an object: language -> text")
        return
    for language, text in value.items():
        path = f"captions.{language}"
        if language not in LANGUAGES:
            errors.add(path, "unknown language; one of " + ", ".join(LANGUAGES))
        elif text is not None and not isinstance(text, str):
            errors.add(path, "a string (or null to remove it)")
        elif text is None or not text.strip():
            new.captions.pop(language, None)
        elif language not in new.captions or new.captions[language].text != text.strip():
            # Unchanged text keeps its author or generator: the edit distance from the draft
            # and the per-annotator reports rely on it.
            new.captions[language] = CaptionText(text.strip(), author.pk)


def _apply_regions(new, value, terms, sample, annotation, errors) -> dict[str, RegionDraft]:
    keys: dict[str, RegionDraft] = {}
    if not isinstance(value, list):
        errors.add("regions", "a list of regions")
        return keys
    kept_ids = [item["id"] for item in value if isinstance(item, dict) and _is_id(item.get("id"))]
    kept = Region.objects.select_related("defect_type").in_bulk(kept_ids) if kept_ids else {}
    regions: list[RegionDraft] = []
    seen_ids = set()
    for index, item in enumerate(value):
        path = f"regions[{index}]"
        if not isinstance(item, dict):
            errors.add(path, "an object")
            continue
        if "id" in item:
            region = _kept_region(item, kept, annotation, seen_ids, path, errors)
            if region is None:
                continue
            draft = region_draft(region)
            draft.key = item.get("key") if isinstance(item.get("key"), str) else ""
        else:
            draft = _new_region(item, terms, sample, path, errors)
            if draft is None:
                continue
        if draft.key:
            if draft.key in keys:
                errors.add(f"{path}.key", f"key {draft.key!r} is used twice")
            keys[draft.key] = draft
        regions.append(draft)
    new.regions = regions
    return keys


def _kept_region(item, kept, annotation, seen_ids, path, errors) -> Region | None:
    region_id = item["id"]
    if set(item) - {"id", "key"}:
        errors.add(path, 'a kept region is {"id": N}; to change a region, send it again without its id')
        return None
    region = kept.get(region_id) if _is_id(region_id) else None
    if region is not None and region.annotation_id != annotation.pk:
        region = region if region_owner_shown(region_id, editing=annotation) is not None else None
    if region is None:
        errors.add(f"{path}.id", f"no region {region_id}")
    elif region.annotation_id != annotation.pk:
        errors.add(f"{path}.id", f"region {region_id} belongs to another sample")
    elif region_id in seen_ids:
        errors.add(f"{path}.id", f"region {region_id} is listed twice")
    else:
        seen_ids.add(region_id)
        return region
    return None


def _new_region(item, terms, sample, path, errors) -> RegionDraft | None:
    if errors.add_unknown_keys(item, NEW_REGION_KEYS, path):
        return None
    term = None
    type_id = item.get("defect_type")
    if type_id is not None:
        term = terms.get(type_id) if _is_id(type_id) else None
        problem = term_problem(term, type_id, Facet.DEFECT_TYPE) if _is_id(type_id) else "a term id (integer)"
        if problem:
            errors.add(f"{path}.defect_type", problem)
            return None
    key = item.get("key", "")
    if not isinstance(key, str):
        errors.add(f"{path}.key", "a string")
        return None
    size = {"width": sample.width, "height": sample.height}
    try:
        if item.get("mask_rle") is not None:
            where = "mask_rle"
            mask_rle, bbox, area = geometry_from_rle(item["mask_rle"], **size)
        elif item.get("mask_png") is not None:
            where = "mask_png"
            mask_rle, bbox, area = geometry_from_png(item["mask_png"], **size)
        elif item.get("bbox") is not None:
            where = "bbox"
            mask_rle, bbox, area = geometry_from_bbox(item["bbox"], **size)
        else:
            errors.add(path, "give mask_rle, mask_png or bbox")
            return None
    except ValueError as problem:
        errors.add(f"{path}.{where}", str(problem))
        return None
    return RegionDraft(defect_type=term, bbox=bbox, area=area, mask_rle=mask_rle, key=key)


def _apply_qa_pairs(new: Content, value, region_keys, annotation, errors: ContentErrors) -> None:
    if not isinstance(value, list):
        errors.add("qa_pairs", "a list of {question, answer, language, regions}")
        return
    by_id = {r.existing.id: r for r in new.regions if r.existing is not None}
    pairs = []
    for index, item in enumerate(value):
        path = f"qa_pairs[{index}]"
        if not isinstance(item, dict):
            errors.add(path, "an object")
            continue
        errors.add_unknown_keys(item, QA_PAIR_KEYS, path)
        for part in ("question", "answer"):
            if not isinstance(item.get(part), str) or not item[part].strip():
                errors.add(f"{path}.{part}", "required")
        language = item.get("language")
        if language not in LANGUAGES:
            errors.add(f"{path}.language", "one of " + ", ".join(LANGUAGES))
        refs = item.get("regions", [])
        if not isinstance(refs, list):
            errors.add(f"{path}.regions", "a list of region ids or keys")
            continue
        regions = []
        for ref in refs:
            region = _resolve_region_ref(ref, by_id, region_keys, annotation, f"{path}.regions", errors)
            if region is not None and region not in regions:
                regions.append(region)
        if isinstance(item.get("question"), str) and isinstance(item.get("answer"), str):
            pairs.append(QADraft(item["question"].strip(), item["answer"].strip(), language, regions))
    new.qa_pairs = pairs


def region_owner_shown(region_id: int, *, editing: Annotation) -> int | None:
    """The sample a region belongs to, as far as whoever edits `editing` may be told: None for no
    region, and for a region of another restricted source's sample. Whoever may edit `editing` sees
    its source and the public ones, but perhaps not another partner's: there, "it belongs to another
    sample" would say that a hidden sample with that region exists."""
    row = (
        Region.objects.filter(pk=region_id)
        .values_list("annotation_id", "annotation__source_id", "annotation__source__visibility")
        .first()
    )
    if row is None:
        return None
    owner, source_id, visibility = row
    if source_id != editing.source_id and visibility == Visibility.RESTRICTED:
        return None
    return owner


def _resolve_region_ref(ref, by_id, region_keys, annotation, path, errors) -> RegionDraft | None:
    if isinstance(ref, str):
        if ref not in region_keys:
            errors.add(path, f"no new region with key {ref!r} in this payload")
        return region_keys.get(ref)
    if not _is_id(ref):
        errors.add(path, f"{ref!r} is neither a region id nor a key")
        return None
    if ref in by_id:
        return by_id[ref]
    owner = region_owner_shown(ref, editing=annotation)
    if owner is None:
        errors.add(path, f"no region {ref}")
    elif owner != annotation.pk:
        errors.add(path, f"region {ref} belongs to another sample")
    else:
        errors.add(path, f"region {ref} is not among this revision's regions")
    return None


def _carry_qa_pairs(new: Content, base: Content, errors: ContentErrors) -> None:
    """Regions changed but the QA pairs were not sent: keep them, pointing at the same regions."""
    by_id = {r.existing.id: r for r in new.regions if r.existing is not None}
    pairs = []
    for index, pair in enumerate(base.qa_pairs):
        regions = []
        for region in pair.regions:
            if region.existing is not None and region.existing.id in by_id:
                regions.append(by_id[region.existing.id])
            else:
                errors.add(f"qa_pairs[{index}].regions", f"region {region.existing.id} was removed; update qa_pairs")
        pairs.append(replace(pair, regions=regions))
    new.qa_pairs = pairs


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
