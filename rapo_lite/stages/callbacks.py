"""Trainer callbacks every training stage shares: resume marks and the non-finite loss guard."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from rapo_lite.errors import RapoError
from rapo_lite.resume import write_resume_mark


class NonFiniteLoss(RapoError):
    """The loss (or its gradients) became NaN or inf. `good` says whether the weights are
    still those of the last finished step, so that they are worth saving."""

    def __init__(self, message: str, step: int, good: bool) -> None:
        super().__init__(message)
        self.step = step
        self.good = good


class ResumeMarkCallback(TrainerCallback):
    """After each checkpoint, note in it how far the stage's logs had got (resume.json)."""

    def __init__(self, run_dir: Path, stage: str) -> None:
        self.run_dir = Path(run_dir)
        self.stage = stage

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if checkpoint.is_dir():
            write_resume_mark(checkpoint, self.run_dir, self.stage, state.global_step, state.epoch)


class FiniteLossGuard(TrainerCallback):
    """Stop a stage at the first step whose loss is NaN or inf, before it touches the weights.

    The check runs on the gradients just before the optimizer step: a non-finite loss makes
    them non-finite, and stopping there leaves the adapter as the previous step made it. Under
    fp16 mixed precision, inf gradients are normal while the loss scaler calibrates (it skips
    those steps itself), so there only the logged loss is checked.
    """

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if args.fp16 or model is None:
            return
        import torch

        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        # one device sync for all of them, not one per LoRA tensor
        if grads and not bool(torch.stack([torch.isfinite(g).all().to(grads[0].device) for g in grads]).all()):
            raise NonFiniteLoss(self._message("its gradients are", "nan/inf", state.global_step + 1, args),
                                state.global_step + 1, True)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        loss = (logs or {}).get("loss")
        if isinstance(loss, (int, float)) and not math.isfinite(loss):
            raise NonFiniteLoss(self._message("the loss is", loss, state.global_step, args), state.global_step, False)

    def _message(self, what: str, value: Any, step: int, args: Any) -> str:
        causes = [f"the learning rate is too high ({self.stage}.learning_rate={args.learning_rate:g})"]
        if args.fp16:
            causes.append("float16 overflowed (model.dtype=bfloat16 or float32 is safer)")
        causes.append("every completion of the batch was cut off by model.max_seq_length, leaving no token to average")
        return f"{self.stage}: {what} {value} at step {step}; likely causes: {'; or '.join(causes)}"
