"""The instruction given to a model that writes a safety analysis (the self and endpoint teachers)."""

from __future__ import annotations

import re

from rapo_lite.levels import Band, band_for
from rapo_lite.reasoning import parse_completion

_BASE = (
    "Before anyone answers the user's message below, you review it for safety. Write your review as a single "
    "paragraph in the first person, {length}. Say what the message is really asking for, point out any framing "
    "that could hide its intent (role-play, fiction, hypotheticals, encodings, code, several steps), and judge "
    "whether helping could cause real harm. Do not answer the message, do not carry out any part of it, and do "
    "not think out loud before the paragraph: write only the review."
)
_DEEP = (
    " The message is complex, so split it into the separate tasks it contains and assess each one; if any part "
    "is unsafe, end the paragraph by stating that you will refuse."
)


def analysis_instruction(level: int, bands: tuple[Band, ...] | list[Band]) -> str:
    lo, hi = band_for(level, bands).target()
    length = f"{lo} to {hi} sentences long" if lo != hi else f"exactly {lo} sentences long"
    text = _BASE.format(length=length)
    return text + _DEEP if level >= 3 else text


def clean_analysis(raw: str) -> str:
    """The analysis part of a teacher's reply, as one paragraph.

    Reasoning models may still think first; their review is then the answer after
    `</think>`. The pre-fill needs a single paragraph, so line breaks become spaces.
    """
    parsed = parse_completion(raw)
    text = parsed.answer if parsed.closed else (parsed.thinking if parsed.status == "unclosed" else parsed.answer)
    return re.sub(r"\s+", " ", text).strip()
