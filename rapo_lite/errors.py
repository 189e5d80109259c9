"""The project's one error type.

Everything a user can get wrong (a recipe, a data file, a model path) raises `RapoError`
with a message that names the field, file or value and says what would be accepted.
The CLI prints these as one line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RapoError(Exception):
    """A problem with the user's input or environment, explained in the message."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
