"""Terms as plain records, and the checks a whole vocabulary file must pass before anything loads.

A file is refused as a whole, with every problem listed, so nothing is ever half-loaded.
"""

import re
from dataclasses import dataclass, field

from .models import LANGUAGES, PARENT_FACET, Facet, TermStatus

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass
class TermRecord:
    slug: str
    facet: str
    labels: dict[str, str]
    definition: str = ""
    parent: str | None = None
    aliases: dict[str, list[str]] = field(default_factory=dict)
    status: str = TermStatus.APPROVED
    replaced_by: str | None = None

    def names(self):
        """(language, text, is_label) for every label and alias."""
        for language in LANGUAGES:
            label = self.labels.get(language, "")
            if label:
                yield language, label, True
            for alias in self.aliases.get(language, []):
                yield language, alias, False

    def as_dict(self) -> dict:
        return {
            "slug": self.slug,
            "facet": self.facet,
            "parent": self.parent,
            "status": self.status,
            "replaced_by": self.replaced_by,
            "labels": {language: self.labels.get(language, "") for language in LANGUAGES},
            "aliases": {language: list(self.aliases.get(language, [])) for language in LANGUAGES},
            "definition": self.definition,
        }


class VocabularyFileError(ValueError):
    """A vocabulary file that cannot be loaded; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems))


def record_from_dict(data: dict, where: str) -> TermRecord:
    """Build a record from the JSON shape; raises VocabularyFileError on a malformed entry."""
    if not isinstance(data, dict):
        raise VocabularyFileError([f"{where}: a term must be an object"])
    labels = data.get("labels") or {}
    aliases = data.get("aliases") or {}
    if not isinstance(labels, dict) or not isinstance(aliases, dict):
        raise VocabularyFileError([f"{where}: 'labels' and 'aliases' must be objects keyed by language"])
    return TermRecord(
        slug=str(data.get("slug") or "").strip(),
        facet=str(data.get("facet") or "").strip(),
        parent=(str(data["parent"]).strip() or None) if data.get("parent") else None,
        labels={language: str(labels.get(language) or "").strip() for language in LANGUAGES},
        aliases={
            language: [str(a).strip() for a in aliases.get(language) or [] if str(a).strip()] for language in LANGUAGES
        },
        definition=str(data.get("definition") or "").strip(),
        status=str(data.get("status") or TermStatus.APPROVED).strip(),
        replaced_by=(str(data["replaced_by"]).strip() or None) if data.get("replaced_by") else None,
    )


def validation_problems(records: list[TermRecord], existing: dict[str, TermRecord] | None = None) -> list[str]:
    """Every problem of a set of records that is to be loaded on top of `existing` (slug -> record)."""
    from .text import fold

    existing = existing or {}
    problems: list[str] = []
    by_slug: dict[str, TermRecord] = {}
    for record in records:
        name = record.slug or "(no slug)"
        if not SLUG_PATTERN.match(record.slug):
            problems.append(f"{name}: slug must be lower-case letters, digits and single hyphens")
        if record.slug in by_slug:
            problems.append(f"{name}: duplicate slug")
        by_slug[record.slug] = record
        if record.facet not in Facet.values:
            problems.append(f"{name}: unknown facet {record.facet!r} (known: {', '.join(Facet.values)})")
        if record.status not in TermStatus.values:
            problems.append(f"{name}: unknown status {record.status!r} (known: {', '.join(TermStatus.values)})")
        for language in LANGUAGES:
            if not record.labels.get(language):
                problems.append(f"{name}: missing {language} label")
            for alias in record.aliases.get(language, []):
                if "|" in alias:
                    problems.append(f"{name}: {language} alias {alias!r} contains '|'")
        if not record.definition:
            problems.append(f"{name}: missing definition")

    # The state after loading: existing terms overlaid with the file's.
    merged = {**existing, **by_slug}
    for record in by_slug.values():
        name = record.slug
        if record.parent:
            parent = merged.get(record.parent)
            expected_facet = PARENT_FACET.get(record.facet, record.facet)
            if parent is None:
                problems.append(f"{name}: parent {record.parent!r} does not exist")
            elif parent.facet != expected_facet:
                problems.append(f"{name}: parent {record.parent!r} is a {parent.facet}, expected a {expected_facet}")
        if record.status == TermStatus.DEPRECATED:
            replacement = merged.get(record.replaced_by) if record.replaced_by else None
            if not record.replaced_by:
                problems.append(f"{name}: deprecated without a replacement (replaced_by)")
            elif replacement is None:
                problems.append(f"{name}: replacement {record.replaced_by!r} does not exist")
            elif replacement.status == TermStatus.DEPRECATED:
                problems.append(f"{name}: replacement {record.replaced_by!r} is itself deprecated")
            elif replacement.facet != record.facet:
                problems.append(f"{name}: replacement {record.replaced_by!r} is in another facet")
        elif record.replaced_by:
            problems.append(f"{name}: only a deprecated term has a replacement")

    problems += _cycle_problems(merged, by_slug)
    problems += _ambiguity_problems(merged, fold)
    return problems


def _cycle_problems(merged: dict[str, TermRecord], loaded: dict[str, TermRecord]) -> list[str]:
    problems = []
    reported: set[str] = set()
    for slug in loaded:
        seen = []
        current = slug
        while current and current in merged and current not in seen:
            seen.append(current)
            current = merged[current].parent
        if current in seen and current not in reported:
            cycle = seen[seen.index(current) :] + [current]
            reported.update(cycle)
            problems.append(f"{slug}: cycle in parents ({' -> '.join(cycle)})")
    return problems


def _ambiguity_problems(merged: dict[str, TermRecord], fold) -> list[str]:
    """Within a facet and language one name may belong to one term only: otherwise the normalizer
    and the annotators could not tell which term a word means."""
    owners: dict[tuple[str, str, str], str] = {}
    problems = []
    for record in merged.values():
        if record.status == TermStatus.DEPRECATED:
            continue  # a deprecated term may keep names its replacement took over
        for language, text, _ in record.names():
            # Two spellings of one term that fold alike ('pin-hole', 'pin hole') are harmless.
            key = (record.facet, language, fold(text))
            other = owners.setdefault(key, record.slug)
            if other != record.slug:
                problems.append(f"{record.slug}: {language} name {text!r} is also a name of {other} ({record.facet})")
    return problems
