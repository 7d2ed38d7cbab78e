import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a Celery worker together in the foreground; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        queues = ",".join(settings.CELERY_WORKER_QUEUES)
        commands = [
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "--concurrency",
                "1",
                "--beat",  # the stale-job sweep and the lease release (CELERY_BEAT_SCHEDULE)
                "--loglevel",
                "INFO",
            ],
            [sys.executable, "manage.py", "runserver", options["addrport"]],
        ]
        processes = [subprocess.Popen(command) for command in commands]
        self.stdout.write(
            f"review pages: http://{options['addrport']}/  admin: http://{options['addrport']}/admin/  "
            f"API docs: http://{options['addrport']}/api/docs/"
        )

        def stop(*_):
            for process in processes:
                if process.poll() is None:
                    process.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            # When either exits (a crash, or Ctrl-C reaching both), stop the other too.
            while all(process.poll() is None for process in processes):
                try:
                    processes[0].wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
