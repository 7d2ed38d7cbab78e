from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # The review pages speak the user's language whatever the browser says.
    preferred_language = models.CharField(max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE)

    def has_role(self, role: str) -> bool:
        if self.is_superuser:
            return True
        return self.groups.filter(name=role).exists()
