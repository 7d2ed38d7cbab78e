"""The heavy fixtures are restored from a snapshot (tests/prebuilt.py): what a test gets must be what
building the fixture in that test makes (rows, what their keys point to, files), and rows made after a
restore must still get fresh keys (PostgreSQL's sequences, SQLite's counters)."""

import hashlib
from pathlib import Path

import pytest
from django.apps import apps
from django.db import models

from catalog.models import Sample, Source
from vocabulary.models import Term

from .. import prebuilt
from .conftest import build_verified_dataset

pytestmark = pytest.mark.django_db

# Plain integer fields that hold another table's key (on PostgreSQL the fresh build's keys differ).
KEYS_IN_PLAIN_FIELDS = {("captioning.CaptionJob", "cursor"): "catalog.Sample"}


def describe(added: dict, media: Path) -> dict:
    """Every added row with its key replaced by its rank in its table and each foreign key by its
    target's rank; timestamps left out (they say when it was built). The media files by content."""
    ranks = {}
    for model, rows in added.items():
        pk_index = model._meta.local_concrete_fields.index(model._meta.pk)
        ranks[model] = {row[pk_index]: rank for rank, row in enumerate(sorted(rows, key=lambda row: row[pk_index]))}
    description = {}
    for model, rows in added.items():
        described = []
        for row in rows:
            values = []
            for field, value in zip(model._meta.local_concrete_fields, row, strict=True):
                if isinstance(field, models.DateTimeField | models.DateField):
                    continue
                if field.primary_key and model in ranks:
                    value = ("rank", ranks[model][value])
                elif isinstance(field, models.ForeignKey) and field.related_model in ranks:
                    value = ("rank", ranks[field.related_model].get(value, value))
                elif (model._meta.label, field.name) in KEYS_IN_PLAIN_FIELDS:
                    target = apps.get_model(KEYS_IN_PLAIN_FIELDS[model._meta.label, field.name])
                    value = ("rank", ranks.get(target, {}).get(value, value))
                values.append(repr(value))
            described.append(tuple(values))
        description[model._meta.label] = sorted(described)
    files = {
        str(path.relative_to(media)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in media.rglob("*")
        if path.is_file()
    }
    return {"rows": description, "files": files}


@pytest.mark.slow  # a fresh build is exactly what the snapshot saves every other test: 7 s
def test_the_restored_verified_dataset_equals_a_fresh_build(real_data, settings):
    settings.CAPTION_RATE_LIMIT_PER_MINUTE = 0
    before = prebuilt._state()
    fresh = prebuilt.snapshot_build(lambda: build_verified_dataset(real_data))  # rolled back
    assert not Sample.objects.exists()
    assert not fresh.changed and not fresh.deleted

    count = prebuilt.snapshot_restore("verified_dataset", lambda: build_verified_dataset(real_data))

    after = prebuilt._state()
    restored = {
        model: [row for pk, row in rows.items() if pk not in before[model]]
        for model, rows in after.items()
        if any(pk not in before[model] for pk in rows)
    }
    assert count == fresh.result == Sample.objects.count() > 0
    expected = describe(fresh.added, fresh.media)
    assert expected["files"] and "catalog.Sample" in expected["rows"]
    got = describe(restored, Path(settings.MEDIA_ROOT))
    assert got["files"] == expected["files"]
    assert got["rows"].keys() == expected["rows"].keys()
    for table, rows in expected["rows"].items():
        assert got["rows"][table] == rows, table


def test_rows_made_after_a_restore_get_fresh_keys(verified_dataset):
    restored_sources = set(Source.objects.values_list("pk", flat=True))
    restored_terms = set(Term.objects.values_list("pk", flat=True))

    source = Source.objects.create(name="made after the restore")
    term = Term.objects.create(slug="made-after-the-restore", facet=Term.objects.first().facet, label_en="new")

    assert source.pk > max(restored_sources)
    assert term.pk > max(restored_terms)
