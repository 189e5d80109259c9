"""Runs a recipe's stages in order on one policy model, resuming a run that was cut short.

A rerun of the same recipe into the same folder skips the stages that finished, resumes the
one in progress from its newest checkpoint (resume.py), and refuses a folder that belongs
to a different recipe unless `restart` is set.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapo_lite.io import JsonlLog, atomic_write_text
from rapo_lite.recipe import TRAINING_STAGES, Recipe, dump_recipe
from rapo_lite.resume import (
    METRICS_FILE, RunState, clear_run, drop_checkpoints, keep_stage_adapter, prepare_stage, stage_mark,
)

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
    resume: Path | None = None  # the checkpoint the current stage continues from, if any


def pending_stages(recipe: Recipe, state: RunState) -> list[str]:
    """The recipe's stages that still have to run, in order; finished ones are skipped."""
    trained = state.trained()
    todo = []
    for stage in recipe.stages:
        if state.finished.get(stage) == stage_mark(recipe, stage, trained):
            continue
        todo.append(stage)
        if stage in TRAINING_STAGES:
            trained.append(stage)
    return todo


def check_sources(recipe: Recipe, stages: list[str]) -> None:
    """Read every data source the stages will use, so that a missing file, column or an empty
    filter is reported before minutes go into loading a model."""
    from rapo_lite.data import load_sources
    from rapo_lite.data.hygiene import load_training

    for stage in stages:
        if stage in TRAINING_STAGES:
            load_training(recipe.training_sources(stage), recipe.eval.sources, recipe.seed, stage)
        elif recipe.eval.sources:
            load_sources([vars(s) for s in recipe.eval.sources], seed=recipe.seed)


def run(recipe: Recipe, restart: bool = False) -> Path:
    run_dir = recipe.run_dir
    if restart:
        clear_run(run_dir)
    state = RunState.load(run_dir)
    state.check(recipe)
    todo = pending_stages(recipe, state)
    for stage in recipe.stages:
        if stage not in todo:
            print(f"[rapo-lite] stage {stage}: finished earlier, skipped (--restart runs the whole recipe again)")
    if not todo:
        print(f"[rapo-lite] nothing to do: every stage of {run_dir} has finished")
        return run_dir
    check_sources(recipe, todo)
    if recipe.model.backend == "unsloth":
        # Unsloth patches transformers, PEFT and TRL when imported, so it must come first; a
        # missing package is reported by load_model with the install command.
        try:
            import unsloth  # noqa: F401
        except ImportError:
            pass
    from rapo_lite.model import load_adapter_weights, load_model, locate_model, trainable_parameters

    locate_model(recipe.model)
    run_dir.mkdir(parents=True, exist_ok=True)
    state.begin(recipe)
    atomic_write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
    metrics_path = run_dir / METRICS_FILE

    import transformers

    transformers.set_seed(recipe.seed)
    model, tokenizer = load_model(recipe.model, recipe.lora, recipe.seed,
                                  fast_inference=recipe.rl.fast_inference and "rl" in recipe.stages)
    if recipe.lora.init_from:
        load_adapter_weights(model, recipe.lora.init_from)
        print(f"[rapo-lite] adapter initialised from {recipe.lora.init_from}")
    trainable, total = trainable_parameters(model)
    print(f"[rapo-lite] {recipe.model.name_or_path} via {recipe.model.backend}: {trainable:,} trainable of {total:,} parameters")
    if state.trained() and load_adapter_weights(model, run_dir / "adapter", f"{run_dir} (resuming)", required=False):
        print(f"[rapo-lite] continuing from the adapter of the finished stages ({', '.join(state.trained())})")
    ctx = RunContext(recipe, run_dir, model, tokenizer, JsonlLog(metrics_path))
    for stage in todo:
        ctx.resume = prepare_stage(run_dir, stage)
        print(f"[rapo-lite] stage {stage}" + (f" (resuming from {ctx.resume})" if ctx.resume else ""))
        state.begin(recipe, stage)
        importlib.import_module(STAGE_MODULES[stage]).run(ctx)
        keep_stage_adapter(run_dir, stage)
        state.finish(stage, stage_mark(recipe, stage, state.trained()))
        drop_checkpoints(run_dir, stage)
    print(f"[rapo-lite] done: {run_dir}")
    return run_dir
