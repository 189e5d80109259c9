"""Prompt-shape detectors: how a prompt is wrapped, read off its surface alone.

Each public `has_*` function answers one yes/no question about the *form* of a prompt (is
there a persona, a fictional frame, a template to fill, a payload cut into pieces...), never
about whether the request is harmful. `rapo_lite.risk` combines them into a risk level.

The patterns are written from what makes a prompt indirect in general, not from the wording
of particular attacks: an instruction about *how* to answer, a frame that changes who is
speaking or why, a payload the reader has to put back together, a structure that smuggles
the request in as blanks to fill. Callers pass text through `lexicon.normalise` first, so
curly quotes never need spelling out here.

The detectors live in one module per family; this one is their public face, and re-exports
what `rapo_lite.risk` uses (every `has_*`, the task counts, the narrative text, and the
encoding helpers it decodes hidden text with):

- `frames`: personas, fictional and historical frames, pretexts (who is speaking, and why);
- `steering`: answer steering, nested instructions, logic traps (rules aimed at the reply);
- `obfuscation`: split payloads, encodings, other languages (text to decode or reassemble);
- `structure`: code and templates, staged conversations, chained tasks, and the text the
  sentence counts are taken on.
"""

from __future__ import annotations

from rapo_lite.text.shape.frames import has_fictional_frame, has_pretext, has_roleplay
from rapo_lite.text.shape.obfuscation import (
    BASE64_RUN,
    HEX_RUN,
    LEET_MIN_TOKENS,
    caesar_shift,
    has_encoding,
    has_other_language,
    has_split_payload,
    leet_tokens,
    shift_letters,
)
from rapo_lite.text.shape.steering import has_answer_steering, has_logic_trap, has_nested_instructions
from rapo_lite.text.shape.structure import (
    count_labelled_tasks,
    count_steps,
    has_code,
    has_fake_dialogue,
    has_template,
    narrative,
)

__all__ = [
    "BASE64_RUN",
    "HEX_RUN",
    "LEET_MIN_TOKENS",
    "caesar_shift",
    "count_labelled_tasks",
    "count_steps",
    "has_answer_steering",
    "has_code",
    "has_fake_dialogue",
    "has_fictional_frame",
    "has_encoding",
    "has_logic_trap",
    "has_nested_instructions",
    "has_other_language",
    "has_pretext",
    "has_roleplay",
    "has_split_payload",
    "has_template",
    "leet_tokens",
    "narrative",
    "shift_letters",
]
