"""Loading data sources into `Record`s, each read once per run.

A `SourceSpec` (spec.py) says what to read and has checked itself; this module reads the
files, applies the labels and filters, samples `count` rows and wraps prompts. Labels are
decided in one place (`_settle`): a row that leaves `harmful` unset gets the caller's
`harmful=` or the source's default, which is what lets `harmful=` mean "label" for
unlabelled sets and "filter" for labelled ones without every converter re-implementing it.

Inside `source_cache()` (the runner wraps each run in it) a spec loaded with the same seed
is read from disk only the first time: the preflight check, every training stage's
disjointness check and the eval stage all ask for the evaluation sources.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import fields
from pathlib import Path

from rapo_lite.data.cells import Options, Row
from rapo_lite.data.files import HUB_PREFIX, read_tables
from rapo_lite.data.records import Record
from rapo_lite.data.registry import SOURCE_NAMES, Source, default_location, get_source
from rapo_lite.data.spec import SourceSpec
from rapo_lite.errors import RapoError, did_you_mean

# Keys a mapping passed to load_sources may hold: a spec's fields, and a seed of its own.
_MAPPING_KEYS = (*(f.name for f in fields(SourceSpec)), "seed")

_Loaded = dict[tuple[SourceSpec, int], tuple[Record, ...]]
_cache: ContextVar[_Loaded | None] = ContextVar("rapo_lite_source_cache", default=None)


@contextlib.contextmanager
def source_cache() -> Iterator[None]:
    """Within this block (or a function decorated with it) each spec and seed is read once.

    The cache lives only as long as the block, so files edited between two runs in one
    process are read again. Nested blocks share the outer cache.
    """
    if _cache.get() is not None:
        yield
        return
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


def load_spec(spec: SourceSpec, seed: int = 0) -> list[Record]:
    """The records of one source; a fresh list, so a caller may reorder or extend it freely.

    `count` rows are picked by a `random.Random(seed)` shuffle and returned in file order;
    `wrap` rewrites each prompt (wrappers.py), labelling the source e.g. "jailbreakbench+roleplay".
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RapoError(f"data source '{get_source(spec.name).name}': seed must be a whole number, got {seed!r}")
    loaded = _cache.get()
    if loaded is None:
        return _read(spec, seed)
    key = (spec, seed)
    if key not in loaded:
        loaded[key] = tuple(_read(spec, seed))  # Records are frozen: sharing them between callers is safe
    return list(loaded[key])


def load_source(
    name: str,
    path: str | None = None,
    split: str | None = None,
    count: int | None = None,
    harmful: bool | None = None,
    level: int | None = None,
    levels: Sequence[int] | None = None,
    prompt_column: str | None = None,
    seed: int = 0,
    wrap: str | None = None,
) -> list[Record]:
    """Records from one named source (see `SOURCE_NAMES`) or a generic `file`.

    harmful= labels every row of a source without labels of its own, and filters a source
    that has them. level= overrides every row's level; levels= keeps rows at those levels.
    count= keeps a seeded subset; wrap= ("roleplay" or "encoded") makes each prompt harder.
    """
    spec = SourceSpec(name, path, split, count, harmful, level, levels, prompt_column, wrap)
    return load_spec(spec, seed)


def load_sources(specs: Sequence[SourceSpec | Mapping[str, object]], seed: int = 0) -> list[Record]:
    """Records of several sources, concatenated in order.

    Each entry is a `SourceSpec` (a recipe's sources) or a mapping of `load_source` keyword
    arguments; a mapping without its own `seed` uses `seed`.
    """
    if not isinstance(specs, (list, tuple)) or not specs:
        raise RapoError(f"data sources: expected a non-empty list of sources like [{{name: jailbreakbench}}], "
                        f"got {specs!r}")
    records: list[Record] = []
    for i, entry in enumerate(specs):
        if isinstance(entry, SourceSpec):
            records.extend(load_spec(entry, seed))
            continue
        if not isinstance(entry, Mapping):
            raise RapoError(f"data sources[{i}]: expected a mapping like {{name: xstest, path: xstest.csv}}, "
                            f"got {entry!r}")
        for key in entry:
            if key not in _MAPPING_KEYS:
                raise RapoError(f"data sources[{i}]: unknown key {key!r}{did_you_mean(str(key), _MAPPING_KEYS)}; "
                                f"accepted: {', '.join(_MAPPING_KEYS)}")
        if "name" not in entry:
            raise RapoError(f"data sources[{i}]: missing 'name' (one of {', '.join(SOURCE_NAMES)})")
        args = {k: v for k, v in entry.items() if k != "seed"}
        records.extend(load_spec(SourceSpec(**args), entry.get("seed", seed)))
    return records


def _read(spec: SourceSpec, seed: int) -> list[Record]:
    source = get_source(spec.name)
    where = f"data source '{source.name}'"
    opts = Options(source.layout, spec.prompt_column, spec.level is not None)
    try:
        location = spec.path if spec.path is not None else default_location(source)
        tables = read_tables(location, spec.split)
        rows = [r for t in tables for r in source.convert(t, opts)]
    except RapoError as exc:
        text = str(exc)
        raise RapoError(text if text.startswith(where) else f"{where}: {text}") from None

    records = _settle(source, location, rows, spec.harmful, spec.level, spec.levels)
    if not records:
        raise RapoError(
            f"{where}: no prompts left from {location}{_describe_filters(spec)} "
            f"(read {len(rows)} rows; rows with empty prompts are dropped)"
        )
    if spec.count is not None and spec.count < len(records):
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        records = [records[i] for i in sorted(order[: spec.count])]
    if spec.wrap is not None:
        from rapo_lite.data.wrappers import wrap_records

        records = wrap_records(records, spec.wrap, seed)
    return records


def _describe_filters(spec: SourceSpec) -> str:
    levels = list(spec.levels) if spec.levels is not None else None  # shown as the recipe writes it
    shown = (("harmful", spec.harmful), ("level", spec.level), ("levels", levels))
    parts = [f"{k}={v!r}" for k, v in shown if v is not None]
    return f" with {', '.join(parts)}" if parts else ""


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
