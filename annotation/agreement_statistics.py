"""Agreement statistics, pure (no Django): Cohen's kappa, Krippendorff's alpha
(nominal), mask IoU and caption edit distance.

Labels are any hashable values (a multi-valued template field is compared as a frozenset of
term ids: two raters agree when they chose the same set). A statistic that is undefined for
the data (no variation at all: expected agreement is 1) is None, not a made-up number; the
reports show observed agreement next to it.
"""

from collections import Counter
from collections.abc import Hashable, Sequence
from itertools import permutations

import numpy as np


def observed_agreement(rater_a: Sequence[Hashable], rater_b: Sequence[Hashable]) -> float | None:
    if len(rater_a) != len(rater_b):
        raise ValueError("both raters must rate the same items")
    if not rater_a:
        return None
    return sum(a == b for a, b in zip(rater_a, rater_b, strict=True)) / len(rater_a)


def cohen_kappa(rater_a: Sequence[Hashable], rater_b: Sequence[Hashable]) -> float | None:
    """Two raters over the same items: (p_o - p_e) / (1 - p_e), where p_e comes from each
    rater's own label frequencies."""
    p_observed = observed_agreement(rater_a, rater_b)
    if p_observed is None:
        return None
    n = len(rater_a)
    counts_a, counts_b = Counter(rater_a), Counter(rater_b)
    p_expected = sum(counts_a[label] * counts_b[label] for label in counts_a) / (n * n)
    if p_expected == 1:
        return None
    return (p_observed - p_expected) / (1 - p_expected)


def krippendorff_alpha_nominal(units: Sequence[Sequence[Hashable | None]]) -> float | None:
    """Krippendorff's alpha for nominal data: any number of raters, missing ratings allowed.

    units[u] lists unit u's ratings (None = not rated). Units with fewer than two ratings are
    not pairable and are left out. alpha = 1 - D_o / D_e from the coincidence matrix."""
    coincidences: Counter = Counter()
    for unit in units:
        values = [value for value in unit if value is not None]
        m = len(values)
        if m < 2:
            continue
        for a, b in permutations(values, 2):
            coincidences[(a, b)] += 1 / (m - 1)
    n_total = sum(coincidences.values())
    if n_total == 0:
        return None
    marginals: Counter = Counter()
    for (a, _b), weight in coincidences.items():
        marginals[a] += weight
    disagreement_observed = sum(w for (a, b), w in coincidences.items() if a != b)
    disagreement_expected = sum(marginals[a] * marginals[b] for a in marginals for b in marginals if a != b)
    if disagreement_expected == 0:
        return None
    return 1 - (n_total - 1) * disagreement_observed / disagreement_expected


def mask_iou(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Intersection over union of two (H, W) boolean masks; two empty masks agree fully (1.0)."""
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"mask shapes differ: {mask_a.shape} vs {mask_b.shape}")
    union = np.logical_or(mask_a, mask_b).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(mask_a, mask_b).sum() / union)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance in characters (insert, delete, substitute each cost 1); characters
    rather than words, so that Chinese and Japanese captions are measured the same way."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def normalized_edit_distance(a: str, b: str) -> float:
    """edit_distance / the longer length: 0 identical, 1 nothing in common; 0 for two empty strings."""
    longest = max(len(a), len(b))
    return edit_distance(a, b) / longest if longest else 0.0


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
