"""The think-block format and sentence counting: one definition for the whole kit.

A reasoning completion looks like `<think>\\n...thinking...\\n</think>\\n\\nanswer`. Models and
chat templates disagree on details (R1-style templates put `<think>` in the prompt, so the
completion only has the closing tag; a completion cut at the token cap never closes), so
`parse_completion` reports which case it saw instead of guessing. An unclosed block has an
empty answer on purpose: the official RAPO code let a judge call such an empty answer "safe".

Sentences are counted with a rule-based splitter that knows abbreviations, initials,
decimals, numbered lists and line breaks; the official code's `text.count('. ') + 1`
counted "e.g. 3.5 mg" as two sentences and a bullet list as one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# RAPO pre-fills the assistant turn with this lead-in before the safety analysis.
ANALYSIS_LEAD = "Okay, "

ThinkStatus = Literal["closed", "unclosed", "missing"]


@dataclass(frozen=True)
class Completion:
    """A completion split into its thinking and its answer.

    status: "closed" (a `</think>` was found; an opening tag is optional because some
    templates put it in the prompt), "unclosed" (`<think>` without `</think>`: the answer is
    empty), or "missing" (no tags at all: everything is answer, thinking is empty).
    """

    thinking: str
    answer: str
    status: ThinkStatus

    @property
    def closed(self) -> bool:
        return self.status == "closed"


def parse_completion(text: str) -> Completion:
    close = text.find(THINK_CLOSE)
    opening = text.find(THINK_OPEN)
    if close != -1:
        start = opening + len(THINK_OPEN) if -1 < opening < close else 0
        return Completion(text[start:close].strip(), text[close + len(THINK_CLOSE):].strip(), "closed")
    if opening != -1:
        return Completion(text[opening + len(THINK_OPEN):].strip(), "", "unclosed")
    return Completion("", text.strip(), "missing")


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def safety_paragraph(thinking: str) -> str:
    """The first paragraph of the thinking: where RAPO expects the safety analysis."""
    return _PARAGRAPH_BREAK.split(thinking.strip(), maxsplit=1)[0].strip()


def format_completion(thinking: str, answer: str) -> str:
    return f"{THINK_OPEN}\n{thinking.strip()}\n{THINK_CLOSE}\n\n{answer.strip()}"


def analysis_prefill(analysis: str) -> str:
    """The pre-filled start of the assistant turn: `<think>`, the lead-in, the analysis, a blank line.

    The model (or the template teacher) continues from here; the blank line makes the
    analysis the first paragraph, which is what the reward later reads back.
    """
    body = analysis.strip()
    if body and not re.match(r"I\b", body):
        body = body[0].lower() + body[1:]
    return f"{THINK_OPEN}\n{ANALYSIS_LEAD}{body}\n\n"


# ---------------------------------------------------------------------------- sentences

# Abbreviations that never end a sentence (a name or an example always follows) ...
_NEVER_FINAL = frozenset("mr mrs ms dr prof sr jr st vs cf fig figs eq vol pp al ca approx e.g i.e".split())
# ... and ones that end it when the next word is capitalised ("for 5 min. Then", "etc. The").
_MAYBE_FINAL = frozenset(
    """etc inc ltd co corp dept est govt min max resp mt ft jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
# Terminal punctuation, optional closing quotes/brackets, then whitespace.
_END = re.compile(r"(?:[.!?]+|\u2026)[\"'\u201d\u2019)\]]*(?=\s)")
_CLOSED = re.compile(r"(?:[.!?]+|\u2026)[\"'\u201d\u2019)\]]*$")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*\u2022]\s*)?(?:\d{1,3}|[A-Za-z]|[ivxlcIVXLC]{1,5})$")


def _false_end(text: str, sent_start: int, punct_start: int, end: int, line_end: int) -> bool:
    punct = text[punct_start:end].rstrip("\"'\u201d\u2019)]")
    head = text[sent_start:punct_start]
    nxt = text[end:line_end].lstrip()[:1]
    if punct == "." and _LIST_MARKER.match(head):
        return True  # "1. Step one" or "a. first": a list marker, not a sentence
    if punct == ".":
        m = _WORD_BEFORE.search(head)
        if m:
            word = m.group(1).lower().rstrip(".")
            if word in _NEVER_FINAL:
                return True
            if len(word) == 1 and m.group(1).isupper():
                return True  # an initial: "J. Smith"
            if word in _MAYBE_FINAL or "." in word:  # "etc", "min", dotted "u.s", "a.m"
                return not nxt.isupper()
    if punct in ("...", "\u2026") or punct.endswith(".."):
        return bool(nxt) and nxt.islower()  # "wait... maybe" continues the sentence
    return False


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character (start, end) spans of the sentences in `text`; `text[start:end]` is the sentence.

    Every line break ends a sentence (reasoning traces use lines for bullets and steps).
    Spans are trimmed of surrounding whitespace and only kept if they hold a letter or digit.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        start = line_start
        for m in _END.finditer(text, line_start, line_end):
            if not _false_end(text, start, m.start(), m.end(), line_end):
                _keep(text, start, m.end(), spans)
                start = m.end()
        _keep(text, start, line_end, spans)
    return spans


def _keep(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if any(ch.isalnum() for ch in stripped):
        lead = len(chunk) - len(chunk.lstrip())
        spans.append((start + lead, start + lead + len(stripped)))


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def count_sentences(text: str) -> int:
    return len(sentence_spans(text))


def complete_sentences(text: str) -> str:
    """`text` without its last sentence when that one was cut off mid-way (no closing punctuation).

    For generations stopped by a token cap; earlier lines count as complete, since only the
    last can have been cut.
    """
    spans = sentence_spans(text)
    if spans and not _CLOSED.search(text[spans[-1][0]:spans[-1][1]]):
        spans = spans[:-1]
    return text[: spans[-1][1]] if spans else ""
