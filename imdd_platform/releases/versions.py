"""Dataset versions: freeze a selection of VERIFIED annotations, split it, count it, publish it."""

from collections import Counter

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotation.content import content_of, revisions_with_content
from annotation.models import Annotation, AnnotationState
from imdd_platform.accounts.models import User
from imdd_platform.catalog.models import Visibility
from vocabulary.selectors import vocabulary_current_version

from .models import DatasetVersion, DatasetVersionItem, VersionStatus
from .splits import SplitItem, SplitPlan, assign_splits

BATCH = 2000
SELECTION_KEYS = {"sources", "domains", "defect_types", "licenses", "include_restricted", "include_synthetic"}
SPLIT_KEYS = {"train", "val", "test", "seed", "stratify", "held_out_defect_types", "held_out_domains"}


class VersionError(ValueError):
    """A version that cannot be made or changed as asked; the message names what is wrong."""


def selected_annotations(selection: dict):
    """VERIFIED annotations matching the selection (restricted sources only when asked for)."""
    annotations = Annotation.objects.filter(state=AnnotationState.VERIFIED, final_revision__isnull=False)
    if not selection.get("include_restricted"):
        annotations = annotations.exclude(sample__source__visibility=Visibility.RESTRICTED)
    if not selection.get("include_synthetic", True):
        annotations = annotations.exclude(sample__is_synthetic=True)
    if selection.get("sources"):
        annotations = annotations.filter(sample__source_id__in=selection["sources"])
    if selection.get("licenses"):
        annotations = annotations.filter(sample__source__license__in=selection["licenses"])
    if selection.get("defect_types"):
        annotations = annotations.filter(
            final_revision__terms__field="defect_types", final_revision__terms__term__slug__in=selection["defect_types"]
        )
    if selection.get("domains"):
        domains = selection["domains"]
        annotations = annotations.filter(
            Q(sample__domain__in=domains)
            | Q(final_revision__terms__field="product", final_revision__terms__term__parent__slug__in=domains)
        )
    return annotations.distinct()


def dataset_version_create(
    *,
    title: str,
    selection: dict | None = None,
    split_plan: dict | None = None,
    description: str = "",
    created_by: User | None = None,
) -> DatasetVersion:
    selection = selection or {}
    split_plan = split_plan or {}
    unknown = (set(selection) - SELECTION_KEYS) | (set(split_plan) - SPLIT_KEYS)
    if unknown:
        raise VersionError(f"unknown selection or split key(s): {', '.join(sorted(unknown))}")
    try:
        plan = SplitPlan(
            train=float(split_plan.get("train", 0.8)),
            val=float(split_plan.get("val", 0.1)),
            test=float(split_plan.get("test", 0.1)),
            seed=int(split_plan.get("seed", 0)),
            stratify=bool(split_plan.get("stratify", False)),
            held_out_defect_types=frozenset(split_plan.get("held_out_defect_types", [])),
            held_out_domains=frozenset(split_plan.get("held_out_domains", [])),
        )
    except (TypeError, ValueError) as error:
        raise VersionError(f"split plan: {error}") from None

    with transaction.atomic():
        latest = DatasetVersion.objects.select_for_update().order_by("-number").first()
        version = DatasetVersion.objects.create(
            number=(latest.number + 1) if latest else 1,
            title=title,
            description=description,
            selection=selection,
            split_plan=split_plan,
            vocabulary_version=vocabulary_current_version(),
            created_by=created_by,
        )
        _freeze(version, plan)
    return version


def _freeze(version: DatasetVersion, plan: SplitPlan) -> None:
    """Write the frozen item list in batches, computing splits and statistics on the way."""
    ids = list(selected_annotations(version.selection).order_by("pk").values_list("pk", flat=True))
    split_inputs: list[SplitItem] = []
    facts: dict[int, dict] = {}
    for start in range(0, len(ids), BATCH):
        batch = (
            Annotation.objects.filter(pk__in=ids[start : start + BATCH])
            .select_related("sample", "sample__source", "final_revision")
            .order_by("pk")
        )
        revisions = {
            r.pk: r
            for r in revisions_with_content()
            .filter(annotation__in=ids[start : start + BATCH])
            .filter(pk__in=[a.final_revision_id for a in batch])
        }
        for annotation in batch:
            content = content_of(revisions[annotation.final_revision_id])
            defect_types = frozenset(t.slug for t in content.fields.get("defect_types", []))
            defect_types |= {r.defect_type.slug for r in content.regions if r.defect_type}
            product = content.fields.get("product", [])
            domain = (product[0].parent.slug if product and product[0].parent_id else "") or annotation.sample.domain
            split_inputs.append(SplitItem(annotation.pk, defect_types, domain))
            facts[annotation.pk] = {
                "annotation": annotation,
                "content": content,
                "domain": domain,
                "defect_types": defect_types,
            }
    splits = assign_splits(split_inputs, plan)
    items = []
    stats = _Statistics()
    for sample_id, fact in facts.items():
        annotation = fact["annotation"]
        split = splits[sample_id]
        items.append(
            DatasetVersionItem(
                version=version,
                sample_id=sample_id,
                revision_id=annotation.final_revision_id,
                sha256=annotation.sample.sha256,
                split=split,
                restricted=annotation.sample.source.visibility == Visibility.RESTRICTED,
            )
        )
        stats.add(annotation.sample, fact["content"], fact["domain"], fact["defect_types"], split)
    DatasetVersionItem.objects.bulk_create(items, batch_size=BATCH)
    version.sample_count = len(items)
    version.statistics = stats.as_dict()
    version.save(update_fields=["sample_count", "statistics"])


class _Statistics:
    LENGTH_BUCKETS = (0, 20, 30, 40, 50, 60, 80)

    def __init__(self):
        self.domains, self.defect_types, self.sources, self.splits = Counter(), Counter(), Counter(), Counter()
        self.captions, self.caption_lengths, self.regions = Counter(), Counter(), Counter()
        self.synthetic = 0

    def add(self, sample, content, domain, defect_types, split):
        self.domains[domain or "(none)"] += 1
        self.defect_types.update(defect_types or {"(defect-free)"})
        self.sources[sample.source.name] += 1
        self.splits[split] += 1
        self.synthetic += sample.is_synthetic
        for language, caption in content.captions.items():
            self.captions[language] += 1
            if language == "en":
                words = len(caption.text.split())
                bucket = max(b for b in self.LENGTH_BUCKETS if words >= b)
                self.caption_lengths[f"{bucket}+"] += 1
        self.regions[str(min(len(content.regions), 5)) + ("+" if len(content.regions) >= 5 else "")] += 1

    def as_dict(self) -> dict:
        total = sum(self.splits.values())
        return {
            "samples": total,
            "synthetic_share": round(self.synthetic / total, 4) if total else 0.0,
            "per_split": dict(self.splits),
            "per_domain": dict(self.domains.most_common()),
            "per_defect_type": dict(self.defect_types.most_common()),
            "per_source": dict(self.sources.most_common()),
            "captions_per_language": dict(self.captions),
            "english_caption_words": {
                key: self.caption_lengths[key] for key in sorted(self.caption_lengths, key=lambda k: int(k[:-1]))
            },
            "regions_per_sample": dict(sorted(self.regions.items())),
        }


def dataset_version_publish(*, version: DatasetVersion) -> DatasetVersion:
    if version.status == VersionStatus.PUBLISHED:
        raise VersionError(f"{version.name} is published already")
    if not version.sample_count:
        raise VersionError(f"{version.name} holds no sample: nothing to publish")
    version.status = VersionStatus.PUBLISHED
    version.published_at = timezone.now()
    version.save(update_fields=["status", "published_at"])
    return version


def dataset_version_diff(*, old: DatasetVersion, new: DatasetVersion) -> dict:
    """Samples added, removed, and changed (another annotation revision or other bytes)."""
    before = {s: (r, h) for s, r, h in old.items.values_list("sample_id", "revision_id", "sha256")}
    after = {s: (r, h) for s, r, h in new.items.values_list("sample_id", "revision_id", "sha256")}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(s for s in set(before) & set(after) if before[s] != after[s]),
    }
