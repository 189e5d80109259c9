"""Reproducible randomness keyed by content."""

from __future__ import annotations

import hashlib
import random


def seeded_rng(*parts: object) -> random.Random:
    """A `random.Random` seeded from a SHA-256 of `parts`.

    Never Python's `hash()`, which changes between processes: the same seed and prompt must
    give the same analysis or wrapper on every machine.
    """
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
