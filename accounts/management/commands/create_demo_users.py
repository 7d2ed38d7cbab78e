from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import demo_users_ensure


class Command(BaseCommand):
    help = "Create one demo user per role (local development only) and print the credentials."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo users have known passwords: refused outside DEBUG")
        for username, password, role in demo_users_ensure():
            self.stdout.write(f"  {role:<13} user {username:<20} password {password}")
