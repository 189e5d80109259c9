"""Experiment tracking: where the trainers' scalars go (`report_to`), and the kit's own additions.

The trainers log loss, learning rate, RL rewards and DPO margins themselves through
transformers' reporting callbacks once `report_to` names a backend. For TensorBoard (the
default, offline) this module points each stage's writer at `<run>/tb/<stage>`, so that
`tensorboard --logdir outputs/` shows every run and stage side by side, and adds what the
trainers do not log: a text table of a few RL rollouts per step and the evaluation summary.

A resumed stage keeps one consistent curve: its writer purges the events a killed run logged
after the checkpoint it resumes from, as metrics.jsonl is cut back to that checkpoint.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapo_lite.errors import RapoError

if TYPE_CHECKING:  # torch is imported lazily: `train.py push` and recipe checks must stay light
    from torch.utils.tensorboard import SummaryWriter

    from rapo_lite.recipe import Recipe

TB_DIR = "tb"
BACKENDS = ("tensorboard", "wandb", "trackio", "mlflow", "none")
# Backends whose trainer integration can show GRPO's table of sampled completions.
COMPLETION_TABLES = ("wandb", "trackio")
ROLLOUTS_SHOWN = 4  # rollouts per step in TensorBoard's text tab; the full set is in rollouts.jsonl


def check_backend(recipe: Recipe) -> None:
    """Refuse a `report_to` backend whose package is missing, before any model loads."""
    name = recipe.report_to
    if name == "none":
        return
    if importlib.util.find_spec(name) is None:
        raise RapoError(f"report_to: {name} is not installed; run: pip install {name} (or set report_to=none, or "
                        "report_to=tensorboard for offline event files under <run>/tb/)")


def trainer_fields(recipe: Recipe) -> dict[str, Any]:
    """TrainingArguments fields that choose the tracking backend and name the run."""
    if recipe.report_to == "none":
        return {"report_to": "none"}
    return {"report_to": [recipe.report_to], "run_name": recipe.run_name, "project": "rapo-lite"}


def stage_dir(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / TB_DIR / stage


def attach_tensorboard(trainer: Any, run_dir: Path, stage: str, resume: Path | None) -> SummaryWriter | None:
    """Give the trainer's TensorBoard callback a writer on `<run>/tb/<stage>`; returns it (None
    when TensorBoard is not a backend of this trainer). Calling it again returns the same writer.

    A stage that starts over clears its old event files; one that resumes from checkpoint-N
    purges the events logged after step N by the run that was cut short.
    """
    from transformers.integrations import TensorBoardCallback

    from rapo_lite.distributed import is_main

    if not is_main():
        return None  # the trainers report from the main process only; its writer alone owns the folder
    callback = next((c for c in trainer.callback_handler.callbacks if isinstance(c, TensorBoardCallback)), None)
    if callback is None:
        return None
    if callback.tb_writer is not None:
        return callback.tb_writer
    from torch.utils.tensorboard import SummaryWriter

    folder = stage_dir(run_dir, stage)
    purge_step = None
    if resume is None:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        purge_step = _checkpoint_step(resume) + 1
        _sort_after_existing(folder)
    callback.logging_dir = str(folder)
    callback.tb_writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)
    return callback.tb_writer


def _sort_after_existing(folder: Path) -> None:
    """Wait, at most a second, until a new event file's name sorts after every file already in
    `folder`. TensorBoard reads a folder's files in name order and the name starts with the
    second it was opened in; a resume within the second the cut-short run opened its file could
    otherwise be read first, and its purge would then act on the wrong events."""
    opened = [int(m.group(1)) for f in folder.glob("events.out.tfevents.*")
              if (m := re.match(r"events\.out\.tfevents\.(\d+)\.", f.name))]
    if opened:
        time.sleep(max(0.0, max(opened) + 1 - time.time()))


def _checkpoint_step(checkpoint: Path) -> int:
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state["global_step"])


def end_stage(recipe: Recipe) -> None:
    """After a stage's training: close a wandb run, which its callback leaves open, so the next
    stage (whose steps start again at 1) does not append to it."""
    if recipe.report_to != "wandb":
        return
    import wandb

    if wandb.run is not None:
        wandb.finish()


def rollout_table(rows: list[dict[str, Any]], limit: int = ROLLOUTS_SHOWN) -> str:
    """A Markdown table of the first `limit` rollouts of a step, for TensorBoard's text tab."""
    def cell(value: Any, width: int = 300) -> str:
        text = str(value).replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= width else text[: width - 3] + "..."

    lines = ["| prompt | harmful | level | case | R | G | decision | total | thinking | answer |", "|---" * 10 + "|"]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(cell(row.get(k, "")) for k in (
            "prompt", "harmful", "level", "case", "risk", "general", "decision", "total", "thinking", "answer")) + " |")
    return "\n".join(lines)


def eval_scalars(summary: dict[str, Any]) -> dict[str, float]:
    """The numbers of eval/summary.json as flat TensorBoard tags: eval/<model>/asr, per benchmark
    eval/<model>/asr/<benchmark>, refusal_rate likewise, answer_harm, over_refusal, ..."""
    found: dict[str, float] = {}
    for model, metrics in summary.get("models", {}).items():
        for key in ("asr", "refusal_rate", "asr_by_level", "refusal_rate_by_level"):
            for part, value in (metrics.get(key) or {}).items():
                tag = f"eval/{model}/{key}" if part == "all" else f"eval/{model}/{key}/{part}"
                if isinstance(value, (int, float)):
                    found[tag] = float(value)
        for key in ("answer_harm", "reasoning_harm", "over_refusal", "compliance", "consistency", "right_call",
                    "utility", "unjudged"):
            value = metrics.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found[f"eval/{model}/{key}"] = float(value)
    return found


def log_eval(recipe: Recipe, run_dir: Path, step: int = 0) -> Path | None:
    """Write the evaluation summary of a finished eval stage as scalars to `<run>/tb/eval`
    (TensorBoard only: the other backends' runs end with their training stage)."""
    summary_path = Path(run_dir) / "eval" / "summary.json"
    if recipe.report_to != "tensorboard" or not summary_path.is_file():
        return None
    from torch.utils.tensorboard import SummaryWriter

    folder = stage_dir(run_dir, "eval")
    shutil.rmtree(folder, ignore_errors=True)  # an eval run again replaces its scalars
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for tag, value in eval_scalars(summary).items():
            writer.add_scalar(tag, value, step)
        report = Path(run_dir) / "eval" / "report.md"
        if report.is_file():
            writer.add_text("eval/report", report.read_text(encoding="utf-8"), step)
    finally:
        writer.close()
    return folder
