"""Deterministic splits: the same sample id and seed always land in the same split.

A sample's position in [0, 1) comes from a hash of (seed, sample id), so adding samples to a later
version never moves the samples that were already there.
"""

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SplitPlan:
    """How to split: ratios, and what to keep out of train.

    held_out_defect_types: the open-vocabulary protocol (MMIOC-1M): samples showing any of these
        defect types go to test, so they are never seen in training.
    held_out_domains: the unseen-domain protocol: samples of these domains go to test.
    stratify: split each defect type separately, so every split has its share of each.
    """

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    seed: int = 0
    stratify: bool = False
    held_out_defect_types: frozenset[str] = field(default_factory=frozenset)
    held_out_domains: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self):
        total = self.train + self.val + self.test
        if min(self.train, self.val, self.test) < 0 or abs(total - 1.0) > 1e-6:
            raise ValueError(
                "split ratios must be non-negative and sum to 1 "
                f"(got train {self.train:g}, val {self.val:g}, test {self.test:g})"
            )


def unit_position(sample_id: int, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class SplitItem:
    sample_id: int
    defect_types: frozenset[str]  # slugs
    domain: str  # slug or free text


def assign_splits(items: list[SplitItem], plan: SplitPlan) -> dict[int, str]:
    """sample id -> split name."""
    result: dict[int, str] = {}
    free: list[SplitItem] = []
    for item in items:
        if item.defect_types & plan.held_out_defect_types or (item.domain and item.domain in plan.held_out_domains):
            result[item.sample_id] = "test"
        else:
            free.append(item)
    if not plan.stratify:
        for item in free:
            result[item.sample_id] = _by_position(unit_position(item.sample_id, plan.seed), plan)
        return result
    # Stratified: within each group (its rarest... first-sorted defect type), order by hash position
    # and cut by the ratios, so small classes still reach every split.
    groups: dict[str, list[SplitItem]] = {}
    for item in free:
        key = min(item.defect_types) if item.defect_types else ""
        groups.setdefault(key, []).append(item)
    for members in groups.values():
        members.sort(key=lambda item: unit_position(item.sample_id, plan.seed))
        count = len(members)
        train_end = round(count * plan.train)
        val_end = train_end + round(count * plan.val)
        for index, item in enumerate(members):
            result[item.sample_id] = "train" if index < train_end else "val" if index < val_end else "test"
    return result


def _by_position(position: float, plan: SplitPlan) -> str:
    if position < plan.train:
        return "train"
    if position < plan.train + plan.val:
        return "val"
    return "test"


# Most held out first: an image in test anywhere is in test everywhere.
SPLITS_MOST_HELD_OUT_FIRST = ("test", "val", "train")


def one_split_per_image(splits: dict[int, str], sha256_of: dict[int, str]) -> dict[int, str]:
    """`splits` with the samples of one image (same sha256) in one split: the first of test, val,
    train that any of them was given, so no image is both trained on and evaluated, and a held-out
    sample's twin stays held out. The same bytes are two samples when a public source and a partner's
    both hold them (catalog/dedup.py); a sample whose image is its own keeps its split."""
    by_image: dict[str, list[int]] = {}
    for sample_id in splits:
        by_image.setdefault(sha256_of[sample_id], []).append(sample_id)
    result = dict(splits)
    for sample_ids in by_image.values():
        if len(sample_ids) > 1:
            split = min((splits[s] for s in sample_ids), key=SPLITS_MOST_HELD_OUT_FIRST.index)
            result.update(dict.fromkeys(sample_ids, split))
    return result
