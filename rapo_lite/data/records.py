"""The one record type every data source is turned into."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Record:
    """One training or evaluation prompt.

    prompt: the user turn, exactly as it will be sent to the model.
    harmful: whether a safe model should refuse it (benign prompts that merely *sound*
        dangerous are harmful=False: they measure over-refusal).
    level: risk level (1 direct, 2 indirect/wrapped, 3+ obfuscated/complex) when the data
        set says so; None means "estimate it from the prompt" (`rapo_lite.risk`).
    source: where it came from, e.g. "jailbreakbench" or "file:my.jsonl"; reports group by it.
    reference: a known good answer (benign data sets ship one), or None.
    category: the data set's own harm category, when it has one.
    """

    prompt: str
    harmful: bool
    level: int | None = None
    source: str = ""
    reference: str | None = None
    category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
