"""English inflected forms of vocabulary names, made when the normalizer is built.

Experts write "deformations", "smudged", "torn", "PCBs": the normalizer matches such forms because
they are added to its automaton as names of the same term, so matching stays one pass over the
text. The forms come from lemminflect (a dictionary of English inflections with rules for unknown
words), not from suffix rules of our own.

Only the last word of a name inflects ("metal nuts", "dead pixels"). Every facet gets noun plurals;
the defect facets also get the past tense and participle ("cracked", "broken", "torn"), which is
how inspectors describe a defect on a part. The -ing form is left out on purpose: it is as often an
ordinary word ("opening", "floating", "printing") as a defect, and the defect -ing forms that
matter ("chipping", "pitting", "peeling") are aliases of their own.
"""

from functools import cache

from lemminflect import getAllInflections, getAllInflectionsOOV, getAllLemmas

# Penn tags kept per kind of facet.
NOUN_TAGS = ("NNS",)
DEFECT_VERB_TAGS = ("VBD", "VBN", "VBZ")
# Facets whose names are described by participles ("a dented rim"): the defect vocabulary.
VERB_FACETS = frozenset({"defect_type", "defect_category"})


@cache
def _word_forms(word: str, with_verbs: bool) -> frozenset[str]:
    if not word.isalpha() or len(word) < 2 or _is_inflected(word):
        return frozenset()
    known = getAllInflections(word)
    tags = NOUN_TAGS + (DEFECT_VERB_TAGS if with_verbs else ())
    forms = {form for tag in tags for form in known.get(tag, ())}
    if not known:  # a word lemminflect does not know (hazelnut, pushpin, pcb): regular noun rules
        forms.update(getAllInflectionsOOV(word, "NOUN").get("NNS", ()))
    forms.discard(word)
    return frozenset(form.lower() for form in forms)


def _is_inflected(word: str) -> bool:
    """A name that already ends in an inflected form ("can ends", "scale not removed", "PCBs") gets
    no further forms: inflecting it again makes words no one writes ("endses", "removeds")."""
    lemmas = getAllLemmas(word)
    if lemmas:
        return all(word not in forms for forms in lemmas.values())
    return word.endswith("s") and not word.endswith(("ss", "us", "is"))  # unknown: "pcbs", "mlccs"


def inflected_names(name: str, facets: set[str]) -> set[str]:
    """Other forms of a folded, lower-case Latin name: its last word inflected.

    `facets` are the facets of the terms the name belongs to (verb forms only for defect facets)."""
    words = name.split(" ")
    last = words[-1]
    if not last:
        return set()
    with_verbs = len(words) == 1 and bool(facets & VERB_FACETS)
    return {" ".join(words[:-1] + [form]) for form in _word_forms(last, with_verbs)}
