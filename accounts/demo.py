from .models import User
from .roles import Role
from .services import user_assign_role


def demo_users_ensure() -> list[tuple[str, str, str]]:
    """One user per role with a known password, for `make run`. Re-running resets the passwords
    and changes nothing else. Returns (username, password, role) per user."""
    credentials = []
    for role in Role:
        username = f"demo_{role.value}"
        password = f"{role.value}-demo"
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.set_password(password)
        user.is_superuser = role == Role.ADMIN
        user.save()
        user_assign_role(user=user, role=role)
        credentials.append((username, password, role.value))
    return credentials
