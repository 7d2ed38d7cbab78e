from fnmatch import fnmatch

from celery import Celery

from config.entry_points import require_settings_module

require_settings_module()

app = Celery("imdd")
app.config_from_object("django.conf:settings", namespace="CELERY")


class QueueTimeLimits:
    """Celery task annotation: each task gets its queue's hard time limit (CELERY_QUEUE_TIME_LIMITS),
    unless the task declares its own (the train queue's supervisor does)."""

    def annotate(self, task):
        if task.time_limit is not None:  # Celery's own task_time_limit is left unset for this
            return None
        limits = app.conf.queue_time_limits
        return {"time_limit": limits.get(queue_of(task.name), limits["*"])}

    def annotate_any(self):
        return None


def queue_of(task_name: str) -> str:
    """The queue CELERY_TASK_ROUTES sends a task to (the first matching pattern, as Celery routes)."""
    for pattern, route in (app.conf.task_routes or {}).items():
        if fnmatch(task_name, pattern):
            return route["queue"]
    return app.conf.task_default_queue


app.conf.task_annotations = (QueueTimeLimits(),)
app.autodiscover_tasks()
