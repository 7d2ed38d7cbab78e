from celery import Celery

from config.entry_points import require_settings_module

require_settings_module()

app = Celery("imdd")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
