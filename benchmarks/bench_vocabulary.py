"""The normalizer on our own evaluation set (vocabulary/evaluation/descriptions.jsonl): precision and
recall of defect types, products and materials per language, the defect-free descriptions that get
no defect finding, and the negation figures. The dev part was used while the vocabulary and rules
grew; the held-out part (every fourth description) is only measured. Targets: defect
types recall and precision >= 0.9, products and materials >= 0.85, defect-free >= 0.95.

Each description is read as the platform reads a sample's text: with the names of its language
(and English ones) and the sample's domain as context (it supports ambiguous aliases). `BENCH_VOCABULARY_CONTEXT=0` reads it with no context.
`BENCH_VOCABULARY_MISSES=1` lists every miss and false finding (of the dev part only).
"""

import json
import os
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "vocabulary" / "data"
EVALUATION = ROOT / "vocabulary" / "evaluation" / "descriptions.jsonl"
FACETS = ("defect_type", "product", "material")
TARGETS = {"defect_type": 0.9, "product": 0.85, "material": 0.85}
DEFECT_FREE = "def-defect-free"


def bundled_matcher():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()  # the file readers use the models' choices; no database is opened
    from vocabulary.formats import records_from_json
    from vocabulary.records import records_matcher

    records = []
    for path in sorted(DATA.glob("*.json")):
        records += records_from_json(path.read_text(encoding="utf-8"))
    return records_matcher(records)


def evaluate(matcher, rows: list[dict], *, with_context: bool) -> dict:
    counts = defaultdict(lambda: [0, 0, 0])  # (facet, language) -> true positives, false positives, false negatives
    free = defaultdict(lambda: [0, 0])  # language -> defect-free descriptions with no defect finding, all of them
    negation = defaultdict(lambda: [0, 0, 0])  # language -> negated gold flagged, gold negated, flagged not gold
    misses = []
    for row in rows:
        # Read with the names of the description's language and English ones, as the validator reads a caption.
        mentions = matcher.find(
            row["text"], languages={row["language"], "en"}, context=[row["domain"]] if with_context else ()
        )
        findings = {facet: {m.term for m in mentions if m.facet == facet and not m.negated} for facet in FACETS}
        findings["defect_type"].discard(DEFECT_FREE)  # "defect-free" is the absence of a finding
        language = row["language"]
        for facet in FACETS:
            gold = set(row[facet])
            found = findings[facet]
            counts[facet, language][0] += len(gold & found)
            counts[facet, language][1] += len(found - gold)
            counts[facet, language][2] += len(gold - found)
            if gold != found:
                misses.append((row["id"], facet, sorted(gold - found), sorted(found - gold), row["text"]))
        if row["defect_free"]:
            free[language][0] += not findings["defect_type"]
            free[language][1] += 1
        flagged = {m.term for m in mentions if m.negated and m.facet == "defect_type"}
        gold_negated = set(row["negated"])
        negation[language][0] += len(gold_negated & flagged)
        negation[language][1] += len(gold_negated)
        negation[language][2] += len(flagged - gold_negated - set(row["defect_type"]))
    return {"counts": counts, "free": free, "negation": negation, "misses": misses}


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "  - "


def report(title: str, result: dict) -> None:
    counts, free, negation = result["counts"], result["free"], result["negation"]
    print(f"   {title}")
    print("     facet        lang  precision  recall   (tp/fp/fn)")
    for facet in FACETS:
        for language in ("en", "zh", "ja", "all"):
            if language == "all":
                tp, fp, fn = (sum(counts[facet, lang][i] for lang in ("en", "zh", "ja")) for i in range(3))
            else:
                tp, fp, fn = counts[facet, language]
            precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
            mark = "" if language != "all" else f"   (target >= {TARGETS[facet]})"
            print(f"     {facet:<12} {language:<4}  {precision:>9}  {recall:>6}   ({tp}/{fp}/{fn}){mark}")
    for language in ("en", "zh", "ja"):
        clean, total = free[language]
        flagged, gold, wrong = negation[language]
        print(
            f"     {language}: defect-free with no defect finding {clean}/{total} = {_ratio(clean, total)}"
            f"   negated mentions flagged {flagged}/{gold} = {_ratio(flagged, gold)}, flagged wrongly {wrong}"
        )
    clean = sum(free[lang][0] for lang in free)
    total = sum(free[lang][1] for lang in free)
    print(f"     all: defect-free with no defect finding {clean}/{total} = {_ratio(clean, total)}   (target >= 0.95)")


def _quadratic_cycle_walk(merged: dict, loaded: dict) -> int:
    """The cycle check as it was before the linear check (a walk per term, a list for 'seen'): the baseline."""
    found = 0
    for slug in loaded:
        seen = []
        current = slug
        while current and current in merged and current not in seen:
            seen.append(current)
            current = merged[current].parent
        found += current in seen
    return found


def cycle_check_timing(length: int = 2000) -> None:
    """The parent-cycle check on a chain of `length` terms, against the old walk, in the same run."""
    import time

    from vocabulary.records import TermRecord, _cycle_problems

    chain = {
        f"loc-{i}": TermRecord(
            slug=f"loc-{i}", facet="location", labels={}, parent=f"loc-{i + 1}" if i < length - 1 else None
        )
        for i in range(length)
    }
    started = time.perf_counter()
    _cycle_problems(chain, chain)
    linear = time.perf_counter() - started
    started = time.perf_counter()
    _quadratic_cycle_walk(chain, chain)
    quadratic = time.perf_counter() - started
    print(
        f"   parent-cycle check, {length}-term chain: {linear * 1000:.1f} ms (old walk {quadratic * 1000:.0f} ms, "
        f"{quadratic / linear:.0f}x)"
    )


def run() -> None:
    rows = [json.loads(line) for line in EVALUATION.read_text(encoding="utf-8").splitlines() if line.strip()]
    with_context = os.environ.get("BENCH_VOCABULARY_CONTEXT", "1") != "0"
    matcher = bundled_matcher()
    languages = {row["language"] for row in rows}
    domains = {row["domain"] for row in rows}
    print(f"   {len(rows)} descriptions, {len(languages)} languages, {len(domains)} domains; context: {with_context}")
    dev = evaluate(matcher, [r for r in rows if r["split"] == "dev"], with_context=with_context)
    held_out = evaluate(matcher, [r for r in rows if r["split"] == "held_out"], with_context=with_context)
    report(f"dev ({sum(r['split'] == 'dev' for r in rows)} descriptions)", dev)
    report(f"held out ({sum(r['split'] == 'held_out' for r in rows)} descriptions)", held_out)
    cycle_check_timing()
    if os.environ.get("BENCH_VOCABULARY_MISSES") == "1":
        for row_id, facet, missed, wrong, text in dev["misses"]:
            print(f"     {row_id} {facet}: missed {missed} wrong {wrong}  | {text}")
