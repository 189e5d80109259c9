"""Keeping training prompts out of the evaluation sets.

The official RAPO code trained its RL stage on the first 300 prompts of the WildJailbreak
split it then reported results on. Every training stage here calls `check_disjoint` against
the recipe's evaluation sources before it trains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapo_lite.data.records import Record
from rapo_lite.data.sources import load_sources
from rapo_lite.data.spec import SourceSpec
from rapo_lite.errors import RapoError

# Function words carry no request: without them two unrelated short questions ("what's the
# difference between a virus and a bacterium?" / "... a felony and a misdemeanor?") are not near.
FUNCTION_WORDS = frozenset(
    "a an the and or of to in on for with by at from is are was were be do does did what whats how why "
    "when where which who can could should would i you my your it its this that s".split()
)


def content_words(text: str) -> set[str]:
    """The lower-cased letter runs of `text` that are not function words."""
    return set(re.findall(r"[a-z]+", text.lower())) - FUNCTION_WORDS


def word_overlap(a: set[str], b: set[str]) -> float:
    """Jaccard overlap of two word sets (0 when both are empty): how near one prompt is to another."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def normalise_prompt(prompt: str) -> str:
    """Case- and whitespace-insensitive form used to compare prompts."""
    return " ".join(prompt.casefold().split())


def check_disjoint(train: Sequence[Record], evaluation: Sequence[Record], stage: str) -> None:
    """Raise when a training prompt also appears among the evaluation prompts."""
    held_out = {normalise_prompt(r.prompt): r for r in evaluation}
    clashes = [(t, held_out[normalise_prompt(t.prompt)]) for t in train if normalise_prompt(t.prompt) in held_out]
    if clashes:
        t, e = clashes[0]
        example = t.prompt if len(t.prompt) <= 80 else t.prompt[:77] + "..."
        raise RapoError(
            f"{stage}: {len(clashes)} training prompt(s) also appear in the evaluation sources (eval.sources), "
            f"e.g. {example!r} from {t.source or 'training data'} and {e.source or 'evaluation data'}; "
            "use different sources or rows for training and evaluation"
        )


def load_training(
    sources: Sequence[SourceSpec], eval_sources: Sequence[SourceSpec], seed: int, stage: str
) -> list[Record]:
    """A stage's training records, checked against the evaluation sources before it trains on them."""
    train = load_sources(sources, seed=seed)
    if eval_sources:
        check_disjoint(train, load_sources(eval_sources, seed=seed), stage)
    return train
