"""Dataset versions: freeze a selection of VERIFIED annotations, split it, count it, publish it."""

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from annotation.models import Annotation, AnnotationRevision, AnnotationState, Caption, RevisionTerm
from catalog.models import Sample, Source, Visibility
from catalog.selectors import hidden_sources, samples_visible_to, visible_to
from vocabulary.matching import DEFECT_FREE
from vocabulary.models import Facet, Term
from vocabulary.selectors import vocabulary_current_version

from .models import DatasetVersion, DatasetVersionItem, VersionStatus
from .splits import SplitItem, SplitPlan, assign_splits, one_split_per_image

BATCH = 2000
SELECTION_KEYS = {"sources", "domains", "defect_types", "licenses", "include_restricted", "include_synthetic"}
SPLIT_KEYS = {"train", "val", "test", "seed", "stratify", "held_out_defect_types", "held_out_domains"}


class VersionError(ValueError):
    """A version that cannot be made or changed as asked; the message names what is wrong, and
    `field` the input it is about ("selection", "split_plan") when it is about one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def selected_annotations(selection: dict, *, requested_by: User | None):
    """VERIFIED annotations matching the selection: restricted sources only when asked for, and then
    only those the requester may see (None: an operator on the command line, who sees everything)."""
    annotations = Annotation.objects.filter(state=AnnotationState.VERIFIED, final_revision__isnull=False)
    if requested_by is not None:
        annotations = visible_to(annotations, requested_by, "source_id")
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


def _check_selection_shape(selection: dict) -> None:
    """Each key holds a value of its type (lists of ids or strings, booleans)."""
    source_ids = selection.get("sources") or []
    if not isinstance(source_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in source_ids):
        raise VersionError("selection.sources is a list of source ids", field="selection")
    for key in ("domains", "defect_types", "licenses"):
        values = selection.get(key) or []
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise VersionError(f"selection.{key} is a list of strings", field="selection")
    for key in ("include_restricted", "include_synthetic"):
        if key in selection and not isinstance(selection[key], bool):
            raise VersionError(f"selection.{key} is true or false", field="selection")


def _check_selection_names(selection: dict, *, requested_by: User | None) -> None:
    """Every source, defect type and domain named exists (and a person may see the sources)."""
    source_ids = selection.get("sources") or []
    # A person is told of sources that do not exist or that they may not see alike; the CLI, of missing ones.
    if requested_by is not None:
        unknown_sources = hidden_sources(requested_by, source_ids)
    else:
        unknown_sources = set(source_ids) - set(Source.objects.filter(pk__in=source_ids).values_list("pk", flat=True))
    if unknown_sources:
        raise VersionError(f"no source with id(s) {', '.join(map(str, sorted(unknown_sources)))}", field="selection")
    # A value that matches nothing is a mistake (a label for a slug, a typo), not an empty selection.
    defect_types = set(selection.get("defect_types") or [])
    known = set(Term.objects.filter(facet=Facet.DEFECT_TYPE, slug__in=defect_types).values_list("slug", flat=True))
    if unknown := defect_types - known:
        raise VersionError(
            f"selection.defect_types: no defect type {', '.join(sorted(unknown))} (give term slugs, e.g. def-scratch)",
            field="selection",
        )
    domains = set(selection.get("domains") or [])
    known = set(Term.objects.filter(facet=Facet.DOMAIN, slug__in=domains).values_list("slug", flat=True))
    # A samples' domain counts only where the person may see the samples: a partner's domain names
    # must not turn "no domain X" into an empty version, which would say that a partner has X.
    samples = Sample.objects.all() if requested_by is None else samples_visible_to(requested_by)
    known |= set(samples.filter(domain__in=domains).values_list("domain", flat=True).distinct())
    if unknown := domains - known:
        raise VersionError(
            f"selection.domains: no domain {', '.join(sorted(unknown))} (give a domain term's slug or a samples' domain)",
            field="selection",
        )


def selection_check(selection, *, requested_by: User | None) -> dict:
    """The selection as given, or VersionError naming what is wrong with it (field "selection")."""
    if selection is None:
        return {}
    if not isinstance(selection, dict):
        raise VersionError('the selection is a JSON object, e.g. {"sources": [1, 2]}', field="selection")
    if unknown := set(selection) - SELECTION_KEYS:
        raise VersionError(
            f"unknown selection key(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(SELECTION_KEYS))}",
            field="selection",
        )
    _check_selection_shape(selection)
    _check_selection_names(selection, requested_by=requested_by)
    return selection


def split_plan_parse(split_plan) -> SplitPlan:
    """The split plan as a SplitPlan, or VersionError naming what is wrong with it (field "split_plan")."""
    if split_plan is None:
        split_plan = {}
    if not isinstance(split_plan, dict):
        raise VersionError(
            'the split plan is a JSON object, e.g. {"train": 0.8, "val": 0.1, "test": 0.1}', field="split_plan"
        )
    if unknown := set(split_plan) - SPLIT_KEYS:
        raise VersionError(
            f"unknown split plan key(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(SPLIT_KEYS))}",
            field="split_plan",
        )
    ratios = [name for name in ("train", "val", "test") if name in split_plan]
    try:
        return SplitPlan(
            **{name: float(split_plan[name]) for name in ratios},
            seed=int(split_plan.get("seed", 0)),
            stratify=bool(split_plan.get("stratify", False)),
            held_out_defect_types=frozenset(split_plan.get("held_out_defect_types", [])),
            held_out_domains=frozenset(split_plan.get("held_out_domains", [])),
        )
    except (TypeError, ValueError) as error:
        # A ratio left out takes SplitPlan's default ({"train": 0.8, "val": 0.2} has test 0.1): say
        # which, or the numbers in the message look invented.
        left_out = [name for name in ("train", "val", "test") if name not in ratios]
        note = f"; not given, so at their defaults: {', '.join(left_out)}" if left_out else ""
        raise VersionError(f"split plan: {error}{note}", field="split_plan") from None


def dataset_version_create(
    *,
    title: str,
    selection: dict | None = None,
    split_plan: dict | None = None,
    description: str = "",
    created_by: User | None = None,
) -> DatasetVersion:
    selection = selection_check(selection, requested_by=created_by)
    plan = split_plan_parse(split_plan)
    split_plan = split_plan or {}

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
    """Write the frozen item list, computing splits and statistics on the way.

    The selected annotations are read a batch at a time as plain values (a version may hold a
    million samples: neither model instances nor their contents are kept), and only what the
    items need stays in memory until the splits are known."""
    selected = selected_annotations(version.selection, requested_by=version.created_by)
    ids = list(selected.order_by("pk").values_list("pk", flat=True))
    frozen: list[_Frozen] = []
    split_inputs: list[SplitItem] = []
    stats = _Statistics()
    for start in range(0, len(ids), BATCH):
        # A pk range of the selection, not a list of pks: the batch is a subquery of the queries
        # that read the revisions, and thousands of list parameters cost more than the rows.
        batch = ids[start : start + BATCH]
        for fact in _annotation_facts(selected.filter(pk__gte=batch[0], pk__lte=batch[-1])):
            split_inputs.append(SplitItem(fact.sample_id, fact.defect_types, fact.domain))
            frozen.append(_Frozen(fact.sample_id, fact.revision_id, fact.sha256, fact.restricted))
            stats.add(fact)
    splits = one_split_per_image(assign_splits(split_inputs, plan), {item.sample_id: item.sha256 for item in frozen})
    items = []
    for item in frozen:
        split = splits[item.sample_id]
        stats.add_split(split)
        items.append(
            DatasetVersionItem(
                version=version,
                sample_id=item.sample_id,
                revision_id=item.revision_id,
                sha256=item.sha256,
                split=split,
                restricted=item.restricted,
            )
        )
        if len(items) == BATCH:
            DatasetVersionItem.objects.bulk_create(items)
            items = []
    DatasetVersionItem.objects.bulk_create(items)
    version.sample_count = len(frozen)
    version.statistics = stats.as_dict()
    version.save(update_fields=["sample_count", "statistics"])
    version.sources.set(
        Sample.objects.filter(pk__in=version.items.values("sample_id")).values_list("source_id", flat=True).distinct()
    )


class _Frozen(NamedTuple):
    sample_id: int
    revision_id: int
    sha256: str
    restricted: bool


@dataclass
class _AnnotationFacts:
    """What a version needs to know of a selected annotation's final revision."""

    sample_id: int
    revision_id: int
    sha256: str
    restricted: bool
    source: str
    is_synthetic: bool
    domain: str  # the product term's domain, else the sample's
    defect_types: frozenset[str]  # of the template field and of the regions
    regions: int
    captions: dict[str, str] = field(default_factory=dict)  # language -> text


def _annotation_facts(annotations) -> list[_AnnotationFacts]:
    """The facts of `annotations` (a queryset), in a fixed number of queries, in pk order."""
    facts = {
        sample_id: _AnnotationFacts(
            sample_id=sample_id,
            revision_id=revision_id,
            sha256=sha256,
            restricted=visibility == Visibility.RESTRICTED,
            source=source,
            is_synthetic=is_synthetic,
            domain=domain,
            defect_types=frozenset(),
            regions=0,
        )
        for sample_id, revision_id, sha256, visibility, source, is_synthetic, domain in annotations.order_by(
            "pk"
        ).values_list(
            "pk",
            "final_revision_id",
            "sample__sha256",
            "sample__source__visibility",
            "sample__source__name",
            "sample__is_synthetic",
            "sample__domain",
        )
    }
    by_revision = {fact.revision_id: fact for fact in facts.values()}
    revisions = annotations.values("final_revision_id")
    defect_types: dict[int, set[str]] = {revision_id: set() for revision_id in by_revision}
    products: dict[int, str] = {}
    for revision_id, field_name, slug, domain in (
        RevisionTerm.objects.filter(revision_id__in=revisions, field__in=("defect_types", "product"))
        .order_by("revision_id", "field", "position", "id")
        .values_list("revision_id", "field", "term__slug", "term__parent__slug")
    ):
        if field_name == "defect_types":
            if slug != DEFECT_FREE:  # a good sample said so: no defect type (sample_documents.document_defect_types)
                defect_types[revision_id].add(slug)
        elif revision_id not in products:  # the first product term names the domain
            products[revision_id] = domain or ""
    for revision_id, slug in AnnotationRevision.regions.through.objects.filter(
        annotationrevision_id__in=revisions
    ).values_list("annotationrevision_id", "region__defect_type__slug"):
        by_revision[revision_id].regions += 1
        if slug is not None:
            defect_types[revision_id].add(slug)
    for revision_id, language, text in Caption.objects.filter(revision_id__in=revisions).values_list(
        "revision_id", "language", "text"
    ):
        by_revision[revision_id].captions[language] = text
    for revision_id, fact in by_revision.items():
        fact.defect_types = frozenset(defect_types[revision_id])
        fact.domain = products.get(revision_id) or fact.domain
    return list(facts.values())


class _Statistics:
    LENGTH_BUCKETS = (0, 20, 30, 40, 50, 60, 80)

    def __init__(self):
        self.domains, self.defect_types, self.sources, self.splits = Counter(), Counter(), Counter(), Counter()
        self.captions, self.caption_lengths, self.regions = Counter(), Counter(), Counter()
        self.synthetic = 0

    def add(self, fact: _AnnotationFacts) -> None:
        self.domains[fact.domain or "(none)"] += 1
        self.defect_types.update(fact.defect_types or {"(defect-free)"})
        self.sources[fact.source] += 1
        self.synthetic += fact.is_synthetic
        for language, text in sorted(fact.captions.items()):
            self.captions[language] += 1
            if language == "en":
                words = len(text.split())
                bucket = max(b for b in self.LENGTH_BUCKETS if words >= b)
                self.caption_lengths[f"{bucket}+"] += 1
        self.regions[str(min(fact.regions, 5)) + ("+" if fact.regions >= 5 else "")] += 1

    def add_split(self, split: str) -> None:
        self.splits[split] += 1

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
        raise VersionError(
            f"{version.name} holds no sample (no VERIFIED annotation matches its selection): nothing to publish"
        )
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
