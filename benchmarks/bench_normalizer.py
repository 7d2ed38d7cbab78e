"""Normalizer throughput: 100,000 realistic English captions (~42 words) against flashtext's
KeywordProcessor loaded with the same English labels and aliases, in the same run; plus Chinese
and Japanese throughput. Targets: >= 3x flashtext on English; ZH/JA within 2x of EN.
The autocomplete endpoint's server time is `python -m benchmarks autocomplete`.
"""

import json
import os
import random
import time
from pathlib import Path

CAPTIONS = int(os.environ.get("BENCH_NORMALIZER_CAPTIONS", "100000"))
DATA = Path(__file__).resolve().parents[1] / "vocabulary" / "data"

TEMPLATES = {
    "en": (
        "A {product} made of {material} shows a {morph} {defect} near the {location}. "
        "The {defect2} is {morph2} and extends toward the {location2}, covering a small part of the surface. "
        "It was most likely caused by {cause}."
    ),
    "zh": (
        "图像显示一件{material}材质的{product}，在{location}附近有一处{morph}的{defect}。"
        "该{defect2}呈{morph2}，向{location2}延伸，占表面一小部分。"
        "可能由{cause}造成，{location2}附近也有类似的{defect}。"
    ),
    "ja": (
        "画像は{material}製の{product}で、{location}付近に{morph}{defect}がある。"
        "{defect2}は{morph2}で{location2}に向かって伸び、表面の一部を占める。"
        "原因は{cause}と考えられ、{location2}付近にも同様の{defect}が見られる。"
    ),
}


def load_terms() -> list[dict]:
    """The bundled terms, each alias as its text (an ambiguous alias is {"text", "context"} in the file)."""
    terms = []
    for path in sorted(DATA.glob("*.json")):
        terms += json.loads(path.read_text(encoding="utf-8"))["terms"]
    for term in terms:
        term["aliases"] = {
            language: [alias if isinstance(alias, str) else alias["text"] for alias in aliases]
            for language, aliases in term["aliases"].items()
        }
    return terms


def make_captions(terms: list[dict], language: str, count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    by_facet: dict[str, list[str]] = {}
    for term in terms:
        names = [term["labels"][language]] + term["aliases"][language]
        by_facet.setdefault(term["facet"], []).append(rng.choice(names) if names else term["labels"][language])

    def pick(facet):
        return rng.choice(by_facet[facet])

    captions = []
    for _ in range(count):
        captions.append(
            TEMPLATES[language].format(
                product=pick("product"),
                material=pick("material"),
                morph=pick("morphology"),
                morph2=pick("morphology"),
                defect=pick("defect_type"),
                defect2=pick("defect_type"),
                location=pick("location"),
                location2=pick("location"),
                cause=pick("root_cause"),
            )
        )
    return captions


def timed(function, captions) -> tuple[float, int]:
    started = time.perf_counter()
    found = 0
    for caption in captions:
        found += len(function(caption))
    return time.perf_counter() - started, found


def run() -> None:
    from flashtext import KeywordProcessor

    from vocabulary.matching import Name, TermMatcher

    terms = load_terms()
    names = [
        Name(text, term["slug"], term["facet"], language)
        for term in terms
        for language in ("en", "zh", "ja")
        for text in [term["labels"][language]] + term["aliases"][language]
    ]
    matcher = TermMatcher(names)
    flashtext = KeywordProcessor(case_sensitive=False)
    for name in names:
        if name.language == "en":
            flashtext.add_keyword(name.text, name.term)

    feeds = {
        "flashtext": (lambda c: flashtext.extract_keywords(c, span_info=True), make_captions(terms, "en", CAPTIONS)),
        "en": (matcher.find, make_captions(terms, "en", CAPTIONS, seed=1)),
        # Real captions often carry a typographic dash or apostrophe, which takes the non-ASCII path.
        "en-typographic": (
            matcher.find,
            [c.replace(". ", " \u2014 ", 1) for c in make_captions(terms, "en", CAPTIONS // 4, seed=2)],
        ),
        "zh": (matcher.find, make_captions(terms, "zh", CAPTIONS // 4)),
        "ja": (matcher.find, make_captions(terms, "ja", CAPTIONS // 4)),
    }
    # The segmenters' dictionaries (jieba's, UniDic) load on a process's first Chinese or Japanese
    # text: once, and not what a caption costs. Timed here, apart from the rates.
    started = time.perf_counter()
    for language in ("zh", "ja"):
        matcher.find(feeds[language][1][0])
    print(f"   first Chinese and Japanese texts (segmenter dictionaries load): {time.perf_counter() - started:.1f} s")
    english = feeds["en"][1]
    words = sum(len(c.split()) for c in english) / len(english)
    print(f"   {CAPTIONS} English captions, {words:.1f} words on average; {len(names)} names")
    # Alternating chunks, so that a change in the machine's load hits every feed alike.
    seconds, found = {name: 0.0 for name in feeds}, {name: 0 for name in feeds}
    rounds = 20
    for round_index in range(rounds):
        for name, (function, captions) in feeds.items():
            chunk = len(captions) // rounds
            elapsed, count = timed(function, captions[round_index * chunk : (round_index + 1) * chunk])
            seconds[name] += elapsed
            found[name] += count
    rate = {name: (len(captions) // rounds * rounds) / seconds[name] for name, (_, captions) in feeds.items()}
    print(f"   flashtext             {rate['flashtext']:9.0f} captions/s  ({found['flashtext']} keywords)")
    print(
        f"   TermMatcher (EN)      {rate['en']:9.0f} captions/s  ({found['en']} mentions)  "
        f"ratio {rate['en'] / rate['flashtext']:.2f}x   (target >= 3x)"
    )
    print(
        f"   TermMatcher (EN, with one \u2014)  {rate['en-typographic']:6.0f} captions/s  "
        f"ratio {rate['en-typographic'] / rate['flashtext']:.2f}x"
    )
    for language in ("zh", "ja"):
        print(
            f"   TermMatcher ({language.upper()})      {rate[language]:9.0f} captions/s  ({found[language]} mentions)  "
            f"EN/{language.upper()} {rate['en'] / rate[language]:.2f}   (target <= 2)"
        )
