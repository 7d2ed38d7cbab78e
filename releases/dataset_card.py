"""The dataset card written with every WebDataset export: `README.md` with YAML front matter in the
Hugging Face layout (configs naming each split's shards, and dataset_info declaring every column,
so `datasets.load_dataset(EXPORT_FOLDER)` reads it without inferring anything), and `croissant.json`
(Croissant 1.0 JSON-LD: the files with their checksums and a record set over the Parquet index).

The card says what a user must know before training on the data: the license of each source, the
splits and their counts, the vocabulary version, the class list, the agreement figures of the
annotations and the share of synthetic samples. Its bytes depend only on the export and on the
agreement reports it quotes.
"""

import json

from django.db.models import Count, Q

from annotation.models import AgreementReport, ReportScope
from annotation.template_fields import TEMPLATE_FIELDS

from .models import Export, ShardStatus
from .sample_documents import FIELD_FACETS, export_items
from .shard_index import INDEX_SCHEMA, index_name

CROISSANT_CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "sc": "https://schema.org/",
    "dct": "http://purl.org/dc/terms/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "citeAs": "cr:citeAs",
}
# Licence texts as sources give them -> the Hugging Face licence id
HF_LICENSES = {
    "cc by 4.0": "cc-by-4.0",
    "cc by-sa 4.0": "cc-by-sa-4.0",
    "cc by-nc 4.0": "cc-by-nc-4.0",
    "cc by-nc-sa 4.0": "cc-by-nc-sa-4.0",
    "cc by-nc-nd 4.0": "cc-by-nc-nd-4.0",
    "cc0 1.0": "cc0-1.0",
    "mit": "mit",
    "apache 2.0": "apache-2.0",
    "apache-2.0": "apache-2.0",
}
CROISSANT_TYPES = {"string": "sc:Text", "int64": "sc:Integer", "int32": "sc:Integer", "bool": "sc:Boolean"}


# -- the columns, as `datasets` declares features in a card --------------------------------------


def _value(name: str, dtype: str) -> dict:
    return {"name": name, "dtype": dtype}


def _struct(name: str, fields: list[dict]) -> dict:
    return {"name": name, "struct": fields}


def _labels() -> dict:
    return _struct("labels", [_value(language, "string") for language in ("en", "ja", "zh")])


def _term_fields() -> list[dict]:
    return [_labels(), _value("slug", "string")]


def json_features() -> list[dict]:
    """The json member's fields (docs/webdataset-schema.md), in the order `datasets` sorts them."""
    return [
        _value("annotation_revision", "int64"),
        _struct("captions", [_value(language, "string") for language in ("en", "ja", "zh")]),
        _value("domain", "string"),
        _value("height", "int64"),
        _value("image_format", "string"),
        _value("is_synthetic", "bool"),
        {
            "name": "qa",
            "list": [
                _value("answer", "string"),
                _value("language", "string"),
                _value("question", "string"),
                {"name": "regions", "list": "int64"},
            ],
        },
        {
            "name": "regions",
            "list": [
                {"name": "bbox", "list": "float64"},
                _value("class_index", "int64"),
                _value("raw_label", "string"),
                _struct("rle", [{"name": "counts", "list": "int64"}, {"name": "size", "list": "int64"}]),
                _struct("term", _term_fields()),
            ],
        },
        _value("sample_id", "int64"),
        _value("schema_version", "int64"),
        _value("sha256", "string"),
        _struct("source", [_value("kind", "string"), _value("license", "string"), _value("name", "string")]),
        _value("split", "string"),
        _struct("terms", [{"name": facet, "list": _term_fields()} for facet in sorted(FIELD_FACETS.values())]),
        _value("width", "int64"),
    ]


def card_features(image_member: str) -> list[dict]:
    """Every column a shard sample gives `datasets`: the tar members, then its key and file."""
    return [
        {"name": image_member, "dtype": "image"},
        {"name": "mask.png", "dtype": "image"},
        _struct("json", json_features()),
        _value("txt", "string"),
        _value("zh.txt", "string"),
        _value("ja.txt", "string"),
        _value("__key__", "string"),
        _value("__url__", "string"),
    ]


# -- what the card says -------------------------------------------------------------------------


def _sources(export: Export) -> list[dict]:
    rows = (
        export_items(export)
        .order_by()
        .values("sample__source__name", "sample__source__kind", "sample__source__license", "sample__source_id")
        .annotate(samples=Count("pk"), synthetic=Count("pk", filter=Q(sample__is_synthetic=True)))
        .order_by("sample__source__name")
    )
    return [
        {
            "id": row["sample__source_id"],
            "name": row["sample__source__name"],
            "kind": row["sample__source__kind"],
            "license": row["sample__source__license"] or "(none recorded)",
            "samples": row["samples"],
            "synthetic": row["synthetic"],
        }
        for row in rows
    ]


def _agreement(sources: list[dict]) -> list[dict]:
    """Per source, the newest finished agreement report of its annotations (a source-wide
    report covers every reviewed annotation of the source, a superset of the version's)."""
    quoted = []
    for source in sources:
        report = (
            AgreementReport.objects.filter(
                scope=ReportScope.DATASET, source_id=source["id"], result__isnull=False, finished_at__isnull=False
            )
            .order_by("-finished_at", "-pk")
            .first()
        )
        quoted.append({"source": source["name"], "report": report})
    return quoted


def _figure(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _agreement_table(quoted: list[dict]) -> str:
    lines = []
    fields = [spec.name for spec in TEMPLATE_FIELDS]
    header = " | ".join(f"{name} κ / α" for name in fields)
    lines.append(f"| source | report | reviewed | {header} | mask IoU stage 1 vs final |")
    lines.append("|" + "---|" * (len(fields) + 4))
    missing = []
    for entry in quoted:
        report = entry["report"]
        if report is None:
            missing.append(entry["source"])
            continue
        result = report.result
        cells = []
        for name in fields:
            stats = result.get("fields", {}).get(name, {})
            kappa = stats.get("stage1_vs_stage2", {}).get("cohen_kappa")
            alpha = stats.get("all_raters", {}).get("krippendorff_alpha")
            cells.append(f"{_figure(kappa)} / {_figure(alpha)}")
        iou = result.get("masks", {}).get("stage1_vs_final", {}).get("mean_iou")
        reviewed = result.get("items", {}).get("reviewed", "–")
        when = report.finished_at.date().isoformat()
        lines.append(
            f"| {entry['source']} | #{report.pk} of {when} | {reviewed} | {' | '.join(cells)} | {_figure(iou)} |"
        )
    if missing:
        lines.append("")
        lines.append(
            "**No agreement report has been computed for: "
            + ", ".join(missing)
            + ".** Their annotations' agreement is unknown; request a report in the admin before relying on them."
        )
    return "\n".join(lines)


def _hf_license(sources: list[dict]) -> dict:
    licenses = {source["license"] for source in sources}
    if len(licenses) == 1:
        known = HF_LICENSES.get(next(iter(licenses)).strip().lower())
        if known:
            return {"license": known}
    return {"license": "other", "license_name": "per-source", "license_details": "Each source's license: see below."}


def _size_category(samples: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if samples < limit:
            return name
    return "1M<n<10M"


def _yaml(value, indent: int = 0) -> str:
    """YAML of plain data (dicts, lists, strings, numbers): JSON strings are valid YAML scalars,
    so the writer needs no YAML library and its output is the same everywhere."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_yaml(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                body = _yaml(item, indent + 2)
                lines.append(f"{pad}- {body[indent + 2 :]}")
            elif isinstance(item, list) and item:
                lines.append(f"{pad}-\n{_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}- {_yaml(item)}")
        return "\n".join(lines)
    return json.dumps(value, ensure_ascii=False)


def _front_matter(export: Export, sources: list[dict], splits: dict[str, dict]) -> dict:
    version = export.version
    samples = sum(split["samples"] for split in splits.values())
    return {
        "pretty_name": f"{version.title} ({version.name})",
        **_hf_license(sources),
        "language": ["en", "zh", "ja"],
        "task_categories": ["image-segmentation", "object-detection", "image-to-text", "text-to-image"],
        "size_categories": [_size_category(samples)],
        "tags": ["industrial", "defect-detection", "anomaly-detection", "webdataset"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": name, "path": [shard for shard in split["shards"]]} for name, split in splits.items()
                ],
            }
        ],
        "dataset_info": {
            "features": card_features(export.image_member),
            "splits": [
                {"name": name, "num_bytes": split["bytes"], "num_examples": split["samples"]}
                for name, split in splits.items()
            ],
        },
    }


def _splits(export: Export) -> dict[str, dict]:
    splits: dict[str, dict] = {}
    for shard in export.shards.filter(status=ShardStatus.COMMITTED).order_by("index"):
        split = splits.setdefault(shard.split, {"samples": 0, "bytes": 0, "shards": []})
        split["samples"] += shard.samples
        split["bytes"] += shard.bytes
        split["shards"].append(shard.name)
    return splits


def card_markdown(export: Export) -> bytes:
    version = export.version
    sources = _sources(export)
    splits = _splits(export)
    samples = sum(split["samples"] for split in splits.values())
    synthetic = sum(source["synthetic"] for source in sources)
    vocabulary = version.vocabulary_version.number if version.vocabulary_version else None
    source_rows = "\n".join(
        f"| {s['name']} | {s['kind']} | {s['license']} | {s['samples']} | {s['synthetic']} |" for s in sources
    )
    split_rows = "\n".join(
        f"| {name} | {split['samples']} | {len(split['shards'])} | {split['bytes']} |" for name, split in splits.items()
    )
    class_rows = "\n".join(
        f"| {c['index']} | `{c['slug']}` | {c['labels'].get('en', '')} | {c['labels'].get('zh', '')} | "
        f"{c['labels'].get('ja', '')} |"
        for c in export.classes
    )
    share = f"{100 * synthetic / samples:.1f}%" if samples else "–"
    body = f"""# {version.title} ({version.name})

{version.description or "An expert-verified, multilingual industrial defect dataset."}

WebDataset shards (schema version 2, `docs/webdataset-schema.md` of the platform), one Parquet index per
shard, this card and `croissant.json`. `manifest.json` lists every file with its SHA-256.

## Load it

```python
from datasets import load_dataset

dataset = load_dataset("path/to/{version.name}")  # this folder: the card declares every column
```

Every sample has the same members: `{export.image_member}` (the original image bytes), `mask.png`
(class indices, 0 = background, `i` = the class list's entry `i` below), `json` (the verified
annotation), `txt`, `zh.txt`, `ja.txt` (captions; empty where the json's caption is null).

## Sources and licenses

Use of each sample is governed by its source's license.

| source | kind | license | samples | synthetic |
|---|---|---|---|---|
{source_rows}

Synthetic samples: {synthetic} of {samples} ({share}).

## Splits

| split | samples | shards | bytes |
|---|---|---|---|
{split_rows}

Split plan: `{json.dumps(version.split_plan, sort_keys=True)}`; selection: `{json.dumps(version.selection, sort_keys=True)}`.

## Vocabulary and classes

Terms come from vocabulary version {vocabulary if vocabulary is not None else "(none)"}.

| index | slug | en | zh | ja |
|---|---|---|---|---|
{class_rows}

## Annotation agreement

Every sample passed three stages (annotation, peer review, expert consensus). Agreement per template
field: Cohen's κ of stage 1 against stage 2, and Krippendorff's α (nominal) over all raters; mask IoU
of stage 1 against the verified masks. From the newest agreement report of each source, which covers
all of the source's reviewed annotations.

{_agreement_table(_agreement(sources))}
"""
    front = _yaml(_front_matter(export, sources, splits))
    return f"---\n{front}\n---\n\n{body}".encode()


def croissant_document(export: Export) -> dict:
    version = export.version
    sources = _sources(export)
    shards = list(export.shards.filter(status=ShardStatus.COMMITTED).order_by("index"))
    licenses = sorted({source["license"] for source in sources})
    fields = []
    for column in INDEX_SCHEMA:
        data_type = CROISSANT_TYPES.get(str(column.type))
        if data_type is None:
            continue  # list columns (defect_types) are in the Parquet files, not in the record set
        fields.append(
            {
                "@type": "cr:Field",
                "@id": f"samples/{column.name}",
                "name": column.name,
                "dataType": data_type,
                "source": {"fileSet": {"@id": "parquet-index"}, "extract": {"column": column.name}},
            }
        )
    distribution = [
        {
            "@type": "cr:FileObject",
            "@id": shard.name,
            "name": shard.name,
            "contentUrl": shard.name,
            "encodingFormat": "application/x-tar",
            "contentSize": f"{shard.bytes} B",
            "sha256": shard.sha256,
        }
        for shard in shards
    ]
    distribution += [
        {
            "@type": "cr:FileObject",
            "@id": index_name(shard.name),
            "name": index_name(shard.name),
            "contentUrl": index_name(shard.name),
            "encodingFormat": "application/x-parquet",
            "contentSize": f"{shard.index_bytes} B",
            "sha256": shard.index_sha256,
        }
        for shard in shards
    ]
    distribution.append(
        {
            "@type": "cr:FileSet",
            "@id": "parquet-index",
            "name": "parquet-index",
            "description": "One row per sample: where it lies in which shard, its source, license and labels.",
            "encodingFormat": "application/x-parquet",
            # the export's own files by name: a glob would also take in another export's index
            # files left in the folder (export_folders.py). An export holds a sample (exports.py).
            "includes": [index_name(shard.name) for shard in shards],
        }
    )
    return {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": f"imdd-{version.name}",
        "description": version.description or f"{version.title}: an expert-verified industrial defect dataset.",
        "license": licenses if len(licenses) > 1 else (licenses[0] if licenses else "(none recorded)"),
        "url": f"{version.name}/README.md",
        "version": f"{version.number}.0.0",
        "datePublished": (version.published_at or version.created_at).date().isoformat(),
        "inLanguage": ["en", "zh", "ja"],
        "distribution": distribution,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "samples",
                "name": "samples",
                "description": "The samples of every split, from the Parquet index.",
                "field": fields,
            }
        ],
    }


def card_files(export: Export) -> dict[str, bytes]:
    """README.md and croissant.json, by name within the export's folder."""
    croissant = json.dumps(croissant_document(export), ensure_ascii=False, indent=1).encode()
    return {"README.md": card_markdown(export), "croissant.json": croissant}
