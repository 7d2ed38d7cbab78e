"""Queries that Django builds and compiles once and the database runs many times, with new values.

Building a queryset with subqueries and compiling it to SQL costs Django a few milliseconds of
Python; the database plans and runs such a query in well under one. On a hot path whose query
keeps its shape from call to call (the same filters, other values), build it once with a `Param`
wherever a value changes, keep the compiled SQL (`CompiledQuery`), and run that with each call's
values. The shape must be the cache key: anything that changes the SQL itself (which filters are
present, a setting written into it) belongs in the key, never in a Param.
"""

from collections.abc import Callable

from django.db import connections
from django.db.models import Field, QuerySet, Value


class Param(Value):
    """A value left open in a compiled query: compiles to a placeholder filled at each run."""

    def __init__(self, name: str, output_field: Field):
        super().__init__(None, output_field=output_field)
        self.name = name

    def as_sql(self, compiler, connection):
        return "%s", [self]

    def __repr__(self) -> str:
        return f"Param({self.name!r})"


class CompiledQuery:
    """The SQL of a queryset built with Params: run(**values) returns its model instances; for a
    values_list() queryset, rows(**values) returns its rows as the driver gives them (Django's
    converters are not applied, so keep such queries to text and integer columns)."""

    def __init__(self, queryset: QuerySet):
        self._manager = queryset.model._default_manager.db_manager(queryset.db)
        self._alias = queryset.db  # each thread has its own connection: looked up at every run
        self.sql, self.params = queryset.query.get_compiler(queryset.db).as_sql()
        self.param_names = {param.name for param in self.params if isinstance(param, Param)}

    def run(self, **values) -> list:
        return list(self._manager.raw(self.sql, self._params(values)))

    def rows(self, **values) -> list[tuple]:
        with connections[self._alias].cursor() as cursor:
            cursor.execute(self.sql, self._params(values))
            return cursor.fetchall()

    def _params(self, values: dict) -> list:
        if values.keys() != self.param_names:
            raise TypeError(f"the query takes the values {sorted(self.param_names)}, got {sorted(values)}")
        connection = connections[self._alias]
        return [
            # as Django prepares a value of that field for the database (a datetime for SQLite, say)
            param.output_field.get_db_prep_value(values[param.name], connection) if isinstance(param, Param) else param
            for param in self.params
        ]


_compiled: dict[tuple, CompiledQuery] = {}


def compiled_once(shape: tuple, build: Callable[[], QuerySet]) -> CompiledQuery:
    """The query of this shape on the default database, built by `build()` and compiled the first
    time it is asked for. `shape` names the query and everything that changes its SQL."""
    query = _compiled.get(shape)
    if query is None:
        query = _compiled[shape] = CompiledQuery(build())
    return query
