"""Heavy data fixtures built once per session and restored per test.

`snapshot_restore(name, build)` runs `build()` the first time a test asks for `name`, inside a
savepoint, with MEDIA_ROOT pointed at a folder of its own; it records every row the build added,
changed or deleted (all tables, auto-created many-to-many tables included) and the files it wrote,
then rolls the savepoint back and restores the recorded state. Every later test gets the rows back by
bulk inserts and the files by a copy into its own MEDIA_ROOT: a fraction of a real import of the MVTec
subset and of loading the ~800 vocabulary terms.

The restored rows keep the primary keys of the build. On PostgreSQL a rolled-back build still advanced
the sequences, so no later row takes those keys; the sequences are then moved past the restored keys
(never back: rows committed by session fixtures may lie above them). On SQLite the rollback returns the
keys to the pool; if a row committed since then holds one of them, the fixture is built afresh instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.test import override_settings


@dataclass
class Snapshot:
    added: dict[type[models.Model], list[tuple]] = field(default_factory=dict)
    changed: dict[type[models.Model], list[tuple]] = field(default_factory=dict)
    deleted: dict[type[models.Model], list[Any]] = field(default_factory=dict)
    media: Path | None = None
    result: Any = None  # what build() returned; a model instance is kept as (model, pk)


_snapshots: dict[str, Snapshot] = {}
_media_parent: Path | None = None


def _tables() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model._meta.db_table
    ]


def _columns(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.local_concrete_fields]


def _rows(model: type[models.Model]) -> dict[Any, tuple]:
    columns = _columns(model)
    pk_index = columns.index(model._meta.pk.attname)
    return {row[pk_index]: row for row in model._base_manager.values_list(*columns)}


def _state() -> dict[type[models.Model], dict[Any, tuple]]:
    return {model: _rows(model) for model in _tables()}


def snapshot_build(build) -> Snapshot:
    """Runs build() in a savepoint that is rolled back; returns what it added, changed and deleted."""
    global _media_parent
    if _media_parent is None:
        _media_parent = Path(tempfile.mkdtemp(prefix="imdd-prebuilt-"))
    media = Path(tempfile.mkdtemp(dir=_media_parent))
    snapshot = Snapshot(media=media)
    with transaction.atomic():
        before = _state()
        with override_settings(MEDIA_ROOT=media):
            result = build()
        after = _state()
        if isinstance(result, models.Model):
            result = (type(result), result.pk)
        snapshot.result = result
        for model, rows in after.items():
            old = before[model]
            added = [row for pk, row in rows.items() if pk not in old]
            changed = [row for pk, row in rows.items() if pk in old and old[pk] != row]
            deleted = [pk for pk in old if pk not in rows]
            for bucket, values in (
                (snapshot.added, added),
                (snapshot.changed, changed),
                (snapshot.deleted, deleted),
            ):
                if values:
                    bucket[model] = values
        transaction.set_rollback(True)
    return snapshot


def _collides(snapshot: Snapshot) -> bool:
    for model, rows in snapshot.added.items():
        pk_index = _columns(model).index(model._meta.pk.attname)
        keys = [row[pk_index] for row in rows]
        manager = model._base_manager
        if all(isinstance(key, int) for key in keys):
            if manager.filter(pk__gte=min(keys), pk__lte=max(keys)).exists():
                return True
        elif any(manager.filter(pk__in=keys[i : i + 500]).exists() for i in range(0, len(keys), 500)):
            return True
    return False


def _advance_sequences(tables: list[type[models.Model]]) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT counter already follows the largest key inserted
    with connection.cursor() as cursor:
        for model in tables:
            pk = model._meta.pk
            if not isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField):
                continue
            table, column = model._meta.db_table, pk.column
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [connection.ops.quote_name(table), column])
            (sequence,) = cursor.fetchone()
            if sequence:
                quoted_table, quoted_column = connection.ops.quote_name(table), connection.ops.quote_name(column)
                cursor.execute(
                    f"SELECT setval(%s, GREATEST((SELECT last_value FROM {sequence}),"
                    f" (SELECT COALESCE(MAX({quoted_column}), 1) FROM {quoted_table})))",
                    [sequence],
                )


def _apply(snapshot: Snapshot) -> None:
    # The vocabulary's matcher is cached per process under a stamp of the terms' updated_at; restored
    # terms carry the build's timestamps, so a test could otherwise meet another test's cached matcher.
    from vocabulary import selectors

    selectors._cache.clear()
    with transaction.atomic():  # the foreign keys are checked at the end: insertion order does not matter
        for model, keys in snapshot.deleted.items():
            model._base_manager.filter(pk__in=keys).delete()
        for model, rows in snapshot.changed.items():
            columns = _columns(model)
            for row in rows:
                values = dict(zip(columns, row, strict=True))
                model._base_manager.filter(pk=values.pop(model._meta.pk.attname)).update(**values)
        for model, rows in snapshot.added.items():
            columns = _columns(model)
            model._base_manager.bulk_create(
                [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=500
            )
        _advance_sequences(list(snapshot.added))
    if snapshot.media is not None and any(snapshot.media.iterdir()):
        # Hard links where the file system allows: storage writes new files and deletes by unlinking, so
        # a test cannot change the snapshot's copy through its own.
        shutil.copytree(snapshot.media, Path(settings.MEDIA_ROOT), dirs_exist_ok=True, copy_function=_link_or_copy)


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _result(snapshot: Snapshot):
    if isinstance(snapshot.result, tuple) and len(snapshot.result) == 2 and isinstance(snapshot.result[0], type):
        model, pk = snapshot.result
        return model._base_manager.get(pk=pk)
    return snapshot.result


def snapshot_restore(name: str, build):
    """The state `build()` makes, restored from the session's snapshot `name` (built on first use).
    Returns what build() returned (a model instance is fetched again)."""
    snapshot = _snapshots.get(name)
    if snapshot is None:
        snapshot = _snapshots[name] = snapshot_build(build)
    if _collides(snapshot):
        return build()
    _apply(snapshot)
    return _result(snapshot)
