"""Dataclass fields that carry their own help text and lower bound, and the error a section raises.

The recipe sections and the data-source spec are plain dataclasses whose fields say what
they mean (`--help-recipe` prints it) and, for sizes and counts, the least value that makes
sense. A section checks its own values when it is built, so a bad value is refused however
the section was made: from YAML, from an override or in Python.

A section does not know where it sits in a recipe, so its errors name the field relative to
itself (`num_generations`); the recipe loader, which does know, puts the dotted path of the
section in front (`rl.num_generations`) with `SettingError.under`.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from rapo_lite.errors import RapoError


def setting(default: Any, help: str, *, min: int | None = None) -> Any:
    """A dataclass field with a help text and, optionally, the smallest value it accepts.

    Lists, mappings and nested sections get a fresh deep copy per instance, so no two
    recipes share a mutable default.
    """
    metadata: dict[str, Any] = {"help": help}
    if min is not None:
        metadata["min"] = min
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=lambda d=default: copy.deepcopy(d), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class SettingError(RapoError):
    """A value of an accepted type that its section refuses.

    `key` is the field relative to the section that raised it ('' when the problem is the
    section as a whole); `problem` says what is wrong and what would do.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem

    def under(self, section: str) -> SettingError:
        """The same error named from one level up, e.g. `num_generations` inside `rl`."""
        if not section:
            return self
        return SettingError(f"{section}.{self.key}" if self.key else section, self.problem)


class Bounded:
    """Base of a section whose fields may declare `min=`; checked when an instance is built.

    A subclass with checks of its own defines `__post_init__` and calls this one first, so the
    simple bounds are reported before the rules that combine fields.
    """

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            low = f.metadata.get("min")
            value = getattr(self, f.name)
            if low is not None and value < low:
                raise SettingError(f.name, f"must be >= {low}, got {value}")
