"""The stages: one module each, declared in its `STAGE` (base.py) and listed in registry.py.

What the training stages share lives here: the TrainingArguments they set alike, their
callbacks, `fit` (train, resuming from a checkpoint, stopping on a NaN loss) and the
prompt-length check.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapo_lite.errors import RapoError
from rapo_lite.recipe import Recipe, TrainConfig

if TYPE_CHECKING:
    from rapo_lite.stages.base import RunContext

# Checkpoints kept per stage: the newest can be cut short by a kill while it is written,
# and the one before it is then what a rerun resumes from.
SAVE_TOTAL_LIMIT = 2


def trainer_args(recipe: Recipe, stage: TrainConfig, output_dir: str) -> dict[str, Any]:
    """TrainingArguments fields every training stage sets the same way from its recipe section."""
    import torch

    from rapo_lite.distributed import world_size
    from rapo_lite.model import compute_dtype, cpu_autocast_on, gradient_checkpointing_on
    from rapo_lite.tracking import trainer_fields

    dtype = compute_dtype(recipe.model)
    on_gpu = torch.cuda.is_available()
    return dict(
        output_dir=output_dir,
        num_train_epochs=stage.epochs,
        max_steps=stage.max_steps,
        learning_rate=stage.learning_rate,
        gradient_accumulation_steps=stage.gradient_accumulation_steps,
        warmup_steps=stage.warmup_ratio,  # transformers 5: a value below 1 is a fraction of the steps
        logging_steps=stage.logging_steps,
        save_strategy="steps",
        save_steps=stage.save_steps,
        save_total_limit=SAVE_TOTAL_LIMIT,
        **trainer_fields(recipe),  # report_to, run_name: the loss, learning rate and rewards reach the tracker
        seed=recipe.seed,
        use_cpu=not on_gpu,
        bf16=(on_gpu and dtype == torch.bfloat16) or cpu_autocast_on(recipe.model),
        fp16=on_gpu and dtype == torch.float16,
        gradient_checkpointing=gradient_checkpointing_on(recipe.model),
        # Several processes: every LoRA weight gets a gradient each step, so DDP need not search the
        # graph for unused ones (a search that also clashes with gradient checkpointing).
        **({"ddp_find_unused_parameters": False} if world_size() > 1 else {}),
    )


def stage_callbacks(ctx: RunContext, stage: str) -> list[Any]:
    """The callbacks of every training stage: metrics.jsonl, resume marks, the NaN guard."""
    from rapo_lite.metrics import MetricsCallback
    from rapo_lite.stages.callbacks import FiniteLossGuard, ResumeMarkCallback

    return [MetricsCallback(ctx.metrics, stage), ResumeMarkCallback(ctx.run_dir, stage), FiniteLossGuard(stage)]


def fit(ctx: RunContext, trainer: Any, stage: str) -> None:
    """`trainer.train()`, continuing from `ctx.resume` when the runner found a checkpoint.

    A NaN or inf loss stops the stage: the weights of the last finished step are saved as a
    checkpoint first (when the guard caught it before the optimizer step), and the error
    names the step, the likely causes and that checkpoint.
    """
    from rapo_lite.resume import last_checkpoint, write_resume_mark
    from rapo_lite.stages.callbacks import NonFiniteLoss
    from rapo_lite.tracking import attach_tensorboard, end_stage

    resume = ctx.resume
    if resume:
        _keep_dtypes_on_resume(trainer)
        _load_optimizer_on_cpu(trainer)
    attach_tensorboard(trainer, ctx.run_dir, stage, resume)
    try:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        end_stage(ctx.recipe)
    except NonFiniteLoss as err:
        step = trainer.state.global_step
        if err.good and step > 0:
            trainer._save_checkpoint(trainer.model, trial=None)
            write_resume_mark(Path(trainer.args.output_dir) / f"checkpoint-{step}", ctx.run_dir, stage, step,
                              trainer.state.epoch)
        good = last_checkpoint(ctx.run_dir, stage)
        where = (f"the last good state is saved in {good}" if good
                 else "no step finished before it, so nothing was saved")
        raise RapoError(f"{err}. Training stopped; {where}. Fix the recipe and rerun with --restart") from None


def _keep_dtypes_on_resume(trainer: Any) -> None:
    """Load a checkpoint's adapter in the precision the trainer trains it in.

    TRL's trainers cast a quantized model's LoRA weights down (bf16) when they are built;
    resuming loads the checkpoint through PEFT's `load_adapter`, which casts bf16/fp16 adapter
    weights back up to float32. A resumed stage would then train in another precision than an
    uninterrupted one, so the weights are cast back right after loading, before the optimizer
    is built around them.
    """
    model = trainer.model
    dtypes = {name: p.dtype for name, p in model.named_parameters() if p.requires_grad}
    load = trainer._load_from_checkpoint

    def load_then_cast(*args: Any, **kwargs: Any) -> Any:
        out = load(*args, **kwargs)
        for name, p in model.named_parameters():
            if name in dtypes and p.dtype != dtypes[name]:
                p.data = p.data.to(dtypes[name])
        return out

    trainer._load_from_checkpoint = load_then_cast


def _load_optimizer_on_cpu(trainer: Any) -> None:
    """Resume several CPU processes: transformers loads the optimizer state onto `args.device`
    when there is more than one process, which on CPUs is `cpu:<rank>`, a location torch.load
    cannot restore to. Plain "cpu" is the same memory, so the load is pointed there."""
    if trainer.args.world_size <= 1 or trainer.args.device.type != "cpu":
        return
    import torch

    load = trainer._load_optimizer_and_scheduler
    real_load = torch.load

    def on_cpu(*args: Any, **kwargs: Any) -> Any:
        kwargs["map_location"] = "cpu"
        return real_load(*args, **kwargs)

    def load_on_cpu(*args: Any, **kwargs: Any) -> Any:
        torch.load = on_cpu
        try:
            return load(*args, **kwargs)
        finally:
            torch.load = real_load

    trainer._load_optimizer_and_scheduler = load_on_cpu


def fitting_prompts(ctx: RunContext, records: Sequence[Any], stage: str, **template_kwargs: Any) -> list[Any]:
    """The records whose chat-templated prompt fits in model.max_seq_length tokens.

    Longer ones are skipped and counted (metrics.jsonl `data/too_long`), or refused with an
    error naming one, as `data.long_prompts` says: a prompt that fills the context leaves
    no room for the completion the stage trains on.
    """
    from rapo_lite.chat import render_prompt

    recipe = ctx.recipe
    limit = recipe.model.max_seq_length
    kept, too_long = [], []
    for record in records:
        text = render_prompt(ctx.tokenizer, record.prompt, **template_kwargs)
        n = len(ctx.tokenizer(text, add_special_tokens=False)["input_ids"])
        if n <= limit:
            kept.append(record)
            continue
        if recipe.data.long_prompts == "error":
            shown = record.prompt if len(record.prompt) <= 60 else record.prompt[:57] + "..."
            raise RapoError(
                f"{stage}: a prompt from {record.source or 'the training data'} is {n} tokens with the chat template, "
                f"over model.max_seq_length={limit}: {shown!r}; raise model.max_seq_length, remove the row, or set "
                "data.long_prompts=skip"
            )
        too_long.append(record)
    if too_long:
        print(f"[rapo-lite] {stage}: skipped {len(too_long)} prompt(s) longer than model.max_seq_length={limit} tokens")
        ctx.metrics.append({"stage": stage, "step": 0, "data/too_long": len(too_long)})
    if not kept:
        raise RapoError(
            f"{stage}: all {len(too_long)} training prompts are longer than model.max_seq_length={limit} tokens; "
            "raise model.max_seq_length"
        )
    return kept
