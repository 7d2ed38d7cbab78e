from dataclasses import dataclass, field

LANGUAGES = ("en", "zh", "ja")


@dataclass(frozen=True)
class TermText:
    """A vocabulary term as a captioner sees it: its slug and its label per language."""

    slug: str
    labels: dict[str, str]

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels["en"]


@dataclass(frozen=True)
class RegionInfo:
    term: TermText | None  # the region's defect type, when known
    bbox: tuple[float, float, float, float]  # x, y, w, h in pixels
    area: float  # mask pixels (or box area)


@dataclass
class CaptionInputs:
    """What a caption may say: the template fields (facet -> terms), the regions and the image."""

    fields: dict[str, list[TermText]]
    regions: list[RegionInfo]
    width: int
    height: int
    source_text: str = ""
    source_language: str = ""
    image_bytes: bytes | None = None
    image_format: str = "png"

    def terms(self, facet: str) -> list[TermText]:
        return self.fields.get(facet, [])


@dataclass
class CaptionResult:
    captions: dict[str, str]
    generator: str  # "template" or the model's name
    prompt_version: str
    terms_used: list[str] = field(default_factory=list)
    # Fields the captioner proposes (the LLM reading web-mined text): facet -> slugs.
    proposed_fields: dict[str, list[str]] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)  # prompt_tokens, completion_tokens, total_tokens
    settings: dict = field(default_factory=dict)


class CaptionError(Exception):
    """A caption could not be drafted; the message is recorded per sample. `retryable` says
    whether running the job again may succeed (endpoint down) or not (a reply that breaks rules)."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable
