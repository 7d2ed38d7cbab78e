"""The backend reads a person's permissions in one query and answers as Django's ModelBackend does."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from accounts.backends import PermissionBackend
from accounts.models import User
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def _fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_own_and_group_permissions_are_those_model_backend_reads(make_user):
    annotator = make_user(Role.ANNOTATOR)
    reviewer_with_extra = make_user(Role.REVIEWER)
    reviewer_with_extra.user_permissions.add(Permission.objects.get(codename="view_all_restricted"))
    in_two_groups = make_user(Role.ANNOTATOR)
    in_two_groups.groups.add(Group.objects.get(name=Role.EXPERT))
    nobody = make_user()
    for user in (annotator, reviewer_with_extra, in_two_groups, nobody):
        expected = ModelBackend().get_all_permissions(_fresh(user))
        assert PermissionBackend().get_all_permissions(_fresh(user)) == expected
    assert "catalog.view_all_restricted" in PermissionBackend().get_all_permissions(_fresh(reviewer_with_extra))
    assert PermissionBackend().get_all_permissions(_fresh(nobody)) == set()


def test_inactive_people_have_no_permissions_and_superusers_all(make_user):
    inactive = make_user(Role.ANNOTATOR, is_active=False)
    assert PermissionBackend().get_all_permissions(inactive) == set()
    assert not inactive.has_perm("annotation.view_annotation")
    superuser = make_user(is_superuser=True)
    assert len(PermissionBackend().get_all_permissions(superuser)) == Permission.objects.count()


def test_permissions_are_read_once_per_user_object(make_user, django_assert_num_queries):
    annotator = make_user(Role.ANNOTATOR)
    with django_assert_num_queries(1):
        assert annotator.has_perm("annotation.view_annotation")
        assert not annotator.has_perm("annotation.assign_annotation")
    annotator.groups.clear()
    assert annotator.has_perm("annotation.view_annotation")  # cached on this object, as in Django
    assert not _fresh(annotator).has_perm("annotation.view_annotation")


def test_it_is_the_configured_backend(settings):
    assert settings.AUTHENTICATION_BACKENDS == ["accounts.backends.PermissionBackend"]
