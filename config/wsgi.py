from django.core.wsgi import get_wsgi_application

from config.entry_points import require_settings_module

require_settings_module()
application = get_wsgi_application()
