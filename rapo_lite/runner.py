"""Runs a recipe's stages in order on one policy model."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapo_lite.io import JsonlLog, atomic_write_text
from rapo_lite.recipe import Recipe, dump_recipe

# Stage name -> module with a `run(ctx)` function; recipe.validate() has already refused any
# other name, before a model is loaded.
STAGE_MODULES = {
    "sft": "rapo_lite.stages.sft",
    "rl": "rapo_lite.stages.rl",
    "ipo": "rapo_lite.stages.ipo",
    "eval": "rapo_lite.stages.eval",
}


@dataclass
class RunContext:
    recipe: Recipe
    run_dir: Path
    model: Any
    tokenizer: Any
    metrics: JsonlLog


def run(recipe: Recipe) -> Path:
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
    if recipe.lora.init_from:
        from rapo_lite.model import load_adapter_weights

        load_adapter_weights(model, recipe.lora.init_from)
        print(f"[rapo-lite] adapter initialised from {recipe.lora.init_from}")
    trainable, total = trainable_parameters(model)
    print(f"[rapo-lite] {recipe.model.name_or_path} via {recipe.model.backend}: {trainable:,} trainable of {total:,} parameters")
    ctx = RunContext(recipe, run_dir, model, tokenizer, JsonlLog(metrics_path))
    for stage in recipe.stages:
        print(f"[rapo-lite] stage {stage}")
        importlib.import_module(STAGE_MODULES[stage]).run(ctx)
    print(f"[rapo-lite] done: {run_dir}")
    return run_dir
