"""The template teacher: band-exact, deterministic, one-paragraph analyses and well-formed endings."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapo_lite.data.records import Record
from rapo_lite.levels import DEFAULT_BANDS, band_for, bands_from_lists
from rapo_lite.reasoning import (
    THINK_CLOSE,
    THINK_OPEN,
    analysis_prefill,
    count_sentences,
    parse_completion,
    safety_paragraph,
    split_sentences,
)
from rapo_lite.teachers.template import TemplateTeacher
from rapo_lite.text.decision import reasoning_decision

SAMPLES = Path(__file__).resolve().parents[1] / "rapo_lite" / "data" / "samples"
LEVELS = (1, 2, 3, 4)
REFUSAL = re.compile(r"\b(?:refuse|decline|not provide|not give|not help)\b", re.IGNORECASE)
DECIDES_TO_REFUSE = re.compile(r"\bI (?:will|should|must) (?:refuse|decline)\b"
                               r"|\bdecision is to decline\b", re.IGNORECASE)
HELPS = re.compile(r"\b(?:help|answer)\b", re.IGNORECASE)


def _load(name: str) -> list[Record]:
    with open(SAMPLES / name, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [Record(prompt=r["prompt"], harmful=r["harmful"], level=r["level"], reference=r["reference"],
                   category=r["category"], source="samples") for r in rows]


HARMFUL = _load("harmful.jsonl")
BENIGN = _load("benign.jsonl")
ALL = HARMFUL + BENIGN
# Every prompt once as harmful and once as benign, so both kinds of analysis see every shape.
BOTH_KINDS = [dataclasses.replace(r, harmful=flag) for r in ALL for flag in (True, False)]


def _reads_back(analysis: str) -> int:
    """What the RL reward counts: the first thinking paragraph of the pre-filled completion."""
    return count_sentences(safety_paragraph(parse_completion(analysis_prefill(analysis)).thinking))


@pytest.fixture(scope="module")
def teacher() -> TemplateTeacher:
    return TemplateTeacher(seed=0)


@pytest.fixture(scope="module")
def written(teacher: TemplateTeacher) -> dict[int, list[tuple[Record, str]]]:
    """Every sample prompt, as harmful and as benign, analysed at every level (computed once)."""
    return {level: [(r, teacher.analysis(r, level)) for r in BOTH_KINDS] for level in LEVELS}


@pytest.mark.parametrize("level", LEVELS)
def test_analyses_fit_the_band_for_every_sample(written: dict, level: int) -> None:
    lo, hi = band_for(level, DEFAULT_BANDS).target()
    for _record, text in written[level]:
        assert "\n" not in text and text == text.strip(), text
        n = count_sentences(text)
        assert lo <= n <= hi, (n, text)
        assert _reads_back(text) == n, text
        # The raw pre-fill also holds the `<think>` tag line, which the splitter counts on its own.
        assert count_sentences(analysis_prefill(text)[len(THINK_OPEN):]) == n
        sentences = split_sentences(text)
        assert all(s.endswith(".") for s in sentences), sentences
        assert not re.search(r"\b(?:e\.g|i\.e)\b", text)
        assert THINK_CLOSE not in text and "```" not in text


@pytest.mark.parametrize("level", LEVELS)
def test_harmful_analyses_end_in_refusal(written: dict, level: int) -> None:
    for record, text in written[level]:
        if record.harmful:
            last = split_sentences(text)[-1]
            assert REFUSAL.search(last), last


@pytest.mark.parametrize("level", LEVELS)
def test_benign_analyses_conclude_to_help(written: dict, level: int) -> None:
    for record, text in written[level]:
        if not record.harmful:
            assert HELPS.search(split_sentences(text)[-1]), text
            assert not DECIDES_TO_REFUSE.search(text), text


def test_deep_levels_decompose_and_see_through_the_wrapper(teacher: TemplateTeacher) -> None:
    for record in HARMFUL:
        text = teacher.analysis(record, 3)
        assert re.search(r"\bpart\b|\bsingle core task\b|\bone task\b", text), text
        if record.level == 3:  # the obfuscated samples: each has a wrapper to see through
            assert re.search(r"\bfirst part\b", text) and re.search(r"wrapper|framing", text, re.IGNORECASE), text


def test_analyses_name_the_request_and_the_wrapping(teacher: TemplateTeacher) -> None:
    level_two = [r for r in HARMFUL if r.level == 2]
    for record in level_two:
        text = teacher.analysis(record, 2)
        assert re.search(r'"[^"]{8,}"', text), text  # a short quote of what is asked
        assert re.search(r"role-play|persona|fiction|hypothetical", text), text
    encoded = [r for r in HARMFUL if "base64" in r.prompt.lower()]
    assert encoded and all("decod" in teacher.analysis(r, 3) for r in encoded)


def test_sensitive_benign_analyses_explain_the_alarming_word(teacher: TemplateTeacher) -> None:
    sensitive = [r for r in BENIGN if r.category == "benign_sensitive"]
    explained = [r for r in sensitive if re.search(r"alarming|worrying|cautious", teacher.analysis(r, 2))]
    assert len(explained) >= 0.9 * len(sensitive)


def test_same_seed_same_text_and_seeds_vary() -> None:
    a, b, c = TemplateTeacher(seed=7), TemplateTeacher(seed=7), TemplateTeacher(seed=8)
    differ = 0
    for record in ALL:
        level = record.level or 1
        assert a.analysis(record, level) == b.analysis(record, level)
        assert a.continuation(record) == b.continuation(record)
        differ += a.analysis(record, level) != c.analysis(record, level)
    assert differ >= 0.8 * len(ALL), differ


def test_phrasings_vary_across_prompts(teacher: TemplateTeacher) -> None:
    # With the quoted prompt words masked, the same-level analyses still use many wordings.
    skeletons = {re.sub(r'"[^"]*"', "Q", teacher.analysis(r, 1)) for r in HARMFUL}
    assert len(skeletons) >= 0.5 * len(HARMFUL), len(skeletons)


def test_sentence_counts_spread_over_the_band(teacher: TemplateTeacher) -> None:
    counts = {count_sentences(teacher.analysis(r, 2)) for r in ALL}
    assert counts == set(range(5, 9))


def test_custom_bands_are_respected_exactly() -> None:
    bands = bands_from_lists([[1, 1], [3, 3], [6, 6]])
    teacher = TemplateTeacher(bands=bands, seed=1)
    for record in BOTH_KINDS:
        for level, expected in ((1, 1), (2, 3), (3, 6), (4, 6)):
            text = teacher.analysis(record, level)
            assert count_sentences(text) == expected and _reads_back(text) == expected, text
            last = split_sentences(text)[-1]
            assert bool(REFUSAL.search(last)) == record.harmful, text


def test_continuation_of_harmful_record(teacher: TemplateTeacher) -> None:
    for record in HARMFUL:
        ending = teacher.continuation(record)
        assert ending is not None and ending.count(THINK_CLOSE) == 1
        thought, answer = ending.split(THINK_CLOSE)
        assert count_sentences(thought) == 1 and "\n\n" not in thought.strip()
        assert answer.startswith("\n\n") and answer.strip()
        assert re.search(r"can't|won't|not able", answer)
        full = parse_completion(analysis_prefill(teacher.analysis(record, record.level or 1)) + ending)
        assert full.closed and full.answer == answer.strip()


def test_continuation_of_benign_record(teacher: TemplateTeacher) -> None:
    for record in BENIGN:
        ending = teacher.continuation(record)
        assert ending is not None and ending.count(THINK_CLOSE) == 1
        assert ending.endswith(record.reference.strip())
        assert (parse_completion(analysis_prefill(teacher.analysis(record, 1)) + ending).answer
                == record.reference.strip())
    no_reference = dataclasses.replace(BENIGN[0], reference=None)
    assert teacher.continuation(no_reference) is None


def test_batch_analyses_match_single(teacher: TemplateTeacher) -> None:
    records = ALL[:10]
    levels = [r.level or 1 for r in records]
    drafts = teacher.analyses(records, levels)
    assert [d.text for d in drafts] == [teacher.analysis(r, lv) for r, lv in zip(records, levels)]
    assert not any(d.truncated for d in drafts)


@settings(max_examples=150, deadline=None)
@given(prompt=st.text(max_size=300), level=st.integers(1, 5), harmful=st.booleans(), seed=st.integers(0, 10**6))
def test_any_prompt_gets_a_band_exact_analysis(prompt: str, level: int, harmful: bool, seed: int) -> None:
    teacher = TemplateTeacher(seed=seed)
    text = teacher.analysis(Record(prompt=prompt, harmful=harmful), level)
    lo, hi = band_for(level).target()
    assert lo <= count_sentences(text) <= hi and _reads_back(text) == count_sentences(text)
    assert "\n" not in text


def test_the_argument_table_has_one_row_per_place_and_known_facts() -> None:
    from itertools import product

    from rapo_lite.teachers import template

    facts = {"always", "wrapped", "plain", "alarm", "no_alarm", "sensitive", "not_sensitive", "self_harm"}
    for rows in (template.HARMFUL_ROWS, template.BENIGN_ROWS):
        assert {row.when for row in rows.values()} <= facts
        assert all(row.order < template.FILLER_ORDER and len(row.priority) == 3 for row in rows.values())
        parts = rows["parts"].order
        last_part = parts + template.MAX_SETUP_PARTS + template.MAX_CORE_PARTS - 1  # one sentence per part at most
        assert all(not parts < row.order <= last_part for row in rows.values())
        # Rows sharing an order are alternatives: whatever holds of a prompt, at most one is written.
        for holding in product(("wrapped", "plain"), ("alarm", "no_alarm"), ("sensitive", "not_sensitive"),
                               ("self_harm", "always")):
            for level in range(3):
                orders = [row.order for row in rows.values()
                          if row.when in {"always", *holding} and row.priority[level] is not None]
                assert len(orders) == len(set(orders)), (holding, level + 1)


def _openings(teacher: TemplateTeacher) -> tuple[set[str], set[str]]:
    """The words before the quoted request in every analysis, of harmful and of benign prompts."""
    heads: dict[bool, set[str]] = {True: set(), False: set()}
    for record in BOTH_KINDS:
        for level in (1, 2, 3):
            text = teacher.analysis(record, level)
            if '"' in text:
                heads[record.harmful].add(text.split('"', 1)[0])
    return heads[True], heads[False]


def test_shared_openings_do_not_take_a_side_before_the_request_is_quoted():
    """With `openings="shared"`, harmful and benign analyses of the same prompts open with words from
    one set, up to the quoted request; the default openings tell the two kinds apart at once."""
    harmful, benign = _openings(TemplateTeacher(seed=0, openings="shared"))
    assert harmful and harmful == benign
    assert not any(REFUSAL.search(h) or HELPS.search(h) for h in harmful)
    by_kind_harmful, by_kind_benign = _openings(TemplateTeacher(seed=0))
    assert by_kind_harmful and not by_kind_harmful & by_kind_benign


def test_shared_openings_keep_every_other_property(written):
    """Only the first sentence's pool changes: the same sentence counts and the same decisions."""
    shared = TemplateTeacher(seed=0, openings="shared")
    for level, pairs in written.items():
        for record, text in pairs[:40]:
            other = shared.analysis(record, level)
            assert count_sentences(other) == count_sentences(text)
            assert reasoning_decision(other) == reasoning_decision(text) == (
                "refuse" if record.harmful else "help"), other
    with pytest.raises(ValueError, match="openings must be one of by_kind, shared"):
        TemplateTeacher(openings="mixed")


def test_the_recipe_offers_exactly_the_teachers_openings():
    import typing

    from rapo_lite.recipe import SFTConfig
    from rapo_lite.teachers.template import OPENINGS

    assert typing.get_args(typing.get_type_hints(SFTConfig)["template_openings"]) == OPENINGS
