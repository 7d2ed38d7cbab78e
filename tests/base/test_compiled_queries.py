"""A query compiled once with Params gives what the queryset gives for each call's values."""

import pytest
from django.db.models import CharField, IntegerField, Q

from base.compiled_queries import CompiledQuery, Param, compiled_once
from catalog.models import Source

pytestmark = pytest.mark.django_db


def test_a_compiled_query_runs_with_each_calls_values(make_user):
    public = Source.objects.create(name="public line")
    partner = Source.objects.create(name="partner line", visibility="restricted")
    member, outsider = make_user(), make_user()
    partner.members.add(member)

    def visible(name_prefix, person):
        return Source.objects.filter(Q(visibility="public") | Q(members=person), name__startswith=name_prefix).order_by(
            "name"
        )

    compiled = CompiledQuery(visible(Param("prefix", CharField()), Param("person", IntegerField())))
    for person in (member, outsider):
        for prefix in ("p", "partner", "public", "x"):
            expected = list(visible(prefix, person))
            assert compiled.run(prefix=prefix, person=person.pk) == expected
    assert [s.pk for s in compiled.run(prefix="p", person=member.pk)] == [partner.pk, public.pk]


def test_values_are_prepared_as_their_field_prepares_them():
    from datetime import timedelta

    from django.db.models import DateTimeField
    from django.utils import timezone

    made = Source.objects.create(name="line")
    compiled = CompiledQuery(Source.objects.filter(created_at__lt=Param("before", DateTimeField())))
    assert compiled.run(before=made.created_at + timedelta(seconds=1)) == [made]
    assert compiled.run(before=made.created_at - timedelta(seconds=1)) == []
    assert compiled.run(before=timezone.now() + timedelta(days=1)) == [made]


def test_a_compiled_query_refuses_missing_or_unknown_values():
    compiled = CompiledQuery(Source.objects.filter(name=Param("name", CharField())))
    with pytest.raises(TypeError, match="name"):
        compiled.run()
    with pytest.raises(TypeError, match="name"):
        compiled.run(name="a", other=1)


def test_rows_of_a_values_list_query():
    Source.objects.create(name="alpha")
    Source.objects.create(name="beta", visibility="restricted")
    compiled = CompiledQuery(
        Source.objects.filter(visibility=Param("visibility", CharField())).values_list("name", "visibility")
    )
    assert compiled.rows(visibility="restricted") == [("beta", "restricted")]
    assert compiled.rows(visibility="nobody") == []


def _source_by_name(*, prefix: bool):
    built.append(prefix)
    lookup = "name__startswith" if prefix else "name"
    return Source.objects.filter(**{lookup: Param("name", CharField())})


built: list[bool] = []


def test_a_query_is_compiled_once_per_shape():
    built.clear()
    Source.objects.create(name="alpha")
    first = compiled_once(_source_by_name, prefix=True)
    again = compiled_once(_source_by_name, prefix=True)
    exact = compiled_once(_source_by_name, prefix=False)
    assert first is again and exact is not first
    assert built == [True, False]
    assert [s.name for s in first.run(name="al")] == ["alpha"]
    assert exact.run(name="al") == []


def test_a_builder_that_closes_over_a_value_is_refused(make_user):
    """A closure could bake the first caller (a member, say) into SQL served to everyone."""
    member = make_user()

    def visible_to_member():
        return Source.objects.filter(members=member)

    with pytest.raises(TypeError, match="module-level function"):
        compiled_once(visible_to_member)
    with pytest.raises(TypeError, match="module-level function"):
        compiled_once(lambda: Source.objects.all())
