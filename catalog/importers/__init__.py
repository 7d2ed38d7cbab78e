"""Importers, one class per source layout, behind one registry.

    importer = get_importer("mvtec")(root)
    for item in importer.discover(): ...

Importers only *find* items (image path, region specs, labels); decoding, hashing and storing are
the same for all of them and live in catalog.ingest.
"""

from . import coco, folder, magnetic_tile, mvtec, neu_det, visa  # noqa: F401  (they register themselves)
from .base import IMPORTERS, Importer, ImportItem, RegionSpec, get_importer

__all__ = ["IMPORTERS", "ImportItem", "Importer", "RegionSpec", "get_importer"]
