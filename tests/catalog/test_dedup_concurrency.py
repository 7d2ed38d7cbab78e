"""Two workers importing the same bytes at once, each having looked and found nothing: in one scope
they end with one sample and a duplicate row (the unique constraint decides, catalog/dedup.py); a
restricted source's import racing a public one keeps a copy of its own, and neither learns of the other."""

import threading
import time

import pytest
from django.db import connection

from catalog import ingest, services
from catalog.ingest import import_run
from catalog.models import RowOutcome, Sample, Visibility
from tests.conftest import USING_POSTGRES

from .test_dedup_scopes import folder

pytestmark = [
    pytest.mark.skipif(not USING_POSTGRES, reason="two writers at once need PostgreSQL (CI runs on it)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.mark.parametrize(
    ("first", "second", "samples"),
    [
        (("partner", True), ("partner", True), 1),  # one restricted source's scope
        (("public A", False), ("public B", False), 1),  # the public scope
        (("public A", False), ("partner", True), 2),  # two scopes: each keeps its sample
    ],
    ids=["same-restricted-source", "two-public-sources", "public-and-restricted"],
)
def test_two_workers_storing_one_image_at_once(first, second, samples, tmp_path, monkeypatch):
    jobs = []
    for index, (name, restricted) in enumerate((first, second)):
        source = services.source_for_import(name=name, restricted=restricted)
        root = folder(tmp_path / f"drop{index}", [{"image": "same.png", "seed": 7}])
        jobs.append(
            services.import_job_create(
                format="folder", path=str(root), source=source, created_by=None, restrict_to_import_roots=False
            )
        )
    # Both have looked up the image (and found nothing) before either stores it.
    barrier = threading.Barrier(2, timeout=30)
    real = ingest.dedup_scope_for_writing

    def after_both_looked(source_id):
        barrier.wait()
        return real(source_id)

    monkeypatch.setattr(ingest, "dedup_scope_for_writing", after_both_looked)
    one_by_one = ingest._create_samples_one_by_one
    fell_back = []
    monkeypatch.setattr(ingest, "_create_samples_one_by_one", lambda *args: fell_back.append(1) or one_by_one(*args))
    errors: list[BaseException] = []

    def worker(job):
        try:
            import_run(job=job)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert Sample.objects.count() == samples
    rows = sorted((row.outcome, row.sample_id) for job in jobs for row in job.rows.all())
    if samples == 1:
        [sample] = Sample.objects.all()
        assert rows == [(RowOutcome.DUPLICATE, sample.pk), (RowOutcome.IMPORTED, sample.pk)]
        assert fell_back == [1]  # the second insert met the constraint
    else:
        assert [outcome for outcome, _ in rows] == [RowOutcome.IMPORTED, RowOutcome.IMPORTED]


def test_a_source_made_restricted_while_an_import_stores_its_images_takes_them_along(tmp_path, monkeypatch):
    source = services.source_for_import(name="becomes partner")
    root = folder(tmp_path / "drop", [{"image": "a.png", "seed": 1}, {"image": "b.png", "seed": 2}])
    job = services.import_job_create(
        format="folder", path=str(root), source=source, created_by=None, restrict_to_import_roots=False
    )
    scope_read, change_started = threading.Event(), threading.Event()
    real = ingest.dedup_scope_for_writing

    def then_let_the_change_start(source_id):
        scope = real(source_id)  # the import now holds the source row's lock, and reads "public"
        scope_read.set()
        change_started.wait(30)
        time.sleep(0.5)  # the change is waiting for the lock, not done before the import stores
        return scope

    monkeypatch.setattr(ingest, "dedup_scope_for_writing", then_let_the_change_start)
    errors: list[BaseException] = []

    def importer():
        try:
            import_run(job=job)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def admin():
        try:
            scope_read.wait(30)
            change_started.set()
            services.source_access_set(source=source, by=None, visibility=Visibility.RESTRICTED)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=importer), threading.Thread(target=admin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert list(Sample.objects.values_list("dedup_scope_id", flat=True)) == [source.pk, source.pk]
