import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.models import User
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_every_role_is_a_group():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def test_data_managers_may_import_and_annotators_may_only_read(make_user):
    manager = make_user(Role.DATA_MANAGER)
    annotator = make_user(Role.ANNOTATOR)

    assert manager.has_perm("catalog.add_importjob") and manager.is_staff
    assert annotator.has_perm("catalog.view_sample")
    assert not annotator.has_perm("catalog.add_importjob") and not annotator.is_staff


def test_only_admins_see_every_restricted_source(make_user):
    assert make_user(Role.ADMIN).has_perm("catalog.view_all_restricted")
    assert not make_user(Role.DATA_MANAGER).has_perm("catalog.view_all_restricted")


def test_demo_users_are_one_per_role_and_rerunning_changes_nothing(settings, capsys):
    settings.DEBUG = True
    call_command("create_demo_users")
    call_command("create_demo_users")

    printed = capsys.readouterr().out
    assert User.objects.filter(username__startswith="demo_").count() == len(Role)
    for role in Role:
        user = User.objects.get(username=f"demo_{role.value}")
        assert user.has_role(role) and user.check_password(f"{role.value}-demo")
        assert f"demo_{role.value}" in printed


def test_demo_users_are_refused_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(Exception, match="refused outside DEBUG"):
        call_command("create_demo_users")
