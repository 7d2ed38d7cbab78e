"""The visibility rule in the Django admin: every changelist, change page, filter, autocomplete,
inline and action of a model whose rows come from a source shows only what the signed-in person
may see (catalog.selectors), exactly as the API and the review pages do.

A ModelAdmin of such a model inherits `SourceVisibilityAdmin` and names the path from its rows to
their source. A test walks the admin registry and fails for any model that reaches a source but
whose admin does not say how (tests/access/test_access_matrix.py)."""

from django.contrib import admin
from django.db.models import QuerySet

from base.ids import parse_id

from .models import Sample, Source
from .selectors import samples_visible_to, sources_visible_to, visible_to, without_hidden


class VisibleSourceFilter(admin.SimpleListFilter):
    """Filter by source, offering only the sources the person may see (a plain `list_filter =
    ("source",)` would list every source's name)."""

    title = "source"
    parameter_name = "source"
    source_path = "source_id"

    def lookups(self, request, model_admin):
        return [(source.pk, source.name) for source in sources_visible_to(request.user).only("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if parse_id(value) is None:
            return queryset.none()
        return queryset.filter(**{self.source_path: parse_id(value)})


def source_filter(path: str) -> type[VisibleSourceFilter]:
    """A VisibleSourceFilter for rows that reach their source through `path`."""
    return type(f"VisibleSourceFilter_{path}", (VisibleSourceFilter,), {"source_path": path})


class SourceVisibilityAdmin(admin.ModelAdmin):
    """source_path: from a row to its source id ("source_id", "sample__source_id", ...).
    sources_path: instead, for rows made of several sources' data (a dataset version's "sources"),
    which one hidden source hides whole."""

    source_path: str | None = None
    sources_path: str | None = None

    def get_queryset(self, request) -> QuerySet:
        return restrict_to_visible(super().get_queryset(request), request.user, self)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        restrict_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        restrict_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def restrict_to_visible(queryset: QuerySet, user, model_admin) -> QuerySet:
    if model_admin.sources_path:
        return without_hidden(queryset, user, model_admin.sources_path)
    if model_admin.source_path:
        return visible_to(queryset, user, model_admin.source_path)
    raise TypeError(f"{type(model_admin).__name__} names neither source_path nor sources_path")


def restrict_choices(db_field, request, kwargs) -> None:
    """A form's choice of sources or samples offers only visible ones."""
    if db_field.related_model is Source:
        kwargs.setdefault("queryset", sources_visible_to(request.user))
    elif db_field.related_model is Sample:
        kwargs.setdefault("queryset", samples_visible_to(request.user))


class SourceVisibilityInline(admin.TabularInline):
    """An inline of rows that reach a source: shows only visible ones (see SourceVisibilityAdmin)."""

    source_path: str | None = None
    sources_path: str | None = None

    def get_queryset(self, request) -> QuerySet:
        return restrict_to_visible(super().get_queryset(request), request.user, self)
