"""Runs a recipe's stages in order on one policy model, resuming a run that was cut short.

A rerun of the same recipe into the same folder skips the stages that finished, resumes the
one in progress from its newest checkpoint (resume.py), and refuses a folder that belongs
to a different recipe unless `restart` is set.
"""

from __future__ import annotations

import os
from pathlib import Path

from rapo_lite.data import source_cache
from rapo_lite.distributed import barrier, from_main, hold_run_folder, is_main
from rapo_lite.errors import RapoError
from rapo_lite.io import JsonlLog, atomic_write_text
from rapo_lite.recipe import TRAINING_STAGES, EndpointConfig, Recipe, dump_recipe
from rapo_lite.resume import (
    METRICS_FILE,
    RunState,
    clear_run,
    drop_checkpoints,
    keep_stage_adapter,
    prepare_stage,
    stage_mark,
)
from rapo_lite.stages.base import RunContext
from rapo_lite.stages.registry import STAGES


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
            load_sources(recipe.eval.sources, seed=recipe.seed)


def check_endpoints(recipe: Recipe, stages: list[str]) -> None:
    """Build (without calling) the endpoint client of every teacher, judge and detector of kind
    endpoint that the stages will use: a missing URL, model name or API key variable is then
    reported before the model loads, not after the stages before it have run."""
    from rapo_lite.endpoint import ChatEndpoint

    used: list[tuple[str, EndpointConfig]] = []
    if "sft" in stages and recipe.sft.teacher == "endpoint":
        used.append(("sft.endpoint", recipe.sft.endpoint))
    for stage, part in (("rl", "judge"), ("ipo", "judge"), ("ipo", "cue_detector"), ("eval", "judge")):
        cfg = getattr(getattr(recipe, stage), part)
        if stage in stages and cfg.kind == "endpoint":
            used.append((f"{stage}.{part}.endpoint", cfg.endpoint))
    for where, endpoint in used:
        ChatEndpoint(endpoint, field=where)


def preflight(recipe: Recipe, stages: list[str]) -> None:
    """Every check of the recipe against this machine that needs no model: data files, endpoints,
    vLLM, the tracking package, the adapter to start from."""
    check_sources(recipe, stages)
    check_endpoints(recipe, stages)
    if "rl" in stages and recipe.rl.fast_inference:
        from rapo_lite.model import check_fast_inference

        check_fast_inference(recipe.rl.vllm_mode)
    if any(s in TRAINING_STAGES for s in stages) or "eval" in stages:
        from rapo_lite.tracking import check_backend

        check_backend(recipe)
    if recipe.lora.init_from:
        weights = Path(recipe.lora.init_from) / "adapter_model.safetensors"
        if not weights.is_file():
            raise RapoError(f"lora.init_from: {weights} does not exist; expected a folder written by a run "
                            "(its adapter/)")


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run folder and check that it takes files, before minutes go into a model load."""
    import tempfile

    from rapo_lite.io import fs_error

    blocker = next((p for p in (run_dir, *run_dir.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise RapoError(f"output_dir: {blocker} is a file, not a folder, so the run folder {run_dir} cannot be made; "
                        "move the file away or choose another output_dir / run_name")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=run_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        explained = fs_error(err, run_dir)
        if explained is None:
            raise
        raise RapoError(f"output_dir: {explained}") from None


def write_cards(recipe: Recipe, run_dir: Path, state: RunState, stage: str) -> None:
    """After a stage: the model card and recipe copy in adapter/ (and in merged_16bit/ after a
    warm-up that saved one). After the eval stage the card gains the before/after table."""
    from rapo_lite.cards import eval_table, write_card

    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file() or (stage == "eval" and not state.trained()):
        return  # an eval of the base model only, or of lora.init_from: no adapter of this run to describe
    trained = state.trained() + ([stage] if stage in TRAINING_STAGES else [])
    evaluation = eval_table(run_dir / "eval" / "report.md") if stage == "eval" else None
    text = dump_recipe(recipe)
    write_card(adapter, recipe, trained, "adapter", evaluation, text)
    if stage == "eval" and trained and (run_dir / f"adapter-{trained[-1]}").is_dir():
        write_card(run_dir / f"adapter-{trained[-1]}", recipe, trained, "adapter", evaluation, text)
    if stage == "sft" and (run_dir / "merged_16bit" / "config.json").is_file():
        write_card(run_dir / "merged_16bit", recipe, trained, "merged_16bit", None, text)


@source_cache()  # the preflight, every stage's disjointness check and the eval stage share one read per source
def run(recipe: Recipe, restart: bool = False) -> Path:
    run_dir = recipe.run_dir
    from_main(hold_run_folder, run_dir)  # a live run there refuses this one before anything in it changes
    if restart and is_main():
        clear_run(run_dir)
    # every process acts on the main one's reading of the folder (under accelerate launch)
    state = from_main(RunState.load, run_dir)
    # A folder whose earlier run kept nothing (it failed at start-up) is not held to that recipe.
    kept = state.holds_work()
    if kept:
        state.check(recipe)
    todo = pending_stages(recipe, state)
    for stage in recipe.stages:
        if stage not in todo:
            print(f"[rapo-lite] stage {stage}: finished earlier, skipped (--restart runs the whole recipe again)")
    if not todo:
        print(f"[rapo-lite] nothing to do: every stage of {run_dir} has finished")
        return run_dir
    preflight(recipe, todo)
    if recipe.model.backend == "unsloth":
        # Unsloth patches transformers, PEFT and TRL when imported, so it must come first; a
        # missing package is reported by load_model with the install command.
        try:
            import unsloth  # noqa: F401
        except ImportError:
            pass
    from rapo_lite.model import load_adapter_weights, load_model, locate_model, trainable_parameters

    from_main(locate_model, recipe.model)  # a built-in model is built once, by the main process alone
    prepare_run_dir(run_dir)
    from_main(hold_run_folder, run_dir)  # the folder may be new (or new again after --restart)
    metrics_path = run_dir / METRICS_FILE

    import transformers

    transformers.set_seed(recipe.seed)
    model, tokenizer = load_model(recipe.model, recipe.lora, recipe.seed,
                                  fast_inference=recipe.rl.fast_inference and "rl" in recipe.stages)
    if recipe.lora.init_from:
        load_adapter_weights(model, recipe.lora.init_from)
        print(f"[rapo-lite] adapter initialised from {recipe.lora.init_from}")
    trainable, total = trainable_parameters(model)
    print(f"[rapo-lite] {recipe.model.name_or_path} via {recipe.model.backend}: "
          f"{trainable:,} trainable of {total:,} parameters")
    if state.trained() and load_adapter_weights(model, run_dir / "adapter", f"{run_dir} (resuming)", required=False):
        print(f"[rapo-lite] continuing from the adapter of the finished stages ({', '.join(state.trained())})")
    # Only now, with the model loaded, does the folder become this recipe's.
    if not kept:
        state.forget()
    state.begin(recipe)
    atomic_write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
    ctx = RunContext(recipe, run_dir, model, tokenizer, JsonlLog(metrics_path))
    for stage in todo:
        ctx.resume = from_main(prepare_stage, run_dir, stage)
        print(f"[rapo-lite] stage {stage}" + (f" (resuming from {ctx.resume})" if ctx.resume else ""))
        state.begin(recipe, stage)
        STAGES[stage].run(ctx)  # the Recipe has refused unknown names before the model loaded
        barrier()  # the other processes' last checkpoint writes are done before the main one tidies up
        if is_main():
            write_cards(recipe, run_dir, state, stage)
            keep_stage_adapter(run_dir, stage)
            if stage == "eval":
                from rapo_lite.tracking import log_eval

                log_eval(recipe, run_dir)
        state.finish(stage, stage_mark(recipe, stage, state.trained()))
        if is_main():
            drop_checkpoints(run_dir, stage)
    print(f"[rapo-lite] done: {run_dir}")
    return run_dir
