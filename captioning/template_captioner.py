"""The offline captioner: fluent captions in English, Chinese and Japanese composed from the
template fields and the regions, using only the vocabulary's labels for controlled terms.

Every controlled term it writes appears in all three languages (the validator's cross-language
check holds by construction), and it words things differently from sample to sample: the sentence
patterns are drawn from a generator seeded with the seed and the inputs, so the same sample and seed
always give the same captions.
"""

import hashlib
import json
import random
from functools import cache

from .inputs import LANGUAGES, CaptionInputs, CaptionResult, RegionInfo, TermText

PROMPT_VERSION = "template-v2"

# Where a region's centre falls in a 3x3 grid of the image -> the vocabulary's location term.
GRID_LOCATIONS = [
    ["loc-upper-left", "loc-top", "loc-upper-right"],
    ["loc-left-side", "loc-center", "loc-right-side"],
    ["loc-lower-left", "loc-bottom", "loc-lower-right"],
]
# Share of the image a region covers -> the vocabulary's size term (None: say nothing about size).
SIZE_TERMS = [(0.005, "morph-tiny"), (0.03, "morph-small"), (0.15, None), (1.01, "morph-large")]
SIZE_SLUGS = {slug for _, slug in SIZE_TERMS if slug} | {"morph-extensive", "morph-localized"}

NUMBERS = {
    "en": {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"},
    "zh": {1: "一", 2: "两", 3: "三", 4: "四", 5: "五"},
    "ja": {1: "1", 2: "2", 3: "3", 4: "4", 5: "5"},
}


class TemplateCaptioner:
    name = "template"
    prompt_version = PROMPT_VERSION

    def __init__(self, *, term_labels: dict[str, TermText], seed: int = 0):
        """term_labels: slug -> TermText for the location and size terms the geometry names."""
        self.term_labels = term_labels
        self.seed = seed

    def caption(self, inputs: CaptionInputs, *, languages: tuple[str, ...] = LANGUAGES) -> CaptionResult:
        plan = self._plan(inputs)
        rng_state = self._rng(inputs)
        captions = {}
        for language in languages:
            rng = random.Random(rng_state)  # the same choices in every language: same structure
            captions[language] = WRITERS[language](plan, rng)
        used = sorted({term.slug for term in plan.all_terms()})
        return CaptionResult(
            captions=captions,
            generator=self.name,
            prompt_version=self.prompt_version,
            terms_used=used,
            settings={"seed": self.seed},
        )

    def _rng(self, inputs: CaptionInputs) -> int:
        digest = hashlib.sha256(
            json.dumps(
                {
                    "seed": self.seed,
                    "fields": {f: [t.slug for t in ts] for f, ts in sorted(inputs.fields.items())},
                    "regions": [[r.term.slug if r.term else None, list(r.bbox)] for r in inputs.regions],
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()
        return int(digest[:16], 16)

    def _plan(self, inputs: CaptionInputs) -> "CaptionPlan":
        defects = list(inputs.terms("defect_type"))
        for region in inputs.regions:  # a region's defect type counts even when the field lacks it
            if region.term and region.term.slug not in {d.slug for d in defects}:
                defects.append(region.term)
        main_region = max(inputs.regions, key=lambda r: r.area, default=None)
        position = size = None
        share = 0.0
        if main_region is not None and inputs.width and inputs.height:
            x, y, w, h = main_region.bbox
            column = min(2, int(3 * (x + w / 2) / inputs.width))
            row = min(2, int(3 * (y + h / 2) / inputs.height))
            position = self.term_labels.get(GRID_LOCATIONS[row][column])
            share = main_region.area / (inputs.width * inputs.height)
            size_slug = next(slug for limit, slug in SIZE_TERMS if share < limit)
            size = self.term_labels.get(size_slug) if size_slug else None
        if size is not None and any(_names_size(defect, size) for defect in defects):
            size = None  # "small breakage" is a size already: "a small small breakage" says it twice
        product = _first(inputs.terms("product"))
        material = _first(inputs.terms("material"))
        if product and material and material.label("en").lower() in product.label("en").lower():
            material = None  # "glass bottle made of glass" says it twice; decided once for all languages
        return CaptionPlan(
            product=product,
            material=material,
            defects=defects,
            locations=inputs.terms("location")[:2],
            # A size word among the shapes beside the plan's size says the size twice ("small large").
            morphology=[m for m in inputs.terms("morphology") if not size or m.slug not in SIZE_SLUGS][:2],
            causes=inputs.terms("root_cause")[:2],
            regions=inputs.regions,
            position=position,
            size=size,
            share=share,
        )


class CaptionPlan:
    """What to say, decided once and written in each language."""

    def __init__(self, *, product, material, defects, locations, morphology, causes, regions, position, size, share):
        self.product: TermText | None = product
        self.material: TermText | None = material
        self.defects: list[TermText] = defects
        self.locations: list[TermText] = locations
        self.morphology: list[TermText] = morphology
        self.causes: list[TermText] = causes
        self.regions: list[RegionInfo] = regions
        self.position: TermText | None = position
        self.size: TermText | None = size
        self.share = share

    def all_terms(self) -> list[TermText]:
        singles = [self.product, self.material, self.position, self.size]
        return [t for t in singles if t] + self.defects + self.locations + self.morphology + self.causes

    @property
    def count(self) -> int:
        return max(1, len(self.regions)) if self.defects else 0

    def share_text(self, language: str, lead: str = "") -> str:
        """The share of the frame in words: "about 3.2 percent", "约占画面的3.2%", "約3.2%"; a
        sliver is "less than 0.1 percent" (never "0.0 percent")."""
        tiny = self.percent.startswith("<")
        if language == "en":
            return "less than 0.1 percent" if tiny else f"{lead} {self.percent} percent"
        if language == "zh":
            return f"{lead}不到0.1%" if tiny else f"约{lead}{self.percent}%"
        return "0.1%未満" if tiny else f"約{self.percent}%"

    @property
    def percent(self) -> str:
        """The share as written; under 0.1 percent it is "<0.1" (never "0.0")."""
        value = self.share * 100
        if value < 0.1:
            return "<0.1"
        return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _first(terms: list[TermText]) -> TermText | None:
    return terms[0] if terms else None


SIZE_WORDS = {"small", "tiny", "large", "big", "micro", "minor", "major"}


def _names_size(defect: TermText, size: TermText) -> bool:
    """Whether the defect's own name carries a size ("large breakage"): then no size is added."""
    return bool(SIZE_WORDS & set(defect.label("en").lower().replace("-", " ").split()))


def _join_en(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _join_zh(words: list[str]) -> str:
    """甲和乙; 甲、乙及丙: a list of three or more takes 、 and 及 before the last."""
    if len(words) <= 2:
        return "和".join(words)
    return "、".join(words[:-1]) + "及" + words[-1]


def _join_ja(words: list[str]) -> str:
    """AとB; A、BおよびC."""
    if len(words) <= 2:
        return "と".join(words)
    return "、".join(words[:-1]) + "および" + words[-1]


def _en_location(label: str) -> str:
    # Most location labels are nouns ("edge"); a few are phrases already ("near the tab").
    return label if label.split()[0] in ("near", "along", "across", "at", "in", "on") else f"on the {label}"


@cache
def _ja_modifier(label: str) -> str:
    """A Japanese morphology label as a noun modifier: an i-adjective directly (小さい, 細長い), a
    na-adjective with な (微小な, 不規則な), a noun with の (鱗片状の). UniDic's part of speech says
    which (形状詞 is a na-adjective stem)."""
    if label.endswith("い"):
        return label
    from vocabulary.segmentation import part_of_speech

    return f"{label}な" if part_of_speech(label, language="ja") == "形状詞" else f"{label}の"


# English nouns read as mass nouns (no "a"): what a defect word ending this way names is a
# condition, not a countable thing ("contamination", "porosity", "corrosion", "warpage", "pilling").
_MASS_ENDINGS = ("ion", "ity", "ing", "age", "ness", "ism")
_COUNTABLE = {"inclusion", "indentation", "protrusion", "depression", "perforation", "impression", "bending"}
_MASS_WORDS = {"rust", "wear", "dust", "haze", "spatter", "mura", "tarnish", "verdigris", "mildew", "flash",
               "slag", "scale", "glue", "oil", "lint", "fuzz", "debris", "porosity", "underfill", "blur"}  # fmt: skip


def _is_mass_noun(phrase: str) -> bool:
    last = phrase.lower().split()[-1]
    return last in _MASS_WORDS or (last.endswith(_MASS_ENDINGS) and last not in _COUNTABLE)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _with_article(phrase: str, head: str) -> str:
    """'a small scratch', 'an edge crack', but 'contamination' (a mass noun takes none)."""
    return phrase if _is_mass_noun(head) else f"{_article(phrase)} {phrase}"


# English ---------------------------------------------------------------------------------------


def write_en(plan: CaptionPlan, rng: random.Random) -> str:
    def en(term):
        return term.label("en")

    product = en(plan.product) if plan.product else "industrial part"
    subject = f"{product} made of {en(plan.material)}" if plan.material else product
    sentences = []
    if not plan.defects:
        sentences.append(f"{_article(subject).capitalize()} {subject} with no visible defect on the inspected side.")
        sentences.append(
            "The surface looks uniform and nothing out of the ordinary can be seen anywhere in the image, "
            "so the part is suitable as a defect-free reference sample."
        )
        return " ".join(sentences)

    descriptors = [en(m) for m in plan.morphology]
    if plan.size:
        descriptors.insert(0, en(plan.size))
    defect_words = _join_en([en(d) for d in plan.defects])
    described = " ".join(descriptors + [defect_words])
    if plan.count == 1:
        found = _with_article(described, en(plan.defects[-1]))
    else:
        found = f"{NUMBERS['en'].get(plan.count, 'several')} regions of {described}"
    where = ""
    if plan.locations:
        where = " " + _join_en([_en_location(en(loc)) for loc in plan.locations])
    opening = rng.choice(
        [
            f"{_article(subject).capitalize()} {subject} shows {found}{where}.",
            f"Inspection of this {subject} reveals {found}{where}.",
            f"This image of {_article(subject)} {subject} contains {found}{where}.",
        ]
    )
    sentences.append(opening)
    if plan.position:
        sentences.append(
            rng.choice(
                [
                    f"The largest affected area lies toward the {en(plan.position)} of the image, "
                    f"{plan.share_text('en', 'about')} of the frame.",
                    f"The main defect sits in the {en(plan.position)} area, "
                    f"{plan.share_text('en', 'roughly')} of the picture.",
                ]
            )
        )
    if plan.causes:
        causes = _join_en([en(c) for c in plan.causes])
        sentences.append(
            rng.choice(
                [
                    f"It was most likely caused by {causes}.",
                    f"The probable root cause is {causes}.",
                    f"Such a flaw typically results from {causes}.",
                ]
            )
        )
    else:
        sentences.append(rng.choice(EN_UNKNOWN_CAUSE))
    words = sum(len(s.split()) for s in sentences)
    if words < 35:
        sentences.append(rng.choice(EN_CLOSINGS))
    return " ".join(sentences)


# Closing sentences, drawn per sample: one sentence repeated in every caption reads as a template.
EN_UNKNOWN_CAUSE = [
    "The root cause cannot be determined from the image alone and needs a process review.",
    "The image alone does not show what caused it; the process records should be checked.",
    "Its origin is not evident from this view and calls for a look at the production step.",
    "What produced it is unclear from the picture, so the line data should be reviewed.",
]
EN_CLOSINGS = [
    "Apart from this finding nothing unusual shows on the rest of the part, "
    "and the defect is clearly visible under the current lighting.",
    "No other anomaly is visible elsewhere in the image, and the finding is clear enough for an "
    "expert to confirm at a glance.",
    "The rest of the surface looks as expected, and the affected area stands out clearly against it.",
    "Elsewhere the part appears sound, and the finding is plainly visible at this magnification.",
    "The remaining area shows nothing out of the ordinary, so the finding is easy to locate and judge.",
]
ZH_UNKNOWN_CAUSE = [
    "仅凭图像无法确定根本原因，需要进行工艺复查。",
    "图像本身看不出成因，应查阅生产记录。",
    "从该视角无法判断其来源，需要检查相应工序。",
]
JA_UNKNOWN_CAUSE = [
    "画像だけでは根本原因を特定できず、工程の確認が必要である。",
    "画像からは発生原因が分からないため、製造記録を確認すべきである。",
    "この視点では発生源を判断できず、該当工程の点検が必要である。",
]


# Chinese ---------------------------------------------------------------------------------------


def write_zh(plan: CaptionPlan, rng: random.Random) -> str:
    def zh(term):
        return term.label("zh")

    product = zh(plan.product) if plan.product else "工业零件"
    subject = f"{product}（材质：{zh(plan.material)}）" if plan.material else product
    if not plan.defects:
        return f"该{subject}在检测面上未见缺陷。表面均匀，图像中任何位置都看不到异常，可作为无缺陷参考样本。"
    descriptors = "".join(f"{zh(m)}的" for m in plan.morphology)
    if plan.size:
        descriptors = f"{zh(plan.size)}的" + descriptors
    defect_words = _join_zh([zh(d) for d in plan.defects])
    count = f"{NUMBERS['zh'].get(plan.count, '多')}处"
    where = _join_zh([zh(loc) for loc in plan.locations]) if plan.locations else ""
    rng.random()  # keep the same sequence of choices as the English writer's opening
    sentences = [f"该{subject}{where}可见{count}{descriptors}{defect_words}。"]
    if plan.position:
        sentences.append(
            rng.choice(
                [
                    f"缺陷主要集中在图像{zh(plan.position)}，{plan.share_text('zh', '占画面的')}。",
                    f"主要缺陷位于图像的{zh(plan.position)}区域，{plan.share_text('zh', '占图片的')}。",
                ]
            )
        )
    if plan.causes:
        causes = _join_zh([zh(c) for c in plan.causes])
        sentences.append(
            rng.choice(
                [
                    f"很可能由生产中的{causes}造成。",
                    f"可能的根本原因是{causes}，需要在生产线上核查。",
                    f"此类缺陷通常源于工艺中的{causes}。",
                ]
            )
        )
    else:
        sentences.append(rng.choice(ZH_UNKNOWN_CAUSE))
    return "".join(sentences)


# Japanese --------------------------------------------------------------------------------------


def write_ja(plan: CaptionPlan, rng: random.Random) -> str:
    def ja(term):
        return term.label("ja")

    product = ja(plan.product) if plan.product else "工業部品"
    subject = f"{ja(plan.material)}製の{product}" if plan.material else product
    if not plan.defects:
        return (
            f"この{subject}の検査面に欠陥は見られない。表面は均一で、"
            "画像のどこにも異常は見られず、欠陥なしの参照サンプルとして使える。"
        )
    descriptors = "".join(_ja_modifier(ja(m)) for m in plan.morphology)
    if plan.size:
        descriptors = _ja_modifier(ja(plan.size)) + descriptors
    defect_words = _join_ja([ja(d) for d in plan.defects])
    count = f"{NUMBERS['ja'].get(plan.count, '複数')}か所"
    where = f"の{_join_ja([ja(loc) for loc in plan.locations])}" if plan.locations else ""
    rng.random()
    sentences = [f"この{subject}{where}に{descriptors}{defect_words}が{count}見られる。"]
    if plan.position:
        sentences.append(
            rng.choice(
                [
                    f"欠陥領域は主に画像の{ja(plan.position)}にあり、画面の{plan.share_text('ja')}を占める。",
                    f"主な欠陥は画像の{ja(plan.position)}付近にあり、画像の{plan.share_text('ja')}を占めている。",
                ]
            )
        )
    if plan.causes:
        causes = _join_ja([ja(c) for c in plan.causes])
        sentences.append(
            rng.choice(
                [
                    f"原因は製造中の{causes}である可能性が高い。",
                    f"推定される根本原因は{causes}で、ラインでの確認が必要である。",
                    f"この種の欠陥は通常、工程における{causes}に起因する。",
                ]
            )
        )
    else:
        sentences.append(rng.choice(JA_UNKNOWN_CAUSE))
    return "".join(sentences)


WRITERS = {"en": write_en, "zh": write_zh, "ja": write_ja}
