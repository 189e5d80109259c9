"""Training stages; each module has a `run(ctx)` that the runner calls in recipe order."""

from __future__ import annotations

from typing import Any


def trainer_args(recipe: Any, stage: Any, output_dir: str) -> dict[str, Any]:
    """TrainingArguments fields every stage sets the same way from its recipe section.

    `stage` is the section (recipe.sft, recipe.rl, ...); it must have epochs, max_steps,
    learning_rate, gradient_accumulation_steps, warmup_ratio and logging_steps.
    """
    import torch

    from rapo_lite.model import compute_dtype

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
        save_strategy="no",
        report_to="none",
        seed=recipe.seed,
        use_cpu=not on_gpu,
        bf16=on_gpu and dtype == torch.bfloat16,
        fp16=on_gpu and dtype == torch.float16,
    )
