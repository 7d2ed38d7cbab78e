from django.conf import settings
from django.db import models


class Facet(models.TextChoices):
    """The annotation template's fields; each term belongs to exactly one."""

    DOMAIN = "domain", "Domain"
    PRODUCT = "product", "Product"  # parent: a domain
    MATERIAL = "material", "Material"
    DEFECT_CATEGORY = "defect_category", "Defect category"  # the ~14 super-categories
    DEFECT_TYPE = "defect_type", "Defect type"  # parent: a defect category
    LOCATION = "location", "Location"
    MORPHOLOGY = "morphology", "Morphology"
    ROOT_CAUSE = "root_cause", "Root cause"


# Facets whose terms hang under a term of another facet; the others may nest within themselves.
PARENT_FACET = {Facet.PRODUCT: Facet.DOMAIN, Facet.DEFECT_TYPE: Facet.DEFECT_CATEGORY}

LANGUAGES = ("en", "zh", "ja")


class TermStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"  # suggested by a curator, not yet usable in annotations
    APPROVED = "approved", "Approved"  # in use
    DEPRECATED = "deprecated", "Deprecated"  # kept for old annotations; replaced_by says what to use


class Term(models.Model):
    slug = models.SlugField(max_length=100, unique=True, help_text="Stable id, e.g. def-scratch.")
    facet = models.CharField(max_length=20, choices=Facet.choices, db_index=True)
    status = models.CharField(max_length=20, choices=TermStatus.choices, default=TermStatus.PROPOSED)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces")
    label_en = models.CharField("English label", max_length=200)
    label_zh = models.CharField("Chinese label", max_length=200)
    label_ja = models.CharField("Japanese label", max_length=200)
    definition = models.TextField(help_text="One English sentence.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["facet", "label_en"]

    def __str__(self):
        return f"{self.label_en} ({self.facet})"

    def label(self, language: str) -> str:
        return getattr(self, f"label_{language}")


class TermName(models.Model):
    """Every label and alias of a term, one row per language and text: what the normalizer
    matches and autocomplete searches."""

    term = models.ForeignKey(Term, on_delete=models.CASCADE, related_name="names")
    language = models.CharField(max_length=5)
    text = models.CharField(max_length=200)
    # Folded (text.fold_key), for term search; the same folding the normalizer applies.
    normalized = models.CharField(max_length=200)
    is_label = models.BooleanField(default=False)
    # An ambiguous alias counts only with context: the slugs of the terms that support it (a
    # domain, product, material or neighbouring term); [] = only a caller's facet hint. Null for
    # every ordinary name.
    context = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["term", "language", "-is_label", "id"]
        constraints = [models.UniqueConstraint(fields=["term", "language", "text"], name="term_name_unique")]
        indexes = [
            models.Index(fields=["normalized"], name="term_name_prefix", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self):
        return f"{self.text} [{self.language}]"


class VocabularyVersion(models.Model):
    """An immutable release: the approved and deprecated terms as they were, frozen as JSON in
    the vocabulary file format, so a version reads the same forever whatever happens to Term."""

    number = models.PositiveIntegerField(unique=True)
    note = models.TextField(blank=True)
    terms = models.JSONField(help_text="The released terms, in the vocabulary JSON format.")
    term_count = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self):
        return f"vocabulary v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None and VocabularyVersion.objects.filter(pk=self.pk).exists():
            raise ValueError(f"vocabulary version {self.number} is released and cannot change")
        super().save(*args, **kwargs)
