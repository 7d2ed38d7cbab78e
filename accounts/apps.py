from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_role_groups(sender, **kwargs):
    from .services import role_groups_sync

    role_groups_sync()


class AccountsConfig(AppConfig):
    name = "accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        # After every migrate (and every test-database flush) the role groups match roles.py.
        post_migrate.connect(_sync_role_groups, dispatch_uid="accounts.sync_role_groups")
