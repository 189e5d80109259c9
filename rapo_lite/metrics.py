"""metrics.jsonl: one JSON object per logged training step, written as the trainer logs."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from rapo_lite.io import JsonlLog


class MetricsCallback(TrainerCallback):
    """Append each trainer log (loss, learning rate, rewards...) to metrics.jsonl, tagged with the stage."""

    def __init__(self, log: JsonlLog, stage: str) -> None:
        self.log = log
        self.stage = stage

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs:
            self.log.append({"stage": self.stage, "step": state.global_step, "epoch": state.epoch, **logs})
