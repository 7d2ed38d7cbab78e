"""Queries that Django builds and compiles once and the database runs many times, with new values.

Building a queryset with subqueries and compiling it to SQL costs Django a few milliseconds of
Python; the database plans and runs such a query in well under one. On a hot path whose query
keeps its shape from call to call (the same filters, other values), build it once with a `Param`
wherever a value changes, keep the compiled SQL (`CompiledQuery`), and run that with each call's
values. `compiled_once(build, **shape)` keeps one per shape: anything that changes the SQL itself
(which filters are present, a setting written into it) belongs in the shape, never in a Param,
and `build` sees nothing but the shape.
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


_compiled: dict[tuple, tuple[Callable[..., QuerySet], dict, CompiledQuery]] = {}


def compiled_once(build: Callable[..., QuerySet], **shape) -> CompiledQuery:
    """The query `build(**shape)` on the default database, compiled the first time this shape is
    asked for and kept for the life of the process.

    `build` must be a module-level function of the shape alone. A closure (over the user who asked
    first, say) could bake one person's particulars into SQL that is then served to everyone of the
    same shape; a function of the shape builds the same SQL whoever calls it, which the test of
    every compiled shape checks (`compiled_shapes`). Whatever changes the SQL — which filters are
    present, whether a visibility test applies, a setting written into the query — is a keyword of
    the shape; a value that only changes per call is a Param."""
    if build.__closure__ or "<" in build.__qualname__:
        raise TypeError(f"{build.__qualname__} must be a module-level function of its shape, not a closure or lambda")
    key = (build.__module__, build.__qualname__, tuple(sorted(shape.items())))
    entry = _compiled.get(key)
    if entry is None:
        entry = _compiled[key] = (build, dict(shape), CompiledQuery(build(**shape)))
    return entry[2]


def compiled_shapes() -> list[tuple[Callable[..., QuerySet], dict, CompiledQuery]]:
    """Every (build, shape, compiled query) kept so far: a test rebuilds each to check it still
    compiles to the SQL being served."""
    return list(_compiled.values())
