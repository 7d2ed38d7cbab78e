"""The annotation template: each field takes terms of one vocabulary facet."""

from dataclasses import dataclass

from vocabulary.models import Facet


@dataclass(frozen=True)
class TemplateField:
    name: str
    facet: str
    multiple: bool  # several terms (a part may show several defects, materials, locations)
    required: bool  # must be filled at submit and approve


TEMPLATE_FIELDS: tuple[TemplateField, ...] = (
    TemplateField("product", Facet.PRODUCT, multiple=False, required=True),
    TemplateField("materials", Facet.MATERIAL, multiple=True, required=False),
    # Empty on a defect-free ("good") sample, which is why it is not required.
    TemplateField("defect_types", Facet.DEFECT_TYPE, multiple=True, required=False),
    TemplateField("locations", Facet.LOCATION, multiple=True, required=False),
    TemplateField("morphology", Facet.MORPHOLOGY, multiple=True, required=False),
    TemplateField("root_causes", Facet.ROOT_CAUSE, multiple=True, required=False),
)
TEMPLATE = {field.name: field for field in TEMPLATE_FIELDS}
TEMPLATE_FIELD_CHOICES = [(field.name, field.name.replace("_", " ")) for field in TEMPLATE_FIELDS]
