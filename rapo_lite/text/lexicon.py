"""Shared lexical pieces for the text heuristics: one definition of each.

Everything here is either a normaliser or a compiled pattern that more than one heuristic
needs; a module that wants "a list item" or "a code fence" imports it from here instead of
spelling its own.
"""

from __future__ import annotations

import re

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u02bc": "'"})


def normalise(text: str) -> str:
    """Curly quotes and apostrophes made plain, so patterns can spell "can't" one way."""
    return text.translate(_QUOTES)


# A line that starts a list item: "1." / "2)" / "- " / "* " / "• " / "Step 3".
LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022]|step\s+\d+[:.)]?)\s*(?=\S)", re.IGNORECASE | re.MULTILINE)
# A numbered line only ("1. ", "(2) ", "Step 3: "), with the item's text as group 1.
NUMBERED_ITEM = re.compile(r"^\s*(?:step\s*)?\(?\d{1,2}[.):]\s+(.*)$", re.IGNORECASE | re.MULTILINE)
# A fenced code block, or an unclosed fence running to the end.
CODE_FENCE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
# A markdown heading line.
HEADING = re.compile(r"^\s*#{1,4}\s+\S", re.MULTILINE)


def list_items(text: str) -> int:
    """How many lines of `text` start a list item."""
    return len(LIST_ITEM.findall(text))
