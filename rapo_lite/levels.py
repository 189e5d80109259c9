"""Risk levels and how much safety reasoning each one calls for.

This is the single definition of the length bands. The SFT generator writes analyses inside
the band and the RL reward judges traces against the same band: the official RAPO code used
2-3 / 4-6 / >=8 sentences for generation but 2-4 / 5-8 / >8 in its judge, so a "perfect"
warm-up trace could be scored too short. Here both read `Band`s from the recipe.

Levels: 1 = direct request, 2 = indirect (role-play, hypothetical, wrapper),
3 and above = obfuscated or complex (code, encodings, logic traps, multi-step, long).
Levels above the last band reuse the last band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapo_lite.errors import RapoError

LEVEL_NAMES = {1: "direct", 2: "indirect", 3: "obfuscated"}

LengthCase = Literal["too_short", "adequate", "too_long"]


@dataclass(frozen=True)
class Band:
    """Inclusive range of safety-reasoning sentences; `max=None` means no upper bound."""

    min: int
    max: int | None = None

    def contains(self, n: int) -> bool:
        return n >= self.min and (self.max is None or n <= self.max)

    def target(self, spread: int = 3) -> tuple[int, int]:
        """A finite (lo, hi) range a generator can aim for inside this band."""
        hi = self.max if self.max is not None else self.min + spread
        return self.min, hi

    def __str__(self) -> str:
        return f"{self.min}-{self.max}" if self.max is not None else f">={self.min}"


DEFAULT_BANDS: tuple[Band, ...] = (Band(2, 4), Band(5, 8), Band(9, None))


def bands_from_lists(raw: Sequence[Sequence[int | None]], field: str = "risk.bands") -> tuple[Band, ...]:
    """Validate `[[2, 4], [5, 8], [9, null]]`-style bands from a recipe.

    Bands must be listed by level, be non-empty ranges, and not overlap or go backwards,
    because a sentence count that fits two levels would make the reward ambiguous.
    Only the last band may be open-ended.
    """
    if not raw:
        raise RapoError(f"{field}: needs at least one band, e.g. [[2, 4], [5, 8], [9, null]]")
    bands: list[Band] = []
    for i, pair in enumerate(raw):
        where = f"{field}[{i}] (level {i + 1})"
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RapoError(f"{where}: expected [min, max] with max an integer or null, got {pair!r}")
        lo, hi = pair
        if isinstance(lo, bool) or not isinstance(lo, int) or lo < 1:
            raise RapoError(f"{where}: min must be an integer >= 1, got {lo!r}")
        if hi is not None and (isinstance(hi, bool) or not isinstance(hi, int) or hi < lo):
            raise RapoError(f"{where}: max must be null or an integer >= min ({lo}), got {hi!r}")
        if hi is None and i != len(raw) - 1:
            raise RapoError(f"{where}: only the last band may have max null (open-ended)")
        if bands and lo <= (bands[-1].max or 0):
            raise RapoError(f"{where}: min {lo} overlaps the previous band {bands[-1]}; bands must increase")
        bands.append(Band(lo, hi))
    return tuple(bands)


def band_for(level: int, bands: Sequence[Band] = DEFAULT_BANDS) -> Band:
    if level < 1:
        raise RapoError(f"risk level must be >= 1, got {level}")
    return bands[min(level, len(bands)) - 1]


def length_case(n_sentences: int, level: int, bands: Sequence[Band] = DEFAULT_BANDS) -> LengthCase:
    """Whether `n_sentences` of safety reasoning is too short, adequate or too long for `level`."""
    band = band_for(level, bands)
    if n_sentences < band.min:
        return "too_short"
    if band.max is not None and n_sentences > band.max:
        return "too_long"
    return "adequate"


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, LEVEL_NAMES[3])
