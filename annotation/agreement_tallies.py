"""Running tallies of the agreement statistics, pure (no Django): what agreement_statistics.py
computes from complete lists, kept as counts and sums that a report adds to batch by batch and
stores between batches as JSON. Their memory grows with the number of distinct labels and people,
never with the number of annotations.

Labels are strings here (agreement_reports.py writes a set of term ids as "3,17"); a missing rating
is None. `merge` adds another tally of the same kind, so a batch's tally can be computed apart and
added under the report's lock.
"""

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class PairTally:
    """Two raters over the same items: observed agreement and Cohen's kappa."""

    n: int = 0
    agreed: int = 0
    first: Counter = field(default_factory=Counter)
    second: Counter = field(default_factory=Counter)

    def add(self, a: str, b: str) -> None:
        self.n += 1
        self.agreed += a == b
        self.first[a] += 1
        self.second[b] += 1

    def merge(self, other: "PairTally") -> None:
        self.n += other.n
        self.agreed += other.agreed
        self.first.update(other.first)
        self.second.update(other.second)

    def observed(self) -> float | None:
        return self.agreed / self.n if self.n else None

    def cohen_kappa(self) -> float | None:
        """(p_o - p_e) / (1 - p_e), p_e from each rater's own label frequencies; None when undefined."""
        if not self.n:
            return None
        p_expected = sum(count * self.second[label] for label, count in self.first.items()) / (self.n * self.n)
        if p_expected == 1:
            return None
        return (self.observed() - p_expected) / (1 - p_expected)

    def to_json(self) -> dict:
        return {"n": self.n, "agreed": self.agreed, "first": dict(self.first), "second": dict(self.second)}

    @classmethod
    def from_json(cls, data: dict) -> "PairTally":
        return cls(n=data["n"], agreed=data["agreed"], first=Counter(data["first"]), second=Counter(data["second"]))


@dataclass
class AlphaTally:
    """Krippendorff's alpha (nominal) over units with any number of ratings, missing ones allowed.

    The coincidence matrix weighs each ordered pair of a unit's m ratings by 1 / (m - 1); the tally
    keeps integer pair counts per m, so adding in any order gives the same matrix."""

    units: int = 0  # units with two ratings or more
    pairs_by_m: dict = field(default_factory=dict)  # str(m) -> Counter("a\x1fb" -> pairs)

    def add(self, ratings: list[str | None]) -> None:
        values = [value for value in ratings if value is not None]
        m = len(values)
        if m < 2:
            return
        self.units += 1
        pairs = self.pairs_by_m.setdefault(str(m), Counter())
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i != j:
                    pairs[f"{a}\x1f{b}"] += 1

    def merge(self, other: "AlphaTally") -> None:
        self.units += other.units
        for m, pairs in other.pairs_by_m.items():
            self.pairs_by_m.setdefault(m, Counter()).update(pairs)

    def krippendorff_alpha(self) -> float | None:
        coincidences: Counter = Counter()
        for m in sorted(self.pairs_by_m, key=int):
            for pair, count in sorted(self.pairs_by_m[m].items()):
                coincidences[tuple(pair.split("\x1f"))] += count / (int(m) - 1)
        n_total = sum(coincidences.values())
        if n_total == 0:
            return None
        marginals: Counter = Counter()
        for (a, _b), weight in coincidences.items():
            marginals[a] += weight
        observed = sum(weight for (a, b), weight in coincidences.items() if a != b)
        expected = sum(marginals[a] * marginals[b] for a in marginals for b in marginals if a != b)
        if expected == 0:
            return None
        return 1 - (n_total - 1) * observed / expected

    def to_json(self) -> dict:
        return {"units": self.units, "pairs_by_m": {m: dict(pairs) for m, pairs in self.pairs_by_m.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "AlphaTally":
        return cls(units=data["units"], pairs_by_m={m: Counter(p) for m, p in data["pairs_by_m"].items()})


@dataclass
class MeanTally:
    n: int = 0
    total: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value

    def merge(self, other: "MeanTally") -> None:
        self.n += other.n
        self.total += other.total

    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def to_json(self) -> dict:
        return {"n": self.n, "total": self.total}

    @classmethod
    def from_json(cls, data: dict) -> "MeanTally":
        return cls(n=data["n"], total=data["total"])
