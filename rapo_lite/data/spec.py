"""What a caller asks of one data source: `SourceSpec`, the one schema of a source entry.

A recipe's `data.sources`, `rl.sources`, `ipo.sources` and `eval.sources` are lists of these,
`load_source(...)` builds one from its keyword arguments, and the loader, the per-run cache and
the train/eval disjointness check all take it as it is. Its values are checked when it is
built, against the source registry, so nothing downstream checks them again.

It is frozen (and `levels` a tuple) so that a spec can key the per-run cache of loaded sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from rapo_lite.data.registry import get_source
from rapo_lite.data.wrappers import WRAPS
from rapo_lite.errors import RapoError
from rapo_lite.fields import SettingError, setting


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SourceSpec:
    name: str = setting("samples", "A named source (see rapo_lite.data.SOURCE_NAMES) or 'file' for a generic file.")
    path: str | None = setting(None, "File, folder or hub name for user-supplied sources; overrides a packaged file.")
    split: str | None = setting(None, "Split to read when `path` is a hub data set (default: train).")
    count: int | None = setting(None, "Take at most this many rows, picked by a seeded shuffle; null takes all.")
    harmful: bool | None = setting(
        None, "For sources without labels: the label of every row. "
              "For labelled sources: keep only rows with this label."
    )
    level: int | None = setting(None, "Override the risk level of every row (1 direct, 2 indirect, 3+ obfuscated).")
    levels: tuple[int, ...] | None = setting(None, "Keep only rows whose risk level is in this list.")
    prompt_column: str | None = setting(
        None, "Column holding the prompt, for 'file' sources with another column name."
    )
    wrap: Literal["roleplay", "encoded"] | None = setting(
        None,
        "Make each prompt harder: roleplay puts it after a real in-the-wild jailbreak prompt (level 2-3), encoded "
        "sends it in base64 (level 3). For reporting attack success per risk level.",
    )

    def __post_init__(self) -> None:
        # Errors name the source, not a field: a spec built in Python has no recipe key, and the
        # recipe loader adds the entry's key (data.sources[0]) in front of these.
        try:
            source = get_source(self.name)
        except RapoError as err:
            raise SettingError("", str(err)) from None
        where = f"data source '{source.name}'"
        path, levels = self.path, self.levels
        if (path is not None and not isinstance(path, (str, os.PathLike))) or path == "":
            raise SettingError("", f"{where}: path must be a file, folder or hub name, got {path!r}")
        if self.split is not None and (not isinstance(self.split, str) or not self.split):
            raise SettingError("", f"{where}: split must be a split name such as 'train' or 'test', got {self.split!r}")
        if self.count is not None and (not _whole(self.count) or self.count <= 0):
            raise SettingError(
                "", f"{where}: count must be a positive whole number (or null for all rows), got {self.count!r}"
            )
        if self.harmful is not None and not isinstance(self.harmful, bool):
            raise SettingError("", f"{where}: harmful must be true, false or null, got {self.harmful!r}")
        if self.level is not None and (not _whole(self.level) or self.level < 1):
            raise SettingError(
                "", f"{where}: level must be a whole number >= 1 (or null to keep the data set's), got {self.level!r}"
            )
        if levels is not None and (
            not isinstance(levels, (list, tuple)) or not levels or not all(_whole(v) and v >= 1 for v in levels)
        ):
            shown = list(levels) if isinstance(levels, tuple) else levels  # the recipe loader passes a tuple
            raise SettingError(
                "", f"{where}: levels must be a non-empty list of whole numbers >= 1, e.g. [1, 2], got {shown!r}"
            )
        if self.prompt_column is not None:
            if not isinstance(self.prompt_column, str) or not self.prompt_column:
                raise SettingError("", f"{where}: prompt_column must be a column name, got {self.prompt_column!r}")
            if not source.prompt_override:
                raise SettingError("", f"{where}: prompt_column is not supported (the prompt is adversarial, else "
                                       "vanilla); drop it or use source 'file'")
        if self.wrap is not None and self.wrap not in WRAPS:
            raise SettingError("", f"{where}: wrap must be one of {', '.join(WRAPS)} (or null), got {self.wrap!r}")
        # Python callers may pass a Path and a list; stored as str and tuple, the spec stays hashable.
        if path is not None:
            object.__setattr__(self, "path", os.fspath(path))
        if levels is not None:
            object.__setattr__(self, "levels", tuple(levels))
