"""Which shard samples Defect-Gen trains on, and their batches.

The choice is made once, up front, from the annotations alone (no image is decoded): the product or
domain filter, the class set, then few-shot (N per class, greedily in manifest order, as stages 1
and 2 choose). The generator's class list is the manifest's format with its own indices: 0 is
background, i is the i-th class of the set; mask.png's manifest indices are mapped onto it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from modeling.core.dataset import iterate_raw_samples
from modeling.core.defect_gen.config import SelectionConfig
from modeling.core.errors import ShardError
from modeling.core.shards import ClassInfo, ShardSource


@dataclass
class Selection:
    """The chosen samples and the generator's class list.

    keys: sample keys, in manifest order; labels: key -> the class (0..K-1 of the set) it trains as.
    classes: background + the K classes of the set, re-indexed 0..K (the generator's mask values).
    source_indices: for each entry of ``classes``, its index in the shard manifest.
    left_out: why other samples were not taken, with counts.
    """

    keys: list[str]
    labels: dict[str, int]
    classes: list[ClassInfo]
    source_indices: list[int]
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes) - 1

    def mask_lookup(self, manifest_size: int) -> torch.Tensor:
        """(manifest_size,) int64: manifest index -> generator index (0 for classes outside the set)."""
        lookup = torch.zeros(manifest_size, dtype=torch.int64)
        for generator_index, manifest_index in enumerate(self.source_indices):
            lookup[manifest_index] = generator_index
        return lookup

    def to_meta(self) -> dict[str, Any]:
        return {
            "training_samples": self.keys,
            "training_labels": self.labels,
            "source_class_indices": {c.slug: i for c, i in zip(self.classes, self.source_indices, strict=True)},
            "left_out_samples": self.left_out,
        }


def sample_domain(annotation: dict[str, Any]) -> str | None:
    """The sample's domain slug: a top-level "domain" (a slug, or a term object) or a domain term."""
    domain = annotation.get("domain")
    if isinstance(domain, dict):
        return domain.get("slug")
    if isinstance(domain, str) and domain:
        return domain
    terms = (annotation.get("terms") or {}).get("domain") or []
    return terms[0].get("slug") if terms else None


def sample_products(annotation: dict[str, Any]) -> set[str]:
    return {term.get("slug") for term in (annotation.get("terms") or {}).get("product") or []}


def mask_class_indices(annotation: dict[str, Any]) -> set[int]:
    """The manifest indices that the sample's mask.png holds: its regions' class_index (box-only
    regions have none, and their defect has no pixels in the mask)."""
    return {int(region["class_index"]) for region in annotation.get("regions") or [] if region.get("class_index")}


def _primary_class(annotation: dict[str, Any], indices: set[int], classes: list[ClassInfo]) -> int:
    """The manifest index a sample trains as: its defect type term if that is one of ``indices``,
    else the one of ``indices`` whose regions' boxes cover the most area."""
    by_slug = {c.slug: c.index for c in classes}
    for term in (annotation.get("terms") or {}).get("defect_type") or []:
        if by_slug.get(term.get("slug")) in indices:
            return by_slug[term["slug"]]
    area: dict[int, float] = {}
    for region in annotation.get("regions") or []:
        index = int(region.get("class_index") or 0)
        if index in indices and region.get("bbox"):
            area[index] = area.get(index, 0.0) + region["bbox"][2] * region["bbox"][3]
    return max(area, key=area.get) if area else min(indices)


def _left_out_because(
    raw: dict[str, Any],
    annotation: dict[str, Any],
    indices: set[int],
    selection: SelectionConfig,
    wanted: set[int] | None,
) -> str | None:
    """Why a sample is not a Defect-Gen candidate (a key of select_samples' tally), or None."""
    if selection.product and selection.product not in sample_products(annotation):
        return "other_product"
    if selection.domain:
        domain = sample_domain(annotation)
        if domain is None:
            return "no_domain"
        if domain != selection.domain:
            return "other_domain"
    if not indices or "mask.png" not in raw:
        return "no_mask_region"
    if wanted is not None and not indices <= wanted:
        return "other_classes"  # a defect of a class outside the set would be generated with a background mask
    return None


def select_samples(
    source: ShardSource,
    selection: SelectionConfig,
    *,
    few_shot_per_class: int | None,
    require_every_class: bool = True,
) -> Selection:
    """Apply the product/domain filter, the class set and few-shot to the source's samples.

    require_every_class: refuse a class set of which some class has no sample (training needs them
    all; a test split may lack one)."""
    slugs = [c.slug for c in source.classes]
    unknown = [slug for slug in selection.classes if slug not in slugs[1:]]
    if unknown:
        raise ShardError(f"classes not in the manifest's class list: {', '.join(unknown)}")
    wanted = {slugs.index(slug) for slug in selection.classes} or None

    candidates: list[tuple[str, dict[str, Any], set[int]]] = []
    left_out = {"other_product": 0, "other_domain": 0, "no_domain": 0, "no_mask_region": 0, "other_classes": 0}
    for raw in iterate_raw_samples(source.urls):
        annotation = json.loads(raw["json"]) if "json" in raw else {}
        indices = mask_class_indices(annotation)
        reason = _left_out_because(raw, annotation, indices, selection, wanted)
        if reason:
            left_out[reason] += 1
        else:
            candidates.append((raw["__key__"], annotation, indices))

    if not candidates:
        what = [
            f"product {selection.product}" if selection.product else "",
            f"domain {selection.domain}" if selection.domain else "",
        ]
        hint = " (the shard json carries no domain)" if left_out["no_domain"] else ""
        filters = ", ".join(w for w in what if w) or "no filter"
        raise ShardError(
            f"no sample with a mask region of the chosen classes in {source.manifest_url} ({filters}){hint}; "
            f"left out: {', '.join(f'{k} {v}' for k, v in left_out.items() if v)}"
        )
    present = set().union(*(indices for _, _, indices in candidates))
    if require_every_class and wanted is not None and wanted - present:
        missing = ", ".join(slugs[i] for i in sorted(wanted - present))
        raise ShardError(f"no selected sample has a region of class(es) {missing}")
    set_indices = sorted(wanted or present)

    counts: dict[int, int] = {}
    chosen: list[tuple[str, dict[str, Any], set[int]]] = []
    for key, annotation, indices in candidates:
        if few_shot_per_class is None or any(counts.get(i, 0) < few_shot_per_class for i in indices):
            chosen.append((key, annotation, indices))
            for i in indices:
                counts[i] = counts.get(i, 0) + 1
    left_out["few_shot"] = len(candidates) - len(chosen)

    generator_index = {manifest_index: i + 1 for i, manifest_index in enumerate(set_indices)}
    classes = [ClassInfo(index=0, slug="background", labels=dict(source.classes[0].labels))]
    classes += [
        ClassInfo(index=generator_index[i], slug=source.classes[i].slug, labels=dict(source.classes[i].labels))
        for i in set_indices
    ]
    labels = {
        key: generator_index[_primary_class(annotation, indices, source.classes)] - 1
        for key, annotation, indices in chosen
    }
    return Selection(
        keys=[key for key, _, _ in chosen],
        labels=labels,
        classes=classes,
        source_indices=[0, *set_indices],
        left_out={name: count for name, count in left_out.items() if count},
    )


def defect_gen_batches(
    batches: Iterator[dict[str, Any]], selection: Selection, manifest_size: int
) -> Iterator[dict[str, Any]]:
    """Shard batches (dataset.collate) -> the same with ``mask`` in generator indices and the
    ``class_label`` (B,) each sample trains as."""
    lookup = selection.mask_lookup(manifest_size)
    for batch in batches:
        yield dict(
            batch,
            mask=lookup[batch["mask"]],
            class_label=torch.tensor([selection.labels[key] for key in batch["key"]], dtype=torch.int64),
        )
