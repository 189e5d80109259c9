"""Reading single cells and columns of a `Table`, and the row type converters produce.

Every helper takes the file, row and column it reads, so an error names the exact cell to
fix; a bad label or level fails loudly instead of becoming a silently wrong record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rapo_lite.data.files import Table
from rapo_lite.errors import RapoError


@dataclass(frozen=True)
class Row:
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


# --- cell helpers ---------------------------------------------------------------------------


def where(t: Table, i: int, column: str) -> str:
    return f"file {t.where} row {i} column '{column}'"


def _is_missing(value: Any) -> bool:
    # NaN is the only value not equal to itself; parquet and pandas use it for empty cells.
    return value is None or (isinstance(value, float) and value != value)


def text(value: Any, where: str) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate from a JSON/YAML \ud800 escape: no tokenizer or file takes it
                raise RapoError(f"{where}: holds invalid Unicode "
                                "(an unpaired surrogate escape such as \\ud800)") from None
        return value
    raise RapoError(f"{where}: expected text, got {type(value).__name__} {str(value)[:40]!r}")


def optional_text(value: Any, where: str) -> str | None:
    found = text(value, where)
    return found if found and found.strip() else None


def category(value: Any, where: str) -> str | None:
    """One category string. Multi-label cells (lists) keep their first label, because reports
    group by a single category and data sets list the main category first."""
    if isinstance(value, (list, tuple)):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not _is_missing(value):
        return str(value)
    found = text(value, where)
    return found.strip() if found and found.strip() else None


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


def level(value: Any, where: str) -> int | None:
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


def harmful_label(value: Any, where: str) -> bool:
    label = _bool(value, where)
    if label is None:
        raise RapoError(f"{where}: empty harmful label (accepted: true/false, 1/0, yes/no)")
    return label


def need(t: Table, opts: Options, *columns: str) -> None:
    for column in columns:
        if column not in t.columns:
            raise RapoError(
                f"file {t.where} has no column '{column}' (columns: {', '.join(t.columns) or 'none'}); "
                f"expected {opts.layout}"
            )


def prompt_column(t: Table, opts: Options, candidates: Sequence[str], sole_column: bool = False) -> str:
    """The column holding prompts: prompt_column= if given, else the first candidate present.

    `sole_column` accepts a one-column file whatever its header, as StrataSword's own
    evaluation script simply reads the first column.
    """
    if opts.prompt_column is not None:
        need(t, opts, opts.prompt_column)
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


def prompt(row: dict[str, Any], column: str, t: Table, i: int) -> str:
    return text(row.get(column), where(t, i, column)) or ""

