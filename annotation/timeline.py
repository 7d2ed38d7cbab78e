"""The readable history of one sample, for its work page: the audit trail grouped into moments
(one per transition: a claim, a save, a submit, a vote), each naming who, when, what happened
and what changed, with terms as labels in every language rather than slugs.

Everyone who works on the sample reads it; in blind mode the other stages' people are hidden
from them exactly as in the API (People.show)."""

from dataclasses import dataclass, field

from vocabulary.models import Term

from .models import Annotation, AuditEvent

TIMELINE_LIMIT = 500  # a sample has tens of events; the cap is a guard


@dataclass
class Moment:
    at: str
    actor: int | None  # None: the system, or hidden in blind mode
    actor_name: str | None
    action: str  # the transition: claim, save, submit, approve, request_changes, vote, skip, ...
    version: int
    state: dict | None = None  # {"before", "after"} when the state moved
    changes: list[dict] = field(default_factory=list)  # [{"field", "before", "after"}]
    details: dict = field(default_factory=dict)  # a vote, a skip reason, requested changes


def annotation_timeline(annotation: Annotation, *, people) -> list[dict]:
    """Newest moment first. `people`: who the viewer may see (annotation.api.serializers.People)."""
    events = list(
        AuditEvent.objects.filter(annotation=annotation).select_related("actor").order_by("-id")[:TIMELINE_LIMIT]
    )
    labels = _term_labels(events)
    moments: list[Moment] = []
    for event in events:
        actor = people.show(event.actor_id)
        current = moments[-1] if moments else None
        if current is None or current.version != event.version or current.actor != actor:
            current = Moment(
                at=event.created_at.isoformat(),
                actor=actor,
                actor_name=event.actor.get_username() if actor is not None and event.actor else None,
                action=event.action,
                version=event.version,
            )
            moments.append(current)
        if event.field == "state":
            # Newest first: one transition may move twice (approve, then verify); the moment spans both.
            if current.state is None:
                current.state = {"before": event.before, "after": event.after}
            else:
                current.state["before"] = event.before
            current.action = event.action  # the transition names the moment, not its edits
        elif event.action == "edit":
            current.changes.append(_change(event, labels))
        else:
            current.details[event.field or event.action] = event.after
            if current.action == "edit":
                current.action = event.action
    return [moment.__dict__ for moment in moments]


def _change(event: AuditEvent, labels: dict[str, dict]) -> dict:
    before, after = event.before, event.after
    if event.field.startswith("fields."):
        before = [labels.get(slug, {"en": slug}) for slug in before or []]
        after = [labels.get(slug, {"en": slug}) for slug in after or []]
    elif event.field in ("regions", "qa_pairs"):
        # Summaries of masks and pairs mean little in a timeline; how many is what a reader wants.
        before, after = len(before or []), len(after or [])
    return {"field": event.field, "before": before, "after": after}


def _term_labels(events: list[AuditEvent]) -> dict[str, dict]:
    slugs = {
        slug
        for event in events
        if event.action == "edit" and event.field.startswith("fields.")
        for value in (event.before, event.after)
        for slug in value or []
    }
    terms = Term.objects.filter(slug__in=slugs).only("slug", "label_en", "label_zh", "label_ja")
    return {term.slug: {"en": term.label_en, "zh": term.label_zh, "ja": term.label_ja} for term in terms}
