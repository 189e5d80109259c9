"""Teachers that write the SFT warm-up data.

A teacher does RAPO's first pass: for each prompt, a first-person safety analysis whose
length fits the prompt's risk level. It may also supply the rest of the completion
(`continuation`, given the policy's own plain answer when the recipe asks for one); where it
returns None, the policy model continues from the pre-filled analysis, as in the paper's
second pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rapo_lite.data.records import Record
from rapo_lite.levels import Band


@dataclass(frozen=True)
class Draft:
    """A teacher's analysis. truncated: generation hit its token cap, so the text is cut off."""

    text: str
    truncated: bool = False


class Teacher(Protocol):
    name: str

    def analyses(self, records: Sequence[Record], levels: Sequence[int]) -> list[Draft]: ...

    def continuation(self, record: Record, answer: str | None = None) -> str | None: ...


def make_teacher(kind: str, bands: Sequence[Band], sft: Any, seed: int, model: Any = None,
                 tokenizer: Any = None) -> Teacher:
    """Build the teacher named in `sft.teacher` (the recipe's SFTConfig)."""
    if kind == "template":
        from rapo_lite.teachers.template import TemplateTeacher

        return TemplateTeacher(bands=bands, seed=seed, openings=sft.template_openings)
    if kind == "self":
        from rapo_lite.teachers.policy import PolicyTeacher

        return PolicyTeacher(model, tokenizer, bands, sft, seed)
    from rapo_lite.teachers.remote import EndpointTeacher

    return EndpointTeacher(bands, sft)
