"""Raw class names of public datasets, mapped to defect-type terms: one data file per dataset in
data/label_maps/ (MVTec AD, VisA, MVTec LOCO, MVTec AD 2, Real-IAD, GoodsAD, DeepPCB, KolektorSDD,
NEU-DET, Magnetic Tile, Defect Spectrum), plus generic.json for the words every dataset uses for its
normal class (good, normal, ok).

A label means what its dataset means by it: `copper` is spurious copper in DeepPCB and nothing in
a dataset that does not name it. A label mapped to null is known to name a defect of no particular
type (MVTec AD 2's `bad`): the region keeps no term and the annotator picks one. No Django here:
the files are read once per process.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .text import fold

LABEL_MAP_DIR = Path(__file__).resolve().parent / "data" / "label_maps"
FORMAT_NAME = "imdd-label-map"
GENERIC = "generic"


class LabelMapError(ValueError):
    """A label map file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class LabelMap:
    dataset: str  # the slug stored on a source
    name: str
    aliases: tuple[str, ...]  # other names of the dataset (as people spell it)
    import_formats: tuple[str, ...]  # importers whose sources are this dataset
    labels: dict[str, str | None]  # folded raw label -> term slug (None: a defect of no known type)
    provenance: str


def _read(path: Path) -> LabelMap:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as error:
        raise LabelMapError(f"{path.name}: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise LabelMapError(f'{path.name}: not an {FORMAT_NAME} file (missing "format": "{FORMAT_NAME}")')
    labels = document.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(v, str | None) for v in labels.values()):
        raise LabelMapError(f"{path.name}: 'labels' must map each raw label to a term slug or null")
    folded: dict[str, str | None] = {}
    for label, slug in labels.items():
        key = fold(label.strip())
        if key in folded and folded[key] != slug:
            raise LabelMapError(f"{path.name}: {label!r} folds to {key!r}, which maps to {folded[key]!r} already")
        folded[key] = slug
    return LabelMap(
        dataset=str(document.get("dataset") or path.stem),
        name=str(document.get("name") or path.stem),
        aliases=tuple(document.get("aliases") or ()),
        import_formats=tuple(document.get("import_formats") or ()),
        labels=folded,
        provenance=str(document.get("provenance") or ""),
    )


@cache
def label_maps() -> dict[str, LabelMap]:
    """Every bundled label map by dataset slug."""
    maps = {}
    for path in sorted(LABEL_MAP_DIR.glob("*.json")):
        label_map = _read(path)
        maps[label_map.dataset] = label_map
    return maps


def dataset_choices() -> list[tuple[str, str]]:
    return [(slug, label_map.name) for slug, label_map in sorted(label_maps().items()) if slug != GENERIC]


def dataset_for_import_format(format_name: str) -> str:
    """The dataset an importer reads ('mvtec' -> 'mvtec-ad'), or '' for generic formats (COCO, folder)."""
    return next((slug for slug, m in label_maps().items() if format_name in m.import_formats), "")


def dataset_named(name: str) -> str:
    """The dataset slug for a slug, name or alias as people write it ('MVTec AD', 'mvtec_loco'), or ''."""
    wanted = fold(name.strip())
    for slug, label_map in label_maps().items():
        if wanted in {fold(slug), fold(label_map.name), *(fold(alias) for alias in label_map.aliases)}:
            return slug
    return ""


def label_term_slug(label: str, *, dataset: str = "") -> tuple[bool, str | None]:
    """(known, term slug) of a raw label in `dataset`'s map, then in the generic one.

    A comma-joined label (VisA: "chunk of wax missing,different colour spot") is known when every
    part is; it maps to a term only when all parts map to the same one, else to None."""
    maps = label_maps()
    chain = [maps[slug] for slug in (dataset, GENERIC) if slug in maps]
    parts = [fold(part.strip()) for part in label.split(",") if part.strip()] or [fold(label.strip())]
    slugs = set()
    for part in parts:
        label_map = next((m for m in chain if part in m.labels), None)
        if label_map is None:
            return False, None
        slugs.add(label_map.labels[part])
    return True, slugs.pop() if len(slugs) == 1 else None
