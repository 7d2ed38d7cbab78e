from django.contrib.auth.models import Group, Permission

from .models import User
from .roles import ROLE_PERMISSIONS, STAFF_ROLES, Role


def role_groups_sync() -> None:
    """Create the role groups and give each exactly the permissions of ROLE_PERMISSIONS.

    Permissions that do not exist yet (an app not migrated so far) are left out; the next
    migrate adds them.
    """
    every_permission = {
        f"{p.content_type.app_label}.{p.codename}": p for p in Permission.objects.select_related("content_type")
    }
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if names == ["*"]:
            wanted = list(every_permission.values())
        else:
            wanted = [every_permission[name] for name in names if name in every_permission]
        group.permissions.set(wanted)


def user_assign_role(*, user: User, role: Role) -> None:
    """Put the user in the role's group; staff roles may use the admin."""
    user.groups.add(Group.objects.get(name=role))
    if role in STAFF_ROLES and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
