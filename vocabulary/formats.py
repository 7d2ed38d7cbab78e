"""Reading and writing vocabulary files: JSON (the native format), CSV and SKOS (RDF Turtle).

JSON and CSV round-trip without loss. SKOS is for terminology tools: prefLabel/altLabel with
language tags, broader, definition, and the facet as a skos:Collection; it reads back too.
"""

import csv
import io
import json
import re

from .models import LANGUAGES, Facet, TermStatus
from .records import TermRecord, VocabularyFileError, record_from_dict

FORMAT_NAME = "imdd-vocabulary"
FORMAT_VERSION = 1
CSV_COLUMNS = (
    ["slug", "facet", "parent", "status", "replaced_by"]
    + [f"label_{language}" for language in LANGUAGES]
    + [f"aliases_{language}" for language in LANGUAGES]
    + ["definition"]
)
ALIAS_SEPARATOR = "|"
# In CSV (and SKOS) an ambiguous alias carries its supporting terms in braces: "copper{dom-pcb-fabrication}";
# "color{}" is supported by a caller's facet hint only.
CONTEXT_ALIAS = re.compile(r"^(?P<text>[^{}]*?)\s*\{(?P<context>[^{}]*)\}$")


def alias_cell(record: TermRecord, language: str, alias: str) -> str:
    context = record.alias_context(language, alias)
    return alias if context is None else f"{alias}{{{' '.join(context)}}}"


def alias_entry(cell: str) -> str | dict:
    """The JSON shape of one alias cell: its text, or {"text", "context"} for an ambiguous alias."""
    match = CONTEXT_ALIAS.match(cell.strip())
    if not match:
        return cell
    return {"text": match["text"], "context": match["context"].split()}


# JSON ----------------------------------------------------------------------------------------


def records_to_json(records: list[TermRecord], **header) -> str:
    document = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **header}
    document["terms"] = [record.as_dict() for record in records]
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def records_from_json(text: str) -> list[TermRecord]:
    try:
        # A byte-order mark is how some editors save UTF-8; CSV accepts one, and so does JSON here.
        document = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as error:
        raise VocabularyFileError([f"not valid JSON: {error}"]) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise VocabularyFileError([f'not an {FORMAT_NAME} file (missing "format": "{FORMAT_NAME}")'])
    if document.get("format_version") != FORMAT_VERSION:
        raise VocabularyFileError([f"unsupported format_version {document.get('format_version')!r}"])
    terms = document.get("terms")
    if not isinstance(terms, list):
        raise VocabularyFileError(["'terms' must be a list"])
    records, problems = [], []
    for number, data in enumerate(terms, start=1):
        try:
            records.append(record_from_dict(data, f"term {number}"))
        except VocabularyFileError as error:
            problems += error.problems
    if problems:
        raise VocabularyFileError(problems)
    return records


# CSV -----------------------------------------------------------------------------------------


def records_to_csv(records: list[TermRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        row = {
            "slug": record.slug,
            "facet": record.facet,
            "parent": record.parent or "",
            "status": record.status,
            "replaced_by": record.replaced_by or "",
            "definition": record.definition,
        }
        for language in LANGUAGES:
            row[f"label_{language}"] = record.labels.get(language, "")
            row[f"aliases_{language}"] = ALIAS_SEPARATOR.join(
                alias_cell(record, language, alias) for alias in record.aliases.get(language, [])
            )
        writer.writerow(row)
    return buffer.getvalue()


def records_from_csv(text: str) -> list[TermRecord]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [column for column in ("slug", "facet", "label_en") if column not in (reader.fieldnames or [])]
    if missing:
        raise VocabularyFileError([f"CSV header lacks column(s): {', '.join(missing)}"])
    records, problems = [], []
    try:
        for row in reader:
            try:
                records.append(record_from_dict(_csv_term(row), f"row {reader.line_num}"))
            except VocabularyFileError as error:
                problems += error.problems
    except csv.Error as error:
        problems.append(f"row {reader.line_num}: not valid CSV: {error}")
    if problems:
        raise VocabularyFileError(problems)
    return records


def _csv_term(row: dict) -> dict:
    """A CSV row in the JSON shape."""
    return {
        "slug": row.get("slug"),
        "facet": row.get("facet"),
        "parent": row.get("parent"),
        "status": row.get("status") or TermStatus.APPROVED,
        "replaced_by": row.get("replaced_by"),
        "labels": {language: row.get(f"label_{language}") for language in LANGUAGES},
        "aliases": {
            language: [alias_entry(a) for a in (row.get(f"aliases_{language}") or "").split(ALIAS_SEPARATOR) if a]
            for language in LANGUAGES
        },
        "definition": row.get("definition"),
    }


# SKOS ----------------------------------------------------------------------------------------

BASE_IRI = "https://imdd-platform.org/vocabulary/"
# BCP 47 tags in SKOS; the platform's short codes elsewhere.
SKOS_LANGUAGE_TAGS = {"en": "en", "zh": "zh-Hans", "ja": "ja"}


def records_to_skos(records: list[TermRecord], *, version: int | None = None) -> str:
    from rdflib import Graph, Literal, Namespace, URIRef
    from rdflib.namespace import DCTERMS, OWL, RDF, SKOS

    term = Namespace(BASE_IRI + "term/")
    facet_ns = Namespace(BASE_IRI + "facet/")
    imdd = Namespace(BASE_IRI + "schema#")
    graph = Graph()
    graph.bind("skos", SKOS)
    graph.bind("dcterms", DCTERMS)
    graph.bind("owl", OWL)
    graph.bind("term", term)
    graph.bind("facet", facet_ns)
    graph.bind("imdd", imdd)

    scheme = URIRef(BASE_IRI + (f"v{version}" if version else "current"))
    graph.add((scheme, RDF.type, SKOS.ConceptScheme))
    graph.add((scheme, DCTERMS.title, Literal("IMDD controlled vocabulary", lang="en")))
    if version:
        graph.add((scheme, OWL.versionInfo, Literal(str(version))))
    for facet in Facet:
        graph.add((facet_ns[facet.value], RDF.type, SKOS.Collection))
        graph.add((facet_ns[facet.value], SKOS.prefLabel, Literal(facet.label, lang="en")))

    for record in records:
        concept = term[record.slug]
        graph.add((concept, RDF.type, SKOS.Concept))
        graph.add((concept, SKOS.inScheme, scheme))
        graph.add((concept, SKOS.notation, Literal(record.slug)))
        graph.add((facet_ns[record.facet], SKOS.member, concept))
        graph.add((concept, imdd.status, Literal(record.status)))
        for language, text, is_label in record.names():
            if not is_label and record.alias_context(language, text) is not None:
                # No SKOS property says "a label only in context": our own, in the CSV notation.
                literal = Literal(alias_cell(record, language, text), lang=SKOS_LANGUAGE_TAGS[language])
                graph.add((concept, imdd.contextAlias, literal))
                continue
            predicate = SKOS.prefLabel if is_label else SKOS.altLabel
            graph.add((concept, predicate, Literal(text, lang=SKOS_LANGUAGE_TAGS[language])))
        if record.definition:
            graph.add((concept, SKOS.definition, Literal(record.definition, lang="en")))
        if record.parent:
            graph.add((concept, SKOS.broader, term[record.parent]))
            graph.add((term[record.parent], SKOS.narrower, concept))
        else:
            graph.add((scheme, SKOS.hasTopConcept, concept))
        if record.status == TermStatus.DEPRECATED:
            graph.add((concept, OWL.deprecated, Literal(True)))
        if record.replaced_by:
            graph.add((concept, DCTERMS.isReplacedBy, term[record.replaced_by]))
    return graph.serialize(format="turtle")


def records_from_skos(text: str) -> list[TermRecord]:
    from rdflib import Graph, Namespace
    from rdflib.namespace import DCTERMS, RDF, SKOS

    graph = Graph()
    try:
        graph.parse(data=text, format="turtle")
    except Exception as error:  # rdflib raises several parser exception types
        raise VocabularyFileError([f"not valid Turtle: {error}"]) from None
    imdd = Namespace(BASE_IRI + "schema#")
    term_prefix = BASE_IRI + "term/"
    facet_prefix = BASE_IRI + "facet/"
    tag_to_language = {tag: language for language, tag in SKOS_LANGUAGE_TAGS.items()}

    def slug_of(node) -> str:
        return str(node).removeprefix(term_prefix)

    facet_of = {}
    for collection, _, concept in graph.triples((None, SKOS.member, None)):
        facet_of[concept] = str(collection).removeprefix(facet_prefix)

    records = []
    for concept in sorted(graph.subjects(RDF.type, SKOS.Concept)):
        labels, aliases = {}, {language: [] for language in LANGUAGES}
        for literal in graph.objects(concept, SKOS.prefLabel):
            labels[tag_to_language.get(literal.language, literal.language)] = str(literal)
        contexts: dict[str, dict[str, list[str]]] = {}
        for literal in graph.objects(concept, SKOS.altLabel):
            aliases.setdefault(tag_to_language.get(literal.language, literal.language), []).append(str(literal))
        for literal in graph.objects(concept, imdd.contextAlias):
            language = tag_to_language.get(literal.language, literal.language)
            entry = alias_entry(str(literal))
            if isinstance(entry, dict):
                aliases.setdefault(language, []).append(entry["text"])
                contexts.setdefault(language, {})[entry["text"]] = entry["context"]
        parent = graph.value(concept, SKOS.broader)
        replacement = graph.value(concept, DCTERMS.isReplacedBy)
        records.append(
            TermRecord(
                slug=slug_of(concept),
                facet=facet_of.get(concept, ""),
                labels=labels,
                aliases={language: sorted(names) for language, names in aliases.items()},
                contexts=contexts,
                definition=str(graph.value(concept, SKOS.definition) or ""),
                parent=slug_of(parent) if parent else None,
                status=str(graph.value(concept, imdd.status) or TermStatus.APPROVED),
                replaced_by=slug_of(replacement) if replacement else None,
            )
        )
    return records


READERS = {"json": records_from_json, "csv": records_from_csv, "skos": records_from_skos}
WRITERS = {"json": records_to_json, "csv": records_to_csv, "skos": records_to_skos}


def format_for_path(path: str) -> str:
    lowered = path.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".ttl", ".skos")):
        return "skos"
    return "json"
