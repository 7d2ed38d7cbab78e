from django.contrib import admin, messages
from django.utils.html import format_html_join

from . import services
from .models import Term, TermName, VocabularyVersion
from .selectors import version_diff


class TermNameInline(admin.TabularInline):
    model = TermName
    fields = ("language", "text", "is_label")
    extra = 1

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("language", "-is_label", "text")


@admin.register(Term)
class TermAdmin(admin.ModelAdmin):
    list_display = ("slug", "facet", "status", "label_en", "label_zh", "label_ja", "parent")
    list_filter = ("facet", "status")
    search_fields = ("slug", "label_en", "label_zh", "label_ja", "names__text")
    autocomplete_fields = ("parent", "replaced_by")
    inlines = [TermNameInline]
    actions = ["approve_selected"]
    list_select_related = ("parent",)

    def save_formset(self, request, form, formset, change):
        # Names typed in the admin get the same folding the normalizer uses.
        from .text import fold_key

        names = formset.save(commit=False)
        for name in names:
            name.normalized = fold_key(name.text)
            name.save()
        for name in formset.deleted_objects:
            name.delete()

    @admin.action(description="Approve the selected proposed terms")
    def approve_selected(self, request, queryset):
        for term in queryset:
            try:
                services.term_approve(term=term)
            except services.TermLifecycleError as error:
                self.message_user(request, str(error), level=messages.ERROR)


@admin.register(VocabularyVersion)
class VocabularyVersionAdmin(admin.ModelAdmin):
    list_display = ("number", "term_count", "note", "created_by", "created_at")
    readonly_fields = ("number", "term_count", "note", "created_by", "created_at", "changes_since_previous")
    exclude = ("terms",)

    def has_add_permission(self, request):
        return False  # released with `vocabulary_release` or POST /api/vocabulary/versions/

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="changes since the previous version")
    def changes_since_previous(self, version):
        previous = VocabularyVersion.objects.filter(number__lt=version.number).order_by("-number").first()
        diff = version_diff(previous.terms if previous else [], version.terms)
        rows = [
            ("added", ", ".join(diff["added"][:50]) + (" …" if len(diff["added"]) > 50 else "")),
            ("changed", ", ".join(c["slug"] for c in diff["changed"][:50])),
            ("deprecated", ", ".join(f"{d['slug']} → {d['replaced_by']}" for d in diff["deprecated"])),
            ("removed", ", ".join(diff["removed"])),
        ]
        return format_html_join("", "<p><b>{}</b>: {}</p>", rows)
