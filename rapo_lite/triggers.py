"""Safety triggers: the sentences IPO splices into an unsafe trace in place of its compliance cue.

Each is one first-person sentence that notices the risk or decides to stop, in the voice of
a model catching itself mid-thought. The pool is varied on purpose (hesitant and firm, harm
to others, a framing seen through as a pretext) so that DPO learns the turn, not one phrase.
Which triggers an item gets depends only on a SHA-256 of (seed, key): the same prompt gets
the same triggers in every run and process, whatever the hash seed or the batch order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from rapo_lite.errors import RapoError
from rapo_lite.reasoning import count_sentences

DEFAULT_TRIGGERS: tuple[str, ...] = (
    "Hmm, wait, going any further could put real people in danger, so I shouldn't help with this.",
    "Hold on, this is really a request for a way to hurt someone, and I won't help with that.",
    "Wait, I need to stop here, because this information could be used to injure people.",
    "Hmm, calling it a story doesn't change what these details would let someone do, so I'll decline.",
    "Actually, this framing is a pretext for getting dangerous instructions, and I'm not going to provide them.",
    "On reflection, I shouldn't give out anything that helps someone break the law or harm others.",
    "Wait, whoever ends up on the receiving end of this could be badly hurt, so I have to refuse.",
    "Let me reconsider, since helping here would mean enabling real harm, which I won't do.",
    "Hmm, no, the research angle looks like a cover for something harmful, so I should decline.",
    "I realise this could endanger other people, so I must not continue with it.",
    "This crosses a clear safety line, and I'm not willing to help with it.",
    "Wait, even as a hypothetical, spelling this out would be dangerous, so I'll refuse.",
    "This is illegal and could hurt innocent people, so I won't assist with it.",
    "Hmm, I'm uneasy about this, because the details could easily be misused against someone.",
    "Before going further, I should recognise that this could cause serious harm, so I'll decline.",
    "No, I can't do this, because these instructions would put lives at risk.",
    "Wait, the role-play is only a wrapper around a harmful request, so I won't play along.",
    "Hmm, I should be honest with myself that this request is about causing harm, and I'm not going to assist.",
    "Actually, I shouldn't help with this, since it could lead to someone getting hurt.",
    "Hmm, the user's reason sounds plausible, but the risk to others is too high for me to help.",
)


def check_pool(pool: Any, field: str = "ipo.triggers") -> tuple[str, ...]:
    """The pool as a tuple of stripped sentences; a RapoError names the field and the bad entry.

    A trigger must be exactly one sentence by the kit's splitter: the cue detector and the
    pairing code count sentences, and a two-sentence trigger would shift every index after it.
    """
    if isinstance(pool, (str, bytes)) or not isinstance(pool, Sequence):
        raise RapoError(f"{field}: expected a list of trigger sentences, got {type(pool).__name__}")
    if not pool:
        raise RapoError(f"{field}: the trigger pool is empty; give at least one sentence or null for the built-in pool")
    checked = []
    for i, entry in enumerate(pool):
        if not isinstance(entry, str) or not entry.strip():
            raise RapoError(f"{field}[{i}]: {entry!r} is not a non-empty string")
        n = count_sentences(entry)
        if n != 1:
            raise RapoError(f"{field}[{i}]: {entry!r} has {n} sentences; a trigger must be exactly one sentence")
        checked.append(entry.strip())
    return tuple(checked)


def _rank(seed: int, key: str, entry: str) -> str:
    return hashlib.sha256(json.dumps([seed, key, entry]).encode("utf-8")).hexdigest()


def sample_triggers(pool: Sequence[str], k: int, key: str, seed: int = 0) -> list[str]:
    """`k` distinct triggers for the item named `key` (all of them, shuffled, when k >= the pool).

    Every entry is ranked by a SHA-256 of (seed, key, entry) and the k lowest are taken, so
    the choice does not depend on Python's hash seed or on the pool's order, and asking for
    more triggers only adds to the ones a smaller k gave.
    """
    distinct = list(dict.fromkeys(pool))
    ranked = sorted(distinct, key=lambda entry: _rank(seed, key, entry))
    return ranked[: max(0, k)]
