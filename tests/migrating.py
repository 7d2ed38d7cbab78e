"""Migration tests move the test database's schema back and forth; these helpers are shared by them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader


def migrate_to(targets):
    """Migrate to `targets` ([(app, migration)]); returns the historical apps of the schema reached."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    # The models as the database now is: every migration still applied, other apps' newer ones
    # included (e.g. a NOT NULL column a historical model must fill), not only the targets'.
    loader = MigrationLoader(connection)
    return loader.project_state(list(loader.applied_migrations)).apps


@pytest.fixture
def latest_schema_afterwards():
    # A failure half-way must not leave the test database at an old schema for every later test.
    yield
    migrate_to(MigrationExecutor(connection).loader.graph.leaf_nodes())
