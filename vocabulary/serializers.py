from rest_framework import serializers

from base.strict_input import InputSerializer

from .models import LANGUAGES, Facet, Term, VocabularyVersion


class TermSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    replaced_by = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    labels = serializers.SerializerMethodField()

    class Meta:
        model = Term
        fields = ["id", "slug", "facet", "status", "parent", "replaced_by", "labels", "definition"]

    def get_labels(self, term) -> dict[str, str]:
        return {language: term.label(language) for language in LANGUAGES}


class TermDetailSerializer(TermSerializer):
    aliases = serializers.SerializerMethodField()
    children = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta(TermSerializer.Meta):
        fields = TermSerializer.Meta.fields + ["aliases", "children", "created_at", "updated_at"]

    def get_aliases(self, term) -> dict[str, list[str]]:
        names = list(term.names.all())
        return {
            language: [n.text for n in names if n.language == language and not n.is_label] for language in LANGUAGES
        }


class TermProposeSerializer(InputSerializer):
    slug = serializers.SlugField(max_length=100)
    facet = serializers.ChoiceField(choices=Facet.choices)
    parent = serializers.CharField(required=False, allow_blank=True, default="")
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    aliases = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, default=dict
    )
    definition = serializers.CharField()


class DeprecateSerializer(InputSerializer):
    replacement = serializers.SlugField(help_text="Slug of the approved term to use instead.")


class VersionSerializer(serializers.ModelSerializer):
    created_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = VocabularyVersion
        fields = ["number", "note", "term_count", "created_by", "created_at"]


class VersionDetailSerializer(VersionSerializer):
    class Meta(VersionSerializer.Meta):
        fields = VersionSerializer.Meta.fields + ["terms"]


class ReleaseSerializer(InputSerializer):
    note = serializers.CharField(allow_blank=True, default="")


class NormalizeSerializer(InputSerializer):
    text = serializers.CharField(allow_blank=True, max_length=20000)
    facets = serializers.ListField(child=serializers.ChoiceField(choices=Facet.choices), required=False)
    facet_hint = serializers.ChoiceField(
        choices=Facet.choices,
        required=False,
        help_text="The facet the text is known to name (e.g. a defect-type field): supports ambiguous aliases.",
    )
    context = serializers.ListField(
        child=serializers.SlugField(max_length=100),
        required=False,
        default=list,
        max_length=20,
        help_text="Slugs of terms the text is about (the sample's domain, product): support ambiguous aliases.",
    )
    languages = serializers.ListField(
        child=serializers.ChoiceField(choices=LANGUAGES),
        required=False,
        allow_empty=False,
        help_text="Read the text with the names of these languages only (a Japanese text: ja and en), as "
        "captions are read; default every language, so a Japanese 線路 may also report the Chinese 线路.",
    )


class ValidateCaptionsSerializer(InputSerializer):
    captions = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=100000),
        help_text='One caption per language, e.g. {"en": "...", "zh": "...", "ja": "..."}',
    )
    defect_types = serializers.ListField(
        child=serializers.SlugField(max_length=100),
        required=False,
        max_length=100,
        help_text="The annotation's defect-type slugs: a caption naming another is an error.",
    )
    required_languages = serializers.ListField(
        child=serializers.ChoiceField(choices=LANGUAGES),
        required=False,
        help_text="Languages that must have a caption (default: the platform's required languages).",
    )
    context = serializers.ListField(
        child=serializers.SlugField(max_length=100), required=False, default=list, max_length=20
    )

    def validate_captions(self, captions):
        unknown = sorted(set(captions) - set(LANGUAGES))
        if unknown:
            raise serializers.ValidationError(f"unknown language(s) {', '.join(unknown)}; use {', '.join(LANGUAGES)}")
        if not captions:
            raise serializers.ValidationError("give at least one caption")
        return captions
