"""Django set up for a benchmark: the test settings, a throw-away database and media folder."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def benchmark_database():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    with tempfile.TemporaryDirectory(prefix="imdd-bench-") as media:
        settings.MEDIA_ROOT = media
        old_name = connection.settings_dict["NAME"]
        test_name = connection.settings_dict.get("TEST", {}).get("NAME")
        bench_file = None
        if connection.vendor == "sqlite" and test_name:
            # Not the test suite's file: a suite run in the same checkout would drop it under the benchmark.
            bench_file = Path(test_name.removesuffix(".sqlite3") + f"-bench-{os.getpid()}.sqlite3")
            connection.settings_dict["TEST"]["NAME"] = str(bench_file)
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            yield media
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
            if bench_file is not None:  # the broker folders the test settings made for worker processes
                for folder in bench_file.parent.glob(f"{bench_file.stem}-test-celery*"):
                    shutil.rmtree(folder, ignore_errors=True)
