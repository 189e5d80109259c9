"""Runs a recipe's stages in order on one policy model."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapo_lite import __version__
from rapo_lite.errors import RapoError
from rapo_lite.io import JsonlLog, atomic_write_text
from rapo_lite.recipe import Recipe, dump_recipe

# Stage name -> module with a `run(ctx)` function. Stages of the recipe schema that are not
# listed here are refused up front rather than skipped, so a recipe never half-runs.
IMPLEMENTED_STAGES = {"sft": "rapo_lite.stages.sft", "rl": "rapo_lite.stages.rl", "ipo": "rapo_lite.stages.ipo"}


@dataclass
class RunContext:
    recipe: Recipe
    run_dir: Path
    model: Any
    tokenizer: Any
    metrics: JsonlLog


def check_stages(recipe: Recipe) -> None:
    for stage in recipe.stages:
        if stage not in IMPLEMENTED_STAGES:
            raise RapoError(
                f"stages: '{stage}' is part of the recipe schema but not available in rapo-lite {__version__} yet "
                f"(available: {', '.join(IMPLEMENTED_STAGES)}); remove it from stages"
            )


def run(recipe: Recipe) -> Path:
    check_stages(recipe)
    run_dir = recipe.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
    metrics_path = run_dir / "metrics.jsonl"
    metrics_path.unlink(missing_ok=True)  # a rerun starts its log over

    if recipe.model.backend == "unsloth":
        # Unsloth patches transformers, PEFT and TRL when imported, so it must come first; a
        # missing package is reported by load_model with the install command.
        try:
            import unsloth  # noqa: F401
        except ImportError:
            pass
    from rapo_lite.model import load_model, trainable_parameters

    import transformers

    transformers.set_seed(recipe.seed)
    model, tokenizer = load_model(recipe.model, recipe.lora, recipe.seed)
    trainable, total = trainable_parameters(model)
    print(f"[rapo-lite] {recipe.model.name_or_path} via {recipe.model.backend}: {trainable:,} trainable of {total:,} parameters")
    ctx = RunContext(recipe, run_dir, model, tokenizer, JsonlLog(metrics_path))
    for stage in recipe.stages:
        print(f"[rapo-lite] stage {stage}")
        importlib.import_module(IMPLEMENTED_STAGES[stage]).run(ctx)
    print(f"[rapo-lite] done: {run_dir}")
    return run_dir
