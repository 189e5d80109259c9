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


# A line that starts a list item: "1. " / "2) " / "- " / "* " / "• " / "Step 3:". The marker must be
# followed by a space, so "1.5 grams" and "-9" are not list items.
LIST_ITEM = re.compile(r"^[ \t]*(?:(?:\d{1,2}[.)]|[-*\u2022])[ \t]+|step[ \t]+\d+[:.)]?[ \t]*)(?=\S)",
                       re.IGNORECASE | re.MULTILINE)
# A numbered line only ("1. ", "(2) ", "Step 3: "), with the item's text as group 1.
NUMBERED_ITEM = re.compile(r"^\s*(?:step\s*)?\(?\d{1,2}[.):]\s+(.+)$", re.IGNORECASE | re.MULTILINE)
# A fenced code block, or an unclosed fence running to the end.
CODE_FENCE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
# A markdown heading line.
HEADING = re.compile(r"^\s*#{1,4}\s+\S", re.MULTILINE)


def list_items(text: str) -> int:
    """How many lines of `text` start a list item."""
    return len(LIST_ITEM.findall(text))


def content_lines(text: str) -> int:
    """List items plus markdown headings: the lines that structure handed-over material."""
    return list_items(text) + len(HEADING.findall(text))


def strip_list_marker(line: str) -> str:
    """`line` without a leading list marker ("2. ", "- ", "Step 3: ")."""
    marked = LIST_ITEM.match(line)
    return line[marked.end():] if marked else line


_TOKEN = re.compile(r"[a-z0-9']+")
# Below this share of distinct word 4-grams a text is looping ("I'm here to help you. I'm here to help you.").
DEGENERATE_SHARE = 0.6


def degenerate(text: str, min_words: int = 20) -> bool:
    """Whether a text mostly repeats itself, as small models do when they loop; such text helps no one."""
    words = _TOKEN.findall(text.lower())
    if len(words) < min_words:
        return False
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    return len(set(grams)) / len(grams) < DEGENERATE_SHARE
