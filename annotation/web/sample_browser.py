"""The data managers' sample browser (/samples/): filters per column, sorting, keyset pages in
both directions, and what each row shows (the annotation's state, priority, gold flag,
consensus tally, and the regions' outlines over the thumbnail).

Every sort is a keyset walk over an index, so the millionth sample costs what the first does:
  sample   newest or oldest first                         (primary keys)
  state    the workflow state, then the sample           annotation (state, -sample)
  priority the annotation's priority, then the sample    annotation (-priority, -sample)
  source   the source (by id), then the sample            sample (source, -id)
A sort on state or priority lists enqueued samples only (those have a state and a priority).
"""

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from accounts.models import User
from base.ids import parse_id
from catalog.models import Sample
from catalog.selectors import samples_visible_to, sources_visible_to
from vocabulary.models import Facet, Term, TermStatus

from ..consensus import ConsensusTally, consensus_tally
from ..models import Annotation, AnnotationState, ConsensusVote, Stage
from ..selectors import annotations_visible_to, names_defect_type
from .region_outlines import Outline, outlines_of

BROWSER_PAGE_SIZE = 48
NOT_ENQUEUED = "none"  # the status filter's value for samples without an annotation

# sort name -> ((column, descending), ...); the column names are the annotation table's, the
# sample table's are in SAMPLE_COLUMNS.
SORTS = {
    "-sample": (("sample_id", True),),
    "sample": (("sample_id", False),),
    "state": (("state", False), ("sample_id", True)),
    "-state": (("state", True), ("sample_id", False)),
    "-priority": (("priority", True), ("sample_id", True)),
    "priority": (("priority", False), ("sample_id", False)),
    "source": (("source_id", False), ("sample_id", True)),
    "-source": (("source_id", True), ("sample_id", False)),
}
DEFAULT_SORT = "-sample"
WORKFLOW_SORTS = {"state", "-state", "priority", "-priority"}
SAMPLE_COLUMNS = {"sample_id": "id", "source_id": "source_id"}
CURSOR_SEPARATOR = "~"


@dataclass
class SampleFilters:
    status: str = ""
    stage: str = ""
    domain: str = ""
    defect_type: int | None = None
    source: int | None = None
    language: str = ""
    synthetic: bool | None = None
    gold: bool | None = None
    sort: str = DEFAULT_SORT
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, params) -> "SampleFilters":
        """Read the filters from a query string; a bad value is dropped and named in `errors`."""
        filters = cls()
        status = params.get("status", "")
        if status and status != NOT_ENQUEUED and status not in AnnotationState.values:
            filters.errors["status"] = status
        else:
            filters.status = status
        stage = params.get("stage", "")
        if stage and stage not in (Stage.ANNOTATION, Stage.REVIEW, Stage.CONSENSUS):
            filters.errors["stage"] = stage
        else:
            filters.stage = stage
        filters.domain = params.get("domain", "").strip()
        filters.language = params.get("language", "").strip()
        for name in ("defect_type", "source"):
            value = params.get(name, "")
            if parse_id(value) is not None:
                setattr(filters, name, parse_id(value))
            elif value:
                filters.errors[name] = value
        for name, attribute in (("synthetic", "synthetic"), ("gold", "gold")):
            value = params.get(name, "")
            if value in ("yes", "no"):
                setattr(filters, attribute, value == "yes")
            elif value:
                filters.errors[name] = value
        sort = params.get("sort", "")
        if sort in SORTS:
            filters.sort = sort
        elif sort:
            filters.errors["sort"] = sort
        return filters

    def as_query(self, *, sort: bool = True) -> dict:
        query = {
            "status": self.status,
            "stage": self.stage,
            "domain": self.domain,
            "defect_type": self.defect_type or "",
            "source": self.source or "",
            "language": self.language,
            "synthetic": {True: "yes", False: "no"}.get(self.synthetic, ""),
            "gold": {True: "yes", False: "no"}.get(self.gold, ""),
            "sort": self.sort if sort and self.sort != DEFAULT_SORT else "",
        }
        return {key: value for key, value in query.items() if value != ""}

    def uses_workflow(self) -> bool:
        return (
            (self.status not in ("", NOT_ENQUEUED))
            or bool(self.stage)
            or self.defect_type is not None
            or self.gold is not None
            or self.sort in WORKFLOW_SORTS
        )


def _keyed_rows(user: User, filters: SampleFilters) -> tuple[QuerySet, tuple[tuple[str, bool], ...]]:
    """The filtered rows and the columns their keyset runs on.

    A filter on the workflow reads the annotation table: its indexes and its copies of the
    sample's source, domain and language keep a filtered page an index walk instead of a join
    across a million rows."""
    keys = SORTS[filters.sort]
    if filters.uses_workflow():
        return _annotation_rows(user, filters), keys
    return _sample_rows(user, filters), tuple((SAMPLE_COLUMNS[column], descending) for column, descending in keys)


def _annotation_rows(user: User, filters: SampleFilters) -> QuerySet:
    rows = annotations_visible_to(user)
    if filters.status:
        rows = rows.filter(state=filters.status)
    if filters.stage:
        rows = rows.filter(queue=filters.stage)
    if filters.domain:
        rows = rows.filter(domain=filters.domain)
    if filters.source is not None:
        rows = rows.filter(source_id=filters.source)
    if filters.language:
        rows = rows.filter(language=filters.language)
    if filters.synthetic is not None:
        rows = rows.filter(sample__is_synthetic=filters.synthetic)
    if filters.gold is not None:
        rows = rows.filter(is_gold=filters.gold)
    if filters.defect_type is not None:
        rows = rows.filter(names_defect_type(filters.defect_type))
    return rows


def _sample_rows(user: User, filters: SampleFilters) -> QuerySet:
    rows = samples_visible_to(user)
    if filters.status == NOT_ENQUEUED:
        rows = rows.filter(annotation__isnull=True)
    if filters.domain:
        rows = rows.filter(domain=filters.domain)
    if filters.source is not None:
        rows = rows.filter(source_id=filters.source)
    if filters.language:
        rows = rows.filter(source_text_language=filters.language)
    if filters.synthetic is not None:
        rows = rows.filter(is_synthetic=filters.synthetic)
    return rows


# -- keyset cursors ------------------------------------------------------------------------------


class CursorError(ValueError):
    pass


def parse_cursor(text: str, keys) -> tuple:
    """A cursor is the sort values of a row joined by "~" (a sample id alone for the id sorts)."""
    parts = text.split(CURSOR_SEPARATOR)
    if len(parts) != len(keys):
        raise CursorError(text)
    values = []
    for (column, _descending), part in zip(keys, parts, strict=True):
        if column == "state":
            if part not in AnnotationState.values:
                raise CursorError(text)
            values.append(part)
        else:
            try:
                values.append(int(part))
            except ValueError:
                raise CursorError(text) from None
    return tuple(values)


def _cursor(values: tuple) -> str:
    return CURSOR_SEPARATOR.join(str(value) for value in values)


def _beyond(keys, values: tuple, *, backwards: bool) -> Q:
    """Rows strictly after `values` in the sort order (before it when `backwards`)."""
    condition = Q()
    for depth in range(len(keys) - 1, -1, -1):
        column, descending = keys[depth]
        lookup = "lt" if descending != backwards else "gt"
        step = Q(**{f"{column}__{lookup}": values[depth]})
        if depth < len(keys) - 1:
            step |= Q(**{column: values[depth]}) & condition
        condition = step
    return condition


def _ordering(keys, *, backwards: bool) -> list[str]:
    return [f"{'-' if descending != backwards else ''}{column}" for column, descending in keys]


@dataclass
class SamplePage:
    samples: list[Sample]
    next_after: str | None  # the cursor of the next page
    previous_before: str | None  # the cursor of the previous page


def sample_page(
    user: User, filters: SampleFilters, *, after: str | None = None, before: str | None = None, size: int | None = None
) -> SamplePage:
    """A keyset page in the filters' sort: `after` a cursor gives the following rows, `before` a
    cursor the preceding ones. A bad cursor raises CursorError."""
    size = size or BROWSER_PAGE_SIZE
    rows, keys = _keyed_rows(user, filters)
    columns = [column for column, _descending in keys]
    if before is not None:
        found = list(
            rows.filter(_beyond(keys, parse_cursor(str(before), keys), backwards=True))
            .order_by(*_ordering(keys, backwards=True))
            .values_list(*columns)[: size + 1]
        )
        has_previous = len(found) > size
        found = list(reversed(found[:size]))
        return SamplePage(
            _samples([row[-1] for row in found]),
            next_after=_cursor(found[-1]) if found else None,
            previous_before=_cursor(found[0]) if has_previous and found else None,
        )
    if after is not None:
        rows = rows.filter(_beyond(keys, parse_cursor(str(after), keys), backwards=False))
    found = list(rows.order_by(*_ordering(keys, backwards=False)).values_list(*columns)[: size + 1])
    has_next = len(found) > size
    found = found[:size]
    return SamplePage(
        _samples([row[-1] for row in found]),
        next_after=_cursor(found[-1]) if has_next and found else None,
        previous_before=_cursor(found[0]) if after is not None and found else None,
    )


def _samples(ids: list[int]) -> list[Sample]:
    """The page's samples (already filtered by visibility), with source and annotation, in order."""
    by_id = Sample.objects.select_related("source", "annotation").in_bulk(ids)
    return [by_id[pk] for pk in ids]


# -- what a row shows ------------------------------------------------------------------------------


@dataclass
class BrowserRow:
    sample: Sample
    annotation: Annotation | None
    outlines: list[Outline]
    tally: ConsensusTally | None  # for samples in stage 3


def browser_rows(samples: list[Sample]) -> list[BrowserRow]:
    """The page's rows: each sample's outlines (its current revision's regions, or the imported
    ones before it is enqueued) and, in stage 3, its consensus tally. A few queries per page."""
    annotations = {s.pk: s.annotation for s in samples if hasattr(s, "annotation")}
    outlines = outlines_of(samples, annotations)
    in_consensus = [
        a for a in annotations.values() if a.state in (AnnotationState.REVIEWED, AnnotationState.IN_CONSENSUS)
    ]
    votes: dict[int, list[ConsensusVote]] = {}
    for vote in ConsensusVote.objects.filter(annotation__in=in_consensus).order_by("id"):
        votes.setdefault(vote.annotation_id, []).append(vote)
    return [
        BrowserRow(
            sample=s,
            annotation=annotations.get(s.pk),
            outlines=outlines.get(s.pk, []),
            tally=consensus_tally(annotations[s.pk], votes.get(s.pk, []))
            if annotations.get(s.pk) in in_consensus
            else None,
        )
        for s in samples
    ]


def browser_choices(user: User) -> dict:
    """The filters' option lists (sources visible to the user, approved defect types)."""
    return {
        "sources": list(sources_visible_to(user).only("id", "name").order_by("name")),
        "defect_types": list(
            Term.objects.filter(facet=Facet.DEFECT_TYPE, status=TermStatus.APPROVED)
            .only("id", "label_en", "label_zh", "label_ja")
            .order_by("label_en")
        ),
        "states": AnnotationState.choices,
    }


def annotators_for_assignment(user: User) -> list[User]:
    """Whom the bulk "assign" action offers: active users with the annotator's permission."""
    annotators = User.objects.filter(is_active=True).filter(
        Q(groups__permissions__codename="annotate", groups__permissions__content_type__app_label="annotation")
        | Q(is_superuser=True)
    )
    return list(annotators.distinct().order_by("username").only("id", "username"))
