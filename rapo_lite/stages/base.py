"""The contract between the runner and a stage: what a stage is handed, and what it declares.

The runner hands every stage one `RunContext`. Each stage module ends with a `STAGE = Stage(...)`
that names its `run`, the run files it appends to (resume cuts them back to a checkpoint) and
its memory plan (the planner sums it); `rapo_lite.stages.registry` lists them.

Nothing heavy is imported here: the planner reads the registry without loading torch or TRL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase

    from rapo_lite.io import JsonlLog
    from rapo_lite.planner import Planner, StagePlan, Term
    from rapo_lite.recipe import Recipe


@dataclass
class RunContext:
    """One run's policy and folders, shared by the stages in recipe order."""

    recipe: Recipe
    run_dir: Path
    model: PeftModel  # both backends wrap the base in PEFT: the adapter trains, the base stays frozen
    tokenizer: PreTrainedTokenizerBase
    metrics: JsonlLog
    resume: Path | None = None  # set by the runner before each stage: the checkpoint it continues from


def _no_run_terms(planner: Planner) -> tuple[Term, ...]:
    return ()


@dataclass(frozen=True)
class Stage:
    """What the runner, resume and the planner need to know about one stage."""

    name: str
    run: Callable[[RunContext], None]
    # Its peak memory, built from the shared terms of the planner with this stage's own sizes.
    plan: Callable[[Planner], StagePlan]
    # Run files whose every row is this stage's. metrics.jsonl is not listed: all stages share
    # it, and resume tells their rows apart by the `stage` column.
    logs: tuple[str, ...] = ()
    # Memory the stage holds on the card for the whole run, whichever stage is running: something
    # loaded with the model because this stage is in the recipe (RL's colocated vLLM engine).
    run_terms: Callable[[Planner], tuple[Term, ...]] = _no_run_terms
