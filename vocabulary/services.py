"""Writes to the vocabulary: loading files, the term lifecycle, releasing versions."""

from django.db import transaction

from accounts.models import User

from .models import LANGUAGES, Term, TermName, TermStatus, VocabularyVersion
from .records import TermRecord, VocabularyFileError, validation_problems
from .text import fold_key


class TermLifecycleError(ValueError):
    """A status change the lifecycle does not allow; the message says why."""


def term_record(term: Term, names: list[TermName] | None = None) -> TermRecord:
    names = names if names is not None else list(term.names.all())
    return TermRecord(
        slug=term.slug,
        facet=term.facet,
        parent=term.parent.slug if term.parent_id else None,
        labels={language: term.label(language) for language in LANGUAGES},
        aliases={
            language: [n.text for n in names if n.language == language and not n.is_label] for language in LANGUAGES
        },
        definition=term.definition,
        status=term.status,
        replaced_by=term.replaced_by.slug if term.replaced_by_id else None,
        contexts=_contexts(names),
    )


def _contexts(names: list[TermName]) -> dict[str, dict[str, list[str]]]:
    contexts: dict[str, dict[str, list[str]]] = {}
    for name in names:
        if name.context is not None and not name.is_label:
            contexts.setdefault(name.language, {})[name.text] = list(name.context)
    return contexts


def vocabulary_records(*, statuses: tuple[str, ...] | None = None) -> list[TermRecord]:
    """The working vocabulary as records, in a stable order (facet, slug)."""
    terms = Term.objects.select_related("parent", "replaced_by").prefetch_related("names").order_by("facet", "slug")
    if statuses:
        terms = terms.filter(status__in=statuses)
    return [term_record(term, list(term.names.all())) for term in terms]


def vocabulary_load(*, records: list[TermRecord]) -> dict[str, int]:
    """Create or update the given terms (by slug), all or nothing. Terms not in `records` are left
    as they are. Raises VocabularyFileError listing every problem; then nothing is written."""
    with transaction.atomic():
        existing = {record.slug: record for record in vocabulary_records()}
        problems = validation_problems(records, existing)
        if problems:
            raise VocabularyFileError(problems)

        terms = {term.slug: term for term in Term.objects.select_for_update()}
        # A re-load of an unchanged file writes nothing.
        touched = [r for r in records if r.slug not in existing or existing[r.slug].comparable() != r.comparable()]
        new_terms, changed_terms = [], []
        for record in touched:
            term = terms.get(record.slug) or Term(slug=record.slug)
            (changed_terms if term.pk else new_terms).append(term)
            term.facet = record.facet
            term.status = record.status
            term.definition = record.definition
            for language in LANGUAGES:
                setattr(term, f"label_{language}", record.labels[language])
            terms[record.slug] = term
        Term.objects.bulk_create(new_terms, batch_size=500)
        for term in changed_terms:
            term.save()
        # Links last, one UPDATE per target term (a few dozen): a parent or a replacement may
        # come later in the file than the terms that point at it.
        for field_name in ("parent", "replaced_by"):
            by_target: dict[str | None, list[str]] = {}
            for record in touched:
                by_target.setdefault(getattr(record, field_name), []).append(record.slug)
            for target, slugs in by_target.items():
                Term.objects.filter(slug__in=slugs).update(**{field_name: terms[target] if target else None})
        _names_replace(touched, terms)
    return {"created": len(new_terms), "updated": len(changed_terms), "unchanged": len(records) - len(touched)}


def _names_replace(records: list[TermRecord], terms: dict[str, Term]) -> None:
    TermName.objects.filter(term__slug__in=[r.slug for r in records]).delete()
    rows, seen = [], set()
    for record in records:
        for language, text, is_label in record.names():
            key = (record.slug, language, text)
            if key in seen:  # the same alias twice in one term is harmless: keep one
                continue
            seen.add(key)
            rows.append(
                TermName(
                    term=terms[record.slug],
                    language=language,
                    text=text,
                    normalized=fold_key(text),
                    is_label=is_label,
                    context=None if is_label else record.alias_context(language, text),
                )
            )
    TermName.objects.bulk_create(rows, batch_size=2000)


def term_approve(*, term: Term) -> Term:
    if term.status != TermStatus.PROPOSED:
        raise TermLifecycleError(f"{term.slug} is {term.status}; only a proposed term can be approved")
    problems = validation_problems([_with(term, status=TermStatus.APPROVED)], _existing_except(term))
    if problems:
        raise TermLifecycleError("; ".join(problems))
    term.status = TermStatus.APPROVED
    term.save(update_fields=["status", "updated_at"])
    return term


def term_deprecate(*, term: Term, replacement: Term) -> Term:
    """Deprecate an approved term in favour of an approved term of the same facet."""
    if term.status != TermStatus.APPROVED:
        raise TermLifecycleError(f"{term.slug} is {term.status}; only an approved term can be deprecated")
    if replacement.pk == term.pk:
        raise TermLifecycleError(f"{term.slug} cannot replace itself")
    if replacement.status != TermStatus.APPROVED:
        raise TermLifecycleError(f"replacement {replacement.slug} is {replacement.status}, not approved")
    if replacement.facet != term.facet:
        raise TermLifecycleError(f"replacement {replacement.slug} is a {replacement.facet}, not a {term.facet}")
    term.status = TermStatus.DEPRECATED
    term.replaced_by = replacement
    term.save(update_fields=["status", "replaced_by", "updated_at"])
    return term


def _with(term: Term, **changes) -> TermRecord:
    record = term_record(term)
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def _existing_except(term: Term) -> dict[str, TermRecord]:
    return {record.slug: record for record in vocabulary_records() if record.slug != term.slug}


def vocabulary_version_release(*, note: str = "", created_by: User | None = None) -> VocabularyVersion:
    """Freeze the approved and deprecated terms as the next numbered version."""
    with transaction.atomic():
        # Lock the latest version row so two releases cannot take the same number.
        latest = VocabularyVersion.objects.select_for_update().order_by("-number").first()
        records = vocabulary_records(statuses=(TermStatus.APPROVED, TermStatus.DEPRECATED))
        if not records:
            raise TermLifecycleError("there are no approved terms to release")
        return VocabularyVersion.objects.create(
            number=(latest.number + 1) if latest else 1,
            note=note,
            terms=[record.as_dict() for record in records],
            term_count=len(records),
            created_by=created_by,
        )
