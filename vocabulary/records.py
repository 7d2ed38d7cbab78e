"""Terms as plain records, and the checks a whole vocabulary file must pass before anything loads.

A file is refused as a whole, with every problem listed, so nothing is ever half-loaded.
"""

import re
from dataclasses import dataclass, field

from .matching import Name, TermMatcher
from .models import LANGUAGES, PARENT_FACET, Facet, TermStatus

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The columns' sizes (Term, TermName): a longer value is refused with its row named, before any
# database sees it. A definition is one sentence; 2,000 characters is far beyond any real one.
MAX_LENGTHS = {"slug": 100, "label": 200, "alias": 200, "definition": 2000}


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
    # Ambiguous aliases (language -> alias -> supporting term slugs): the normalizer counts such an
    # alias only with context ('copper' is spurious copper only near a PCB term or in a PCB sample).
    # An empty list: only a caller's facet hint supports it.
    contexts: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def alias_context(self, language: str, alias: str) -> list[str] | None:
        """The supporting slugs of an ambiguous alias, or None for an ordinary one."""
        return self.contexts.get(language, {}).get(alias)

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
            "aliases": {
                language: [self._alias_entry(language, alias) for alias in self.aliases.get(language, [])]
                for language in LANGUAGES
            },
            "definition": self.definition,
        }

    def comparable(self) -> dict:
        """as_dict with every language's aliases in one canonical order: alias order means nothing
        (SKOS keeps none), so a re-load of one's own export changes nothing."""
        data = self.as_dict()
        data["aliases"] = {
            language: sorted(
                entries,
                key=lambda entry: (entry, ()) if isinstance(entry, str) else (entry["text"], tuple(entry["context"])),
            )
            for language, entries in data["aliases"].items()
        }
        return data

    def _alias_entry(self, language: str, alias: str) -> str | dict:
        context = self.alias_context(language, alias)
        return alias if context is None else {"text": alias, "context": list(context)}


class VocabularyFileError(ValueError):
    """A vocabulary file that cannot be loaded; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems))


class _EntryReader:
    """Reads one term entry's values, collecting every malformed one instead of stopping at the first."""

    def __init__(self, where: str):
        self.where = where
        self.problems: list[str] = []

    def text(self, value, name: str, limit: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.problems.append(f"{self.where}: {name} must be a string, not {type(value).__name__}")
            return ""
        value = str(value).strip()
        if "\x00" in value:
            self.problems.append(f"{self.where}: {name} contains a NUL byte")
        if len(value) > MAX_LENGTHS[limit]:
            self.problems.append(f"{self.where}: {name} is {len(value)} characters long (at most {MAX_LENGTHS[limit]})")
        return value

    def aliases(self, aliases: dict) -> tuple[dict[str, list[str]], dict[str, dict[str, list[str]]]]:
        """language -> aliases, and language -> ambiguous alias -> its context slugs."""
        record_aliases: dict[str, list[str]] = {}
        contexts: dict[str, dict[str, list[str]]] = {}
        for language in LANGUAGES:
            entries = aliases.get(language) or []
            if not isinstance(entries, list):
                # A string here would otherwise be read letter by letter ("abc" -> a, b, c).
                self.problems.append(
                    f"{self.where}: aliases.{language} must be a list of strings, not {type(entries).__name__}"
                )
                entries = []
            record_aliases[language] = []
            for index, entry in enumerate(entries):
                name = f"aliases.{language}[{index}]"
                context = None
                if isinstance(entry, dict):
                    context = self.context(entry.get("context", []), name)
                    entry = entry.get("text")
                alias = self.text(entry, name, "alias")
                if alias:
                    record_aliases[language].append(alias)
                    if context is not None:
                        contexts.setdefault(language, {})[alias] = context
        return record_aliases, contexts

    def context(self, context, name: str) -> list[str]:
        if not isinstance(context, list) or not all(isinstance(slug, str) for slug in context):
            self.problems.append(f"{self.where}: {name}.context must be a list of term slugs")
            return []
        return [slug.strip() for slug in context if slug.strip()]


def record_from_dict(data: dict, where: str) -> TermRecord:
    """Build a record from the JSON shape; raises VocabularyFileError listing every malformed
    value of the entry (a string where a list belongs, a NUL byte, an over-long value)."""
    if not isinstance(data, dict):
        raise VocabularyFileError([f"{where}: a term must be an object"])
    if data.get("slug") and isinstance(data["slug"], str):
        where = f"{where} ({data['slug'][:60]})"
    labels = data.get("labels") or {}
    aliases = data.get("aliases") or {}
    if not isinstance(labels, dict) or not isinstance(aliases, dict):
        raise VocabularyFileError([f"{where}: 'labels' and 'aliases' must be objects keyed by language"])
    reader = _EntryReader(where)
    text = reader.text
    record_aliases, contexts = reader.aliases(aliases)
    record = TermRecord(
        slug=text(data.get("slug"), "slug", "slug"),
        facet=text(data.get("facet"), "facet", "slug"),
        parent=text(data.get("parent"), "parent", "slug") or None,
        labels={language: text(labels.get(language), f"labels.{language}", "label") for language in LANGUAGES},
        aliases=record_aliases,
        contexts=contexts,
        definition=text(data.get("definition"), "definition", "definition"),
        status=text(data.get("status"), "status", "slug") or TermStatus.APPROVED,
        replaced_by=text(data.get("replaced_by"), "replaced_by", "slug") or None,
    )
    if reader.problems:
        raise VocabularyFileError(reader.problems)
    return record


def validation_problems(records: list[TermRecord], existing: dict[str, TermRecord] | None = None) -> list[str]:
    """Every problem of a set of records that is to be loaded on top of `existing` (slug -> record)."""
    from .text import fold_key

    problems: list[str] = []
    by_slug: dict[str, TermRecord] = {}
    for record in records:
        if record.slug in by_slug:
            problems.append(f"{record.slug or '(no slug)'}: duplicate slug")
        by_slug[record.slug] = record
        problems += _shape_problems(record)

    # The state after loading: existing terms overlaid with the file's.
    merged = {**(existing or {}), **by_slug}
    for record in by_slug.values():
        problems += _parent_problems(record, merged)
        problems += _replacement_problems(record, merged)
        problems += _context_problems(record, merged)
    problems += _cycle_problems(merged, by_slug)
    problems += _ambiguity_problems(merged, fold_key)
    return problems


def _shape_problems(record: TermRecord) -> list[str]:
    """What one record gets wrong on its own, before any other term is looked at."""
    name = record.slug or "(no slug)"
    problems = []
    if not SLUG_PATTERN.match(record.slug):
        problems.append(f"{name}: slug must be lower-case letters, digits and single hyphens")
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
    return problems


def _parent_problems(record: TermRecord, merged: dict[str, TermRecord]) -> list[str]:
    if not record.parent:
        return []
    parent = merged.get(record.parent)
    expected_facet = PARENT_FACET.get(record.facet, record.facet)
    if parent is None:
        return [f"{record.slug}: parent {record.parent!r} does not exist"]
    if parent.facet != expected_facet:
        return [f"{record.slug}: parent {record.parent!r} is a {parent.facet}, expected a {expected_facet}"]
    return []


def _replacement_problems(record: TermRecord, merged: dict[str, TermRecord]) -> list[str]:
    name = record.slug
    if record.status != TermStatus.DEPRECATED:
        return [f"{name}: only a deprecated term has a replacement"] if record.replaced_by else []
    if not record.replaced_by:
        return [f"{name}: deprecated without a replacement (replaced_by)"]
    replacement = merged.get(record.replaced_by)
    if replacement is None:
        return [f"{name}: replacement {record.replaced_by!r} does not exist"]
    if replacement.status == TermStatus.DEPRECATED:
        return [f"{name}: replacement {record.replaced_by!r} is itself deprecated"]
    if replacement.facet != record.facet:
        return [f"{name}: replacement {record.replaced_by!r} is in another facet"]
    return []


def _context_problems(record: TermRecord, merged: dict[str, TermRecord]) -> list[str]:
    problems = []
    for language, by_alias in record.contexts.items():
        for alias, slugs in by_alias.items():
            missing = [slug for slug in slugs if slug not in merged]
            if missing:
                problems.append(f"{record.slug}: {language} alias {alias!r} names unknown context term(s) {missing}")
    return problems


def _cycle_problems(merged: dict[str, TermRecord], loaded: dict[str, TermRecord]) -> list[str]:
    """Each term is walked once: a walk stops at a term an earlier walk finished (linear in the
    number of terms; a walk per term that re-reads its whole chain was quadratic)."""
    problems = []
    finished: set[str] = set()
    for slug in loaded:
        path: list[str] = []
        on_path: set[str] = set()
        current = slug
        while current and current in merged and current not in finished and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = merged[current].parent
        if current in on_path:
            cycle = path[path.index(current) :] + [current]
            problems.append(f"{slug}: cycle in parents ({' -> '.join(cycle)})")
        finished.update(path)
    return problems


def _ambiguity_problems(merged: dict[str, TermRecord], fold_key) -> list[str]:
    """Within a facet and language one name may belong to one term only: otherwise the normalizer
    and the annotators could not tell which term a word means. Names are keyed as the normalizer
    keys them (text.fold_key: ｶﾞｽ is ガス)."""
    owners: dict[tuple[str, str, str], str] = {}
    problems = []
    for record in merged.values():
        if record.status == TermStatus.DEPRECATED:
            continue  # a deprecated term may keep names its replacement took over
        for language, text, _ in record.names():
            # Two spellings of one term that fold alike ('pin-hole', 'pin hole') are harmless.
            key = (record.facet, language, fold_key(text))
            other = owners.setdefault(key, record.slug)
            if other != record.slug:
                problems.append(f"{record.slug}: {language} name {text!r} is also a name of {other} ({record.facet})")
    return problems


def records_matcher(records: list[TermRecord]) -> TermMatcher:
    """The normalizer's matcher over a vocabulary file's records (labels and aliases, the ambiguous
    aliases with their contexts), without a database: for benchmarks and tests of a bundled file."""
    names = [
        Name(
            text,
            record.slug,
            record.facet,
            language,
            is_label,
            tuple(context) if (context := record.alias_context(language, text)) is not None and not is_label else None,
        )
        for record in records
        for language, text, is_label in record.names()
    ]
    return TermMatcher(names, parents={record.slug: record.parent for record in records})
