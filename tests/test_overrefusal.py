"""The packaged over-refusal set: benign prompts that only sound dangerous.

Checks its shape (labels, categories, levels, references), that it stays disjoint from the
`samples` training set, and how often the rule judge counts its own reference answers as
helpful (a calibration check of `is_helpful`, not of the data).
"""

from __future__ import annotations

from collections import Counter

import pytest

from rapo_lite.data import Record, load_source
from rapo_lite.data.hygiene import check_disjoint, normalise_prompt
from rapo_lite.text.helpful import is_helpful

CATEGORIES = {
    "homonym",
    "figurative",
    "safe_target",
    "safe_context",
    "definition",
    "history",
    "privacy_public",
    "safety_info",
    "health",
    "security_defense",
}


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return load_source("overrefusal")


def test_loads_as_benign_records(records):
    assert len(records) >= 120
    assert all(isinstance(r, Record) for r in records)
    assert all(r.harmful is False for r in records)
    assert {r.source for r in records} == {"overrefusal"}
    assert all(r.prompt.strip() for r in records)


def test_categories_are_known_and_balanced(records):
    counts = Counter(r.category for r in records)
    assert set(counts) == CATEGORIES
    assert min(counts.values()) >= 10, counts


def test_levels_and_references(records):
    assert {r.level for r in records} == {1, 2}
    assert all(isinstance(r.reference, str) and r.reference.strip() for r in records)
    wrapped = sum(r.level == 2 for r in records)
    assert 0.05 <= wrapped / len(records) <= 0.2, wrapped


def test_prompts_are_unique(records):
    normalised = [normalise_prompt(r.prompt) for r in records]
    duplicates = [p for p, n in Counter(normalised).items() if n > 1]
    assert not duplicates, duplicates


def test_disjoint_from_samples(records):
    check_disjoint(load_source("samples"), records, "overrefusal test")


def test_count_sampling(records):
    picked = load_source("overrefusal", count=20, seed=3)
    assert len(picked) == 20
    assert len({r.prompt for r in picked}) == 20
    assert picked == load_source("overrefusal", count=20, seed=3)
    assert picked != load_source("overrefusal", count=20, seed=4)
    # A subset in file order.
    order = {r.prompt: i for i, r in enumerate(records)}
    assert [order[r.prompt] for r in picked] == sorted(order[r.prompt] for r in picked)


def test_level_filter(records):
    wrapped = load_source("overrefusal", levels=[2])
    assert wrapped and all(r.level == 2 for r in wrapped)
    assert len(wrapped) == sum(r.level == 2 for r in records)


def test_rule_judge_counts_references_as_helpful(records):
    helpful = [is_helpful(r.prompt, r.reference) for r in records]
    share = sum(helpful) / len(helpful)
    misses = [r.prompt for r, ok in zip(records, helpful) if not ok]
    print(f"is_helpful on overrefusal references: {sum(helpful)}/{len(helpful)} = {share:.1%}")
    assert share >= 0.85, misses
