"""The running tallies give what the list statistics give, however the items are split into batches
and wherever the tallies are stored between batches (a JSON round trip)."""

import json
import random

import pytest

from annotation import agreement_statistics as statistics
from annotation.agreement_tallies import AlphaTally, MeanTally, PairTally

LABELS = ["", "1", "2", "1,2", "3"]


def random_splits(items: list, rng: random.Random) -> list[list]:
    cuts = sorted(rng.sample(range(1, len(items)), k=min(len(items) - 1, rng.randint(0, 5)))) if len(items) > 1 else []
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def through_json(tally):
    return type(tally).from_json(json.loads(json.dumps(tally.to_json())))


@pytest.mark.parametrize("seed", range(40))
def test_pair_tally_matches_cohens_kappa_for_any_batching(seed):
    rng = random.Random(seed)
    labels = LABELS[: rng.randint(1, len(LABELS))]
    pairs = [(rng.choice(labels), rng.choice(labels)) for _ in range(rng.randint(0, 60))]
    total = PairTally()
    for batch in random_splits(pairs, rng):
        part = PairTally()
        for a, b in batch:
            part.add(a, b)
        total = through_json(total)
        total.merge(part)
    first, second = [a for a, _ in pairs], [b for _, b in pairs]

    assert total.n == len(pairs)
    assert total.observed() == statistics.observed_agreement(first, second)
    expected = statistics.cohen_kappa(first, second)
    assert total.cohen_kappa() == (None if expected is None else pytest.approx(expected, abs=1e-12))


@pytest.mark.parametrize("seed", range(40))
def test_alpha_tally_matches_krippendorffs_alpha_for_any_batching(seed):
    rng = random.Random(seed)
    labels = LABELS[: rng.randint(1, len(LABELS))]
    units = [
        [rng.choice(labels) if rng.random() > 0.2 else None for _ in range(rng.randint(1, 5))]
        for _ in range(rng.randint(0, 40))
    ]
    total = AlphaTally()
    for batch in random_splits(units, rng):
        part = AlphaTally()
        for unit in batch:
            part.add(unit)
        total = through_json(total)
        total.merge(part)

    expected = statistics.krippendorff_alpha_nominal(units)
    assert total.krippendorff_alpha() == (None if expected is None else pytest.approx(expected, abs=1e-12))
    assert total.units == sum(1 for unit in units if sum(v is not None for v in unit) >= 2)


def test_mean_tally_is_the_mean_and_none_when_empty():
    tally = MeanTally()
    assert tally.mean() is None
    for value in (0.25, 0.5, 1.0):
        tally.add(value)
    assert through_json(tally).mean() == statistics.mean([0.25, 0.5, 1.0])
