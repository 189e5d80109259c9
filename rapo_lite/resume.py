"""A run folder's progress: which recipe it belongs to, which stages finished, where to resume.

`state.json` (always replaced atomically) records the recipe keys that decide what the run
trains (its identity) and the stages that finished. A training stage in progress keeps its
place in its newest complete checkpoint, `checkpoints/<stage>/checkpoint-N`: the adapter,
optimizer, scheduler and RNG states, `trainer_state.json` (step and epoch: with the seeded
sampler, the data position) and our `resume.json`, which says how many lines of the stage's
logs belong to steps up to N. A rerun loads that checkpoint and cuts the logs back to those
lines, so no step is logged twice or lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapo_lite.errors import RapoError
from rapo_lite.io import atomic_dir, atomic_write_text
from rapo_lite.recipe import TRAINING_STAGES, Recipe, load_recipe, to_dict

if TYPE_CHECKING:
    from rapo_lite.stages.base import RunContext

STATE_FILE = "state.json"
RESUME_FILE = "resume.json"  # inside each checkpoint folder
METRICS_FILE = "metrics.jsonl"  # every stage's rows, told apart by their `stage` column

# What every stage trains on. With the sections of the training stages that have started,
# these keys are a run folder's identity; the rest (stages, eval, output folders, the
# backend, trust_remote_code) may change between a run and its rerun, so a finished run can
# be evaluated again with other settings.
SHARED_IDENTITY = ("seed", "model.name_or_path", "model.load_in_4bit", "model.max_seq_length", "model.dtype",
                   "lora", "data", "risk")
# How a stage is run, logged or reached does not change what it trains on: a run stopped by
# a judge endpoint that went down may resume with another URL or with on_error=neutral.
_HOW = ("logging_steps", "save_steps", "url", "timeout_s", "max_retries", "api_key_env", "on_error", "fast_inference",
        "vllm_mode", "host", "port")

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


# ------------------------------------------------------------------------------ identity


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}", inner))
        return out
    return {prefix: value}


def identity(recipe: Recipe, stages: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """The dotted keys (and values) that define a run, plus those of `stages`' sections."""
    raw = to_dict(recipe)
    found: dict[str, Any] = {}
    for key in (*SHARED_IDENTITY, *stages):
        node: Any = raw
        for part in key.split("."):
            node = node[part]
        found.update(_flatten(key, node))
    return {k: v for k, v in found.items() if k.rsplit(".", 1)[-1] not in _HOW}


def stage_mark(recipe: Recipe, stage: str, finished: list[str]) -> str:
    """What a finished stage is recorded with. A training stage is checked through the
    identity; the eval stage is done only for the same eval settings and the same training
    behind it, so changing `eval.*` (or training more) runs it again."""
    if stage in TRAINING_STAGES:
        return "done"
    basis = json.dumps({"eval": to_dict(recipe.eval), "trained": [s for s in finished if s in TRAINING_STAGES]},
                       sort_keys=True, default=str)
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class RunState:
    """state.json of one run folder; empty for a new folder."""

    run_dir: Path
    identity: dict[str, Any] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)  # stage -> stage_mark, in finishing order
    running: str | None = None

    @classmethod
    def load(cls, run_dir: Path) -> RunState:
        path = run_dir / STATE_FILE
        if path.is_file():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                return cls(run_dir, dict(raw["identity"]), dict(raw["finished"]), raw.get("running"))
            except (ValueError, KeyError, TypeError):
                raise RapoError(f"{path}: unreadable run state; pass --restart to start this run over") from None
        legacy = run_dir / "recipe.yaml"
        if legacy.is_file():
            # A folder written before state.json existed: its recipe still says what it trained.
            try:
                return cls(run_dir, identity(load_recipe(legacy)))
            except RapoError:
                raise RapoError(f"{run_dir} holds a run whose recipe.yaml no longer loads; pass --restart to "
                                "start over there, or choose another run_name") from None
        return cls(run_dir)

    def save(self) -> None:
        data = {"identity": self.identity, "finished": self.finished, "running": self.running}
        atomic_write_text(self.run_dir / STATE_FILE, json.dumps(data, indent=2, default=str) + "\n")

    def check(self, recipe: Recipe) -> None:
        """Refuse a recipe that would train something else than what this folder holds."""
        mine = identity(recipe, [s for s in TRAINING_STAGES if self._started(s)])
        # Keys both sides know: a field added to (or dropped from) the recipe schema since is no conflict.
        differ = sorted(k for k in self.identity if k in mine and self.identity[k] != mine[k])
        if differ:
            shown = "; ".join(f"{k} is {_show(self.identity.get(k))} there, {_show(mine.get(k))} here"
                              for k in differ[:3])
            more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
            raise RapoError(
                f"output folder {self.run_dir} belongs to a different recipe: {shown}{more}; pass --restart to start "
                "over there, or choose another run_name"
            )

    def holds_work(self) -> bool:
        """Whether the folder keeps anything a rerun would build on: a finished stage, a complete
        checkpoint, a saved adapter or an evaluation. A run that failed before any of these (a
        model that would not load, a stage that stopped at its first check) holds nothing, and
        its recorded recipe must not stop the corrected command from starting there."""
        return bool(
            self.finished
            or any(last_checkpoint(self.run_dir, stage) for stage in TRAINING_STAGES)
            or (self.run_dir / "adapter").is_dir()
            or (self.run_dir / "eval" / "summary.json").is_file()
        )

    def forget(self) -> None:
        """Drop what a run that kept nothing recorded: its identity and its logs, whose rows
        belong to stages that will start over (or not run at all)."""
        from rapo_lite.distributed import is_main
        from rapo_lite.stages.registry import stage_logs
        from rapo_lite.tracking import TB_DIR

        self.identity, self.finished, self.running = {}, {}, None
        if not is_main():
            return  # the main process alone touches the run folder
        for name in (METRICS_FILE, *stage_logs()):
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / name).unlink()
        shutil.rmtree(self.run_dir / TB_DIR, ignore_errors=True)

    def _started(self, stage: str) -> bool:
        return stage in self.finished or stage == self.running

    def begin(self, recipe: Recipe, stage: str | None = None) -> None:
        self.identity.update(identity(recipe, [stage] if stage in TRAINING_STAGES else []))
        self.running = stage
        self.save()

    def finish(self, stage: str, mark: str) -> None:
        self.finished.pop(stage, None)  # re-inserted last: the dict keeps finishing order
        self.finished[stage] = mark
        self.running = None
        self.save()

    def trained(self) -> list[str]:
        return [s for s in self.finished if s in TRAINING_STAGES]


def clear_run(run_dir: Path) -> None:
    """--restart: remove a run folder this kit wrote. It is renamed first, so a crash
    halfway through deleting never leaves a half-deleted run that looks resumable."""
    if not ((run_dir / STATE_FILE).is_file() or (run_dir / "recipe.yaml").is_file()):
        return  # nothing of ours to restart; never delete a folder we did not make
    doomed = run_dir.with_name(f".{run_dir.name}.restart")
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(run_dir, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


# ---------------------------------------------------------------------------- checkpoints


def checkpoint_dir(run_dir: Path, stage: str) -> Path:
    return Path(run_dir) / "checkpoints" / stage


def _checkpoints(run_dir: Path, stage: str) -> list[tuple[Path, bool]]:
    """A stage's checkpoint folders, newest first, each with whether it is complete.

    transformers writes `trainer_state.json` after the weights and optimizer, and our
    `resume.json` comes after that, so a folder holding both is complete; one without was
    cut short by a kill while it was written.
    """
    folder = checkpoint_dir(run_dir, stage)
    if not folder.is_dir():
        return []
    found = sorted(((int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()),
                   reverse=True)
    return [(p, (p / "trainer_state.json").is_file() and (p / RESUME_FILE).is_file()) for _, p in found]


def last_checkpoint(run_dir: Path, stage: str) -> Path | None:
    """The newest complete checkpoint of a stage, or None."""
    return next((path for path, complete in _checkpoints(run_dir, stage) if complete), None)


def keep_stage_adapter(run_dir: Path, stage: str) -> Path | None:
    """Copy the adapter a training stage just saved to adapter-<stage>/, since the next stage
    overwrites adapter/; an ablation can then start from it (lora.init_from=RUN/adapter-sft)."""
    source = Path(run_dir) / "adapter"
    if stage not in TRAINING_STAGES or not source.is_dir():
        return None
    target = Path(run_dir) / f"adapter-{stage}"
    with atomic_dir(target) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    return target


def drop_checkpoints(run_dir: Path, stage: str) -> None:
    """A finished stage's checkpoints are no longer needed: its adapter is saved."""
    shutil.rmtree(checkpoint_dir(run_dir, stage), ignore_errors=True)
    with contextlib.suppress(OSError):
        (Path(run_dir) / "checkpoints").rmdir()  # only when empty


# ----------------------------------------------------------------------------------- logs


def stage_logs(run_dir: Path, stage: str) -> dict[Path, Callable[[dict[str, Any]], bool]]:
    """The logs a stage appends to, each with a test for which of its rows are the stage's."""
    # Imported here, not at the top: the stage modules import this module's checkpoint helpers.
    from rapo_lite.stages.registry import STAGES

    logs: dict[Path, Callable[[dict[str, Any]], bool]] = {
        Path(run_dir) / METRICS_FILE: lambda row: row.get("stage") == stage
    }
    for name in STAGES[stage].logs:
        logs[Path(run_dir) / name] = lambda row: True
    return logs


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if isinstance(row, dict):
                rows.append(row)
    return rows


def count_stage_rows(run_dir: Path, stage: str) -> dict[str, int]:
    """How many rows of each of the stage's logs are the stage's own, right now."""
    return {path.name: sum(map(mine, _rows(path))) for path, mine in stage_logs(run_dir, stage).items()}


def rewind_logs(run_dir: Path, stage: str, keep: dict[str, int] | None) -> None:
    """Keep the first `keep[name]` rows of the stage in each of its logs (none when `keep` is
    None: the stage starts over) and every row of other stages."""
    for path, mine in stage_logs(run_dir, stage).items():
        if not path.exists():
            continue
        budget = (keep or {}).get(path.name, 0)
        kept = []
        for row in _rows(path):
            if mine(row):
                if budget <= 0:
                    continue
                budget -= 1
            kept.append(json.dumps(row, ensure_ascii=False) + "\n")
        atomic_write_text(path, "".join(kept))


def write_resume_mark(checkpoint: Path, run_dir: Path, stage: str, step: int, epoch: float | None) -> None:
    """Record in a checkpoint where the stage's logs stood when it was written."""
    mark = {"stage": stage, "step": step, "epoch": epoch, "log_rows": count_stage_rows(run_dir, stage)}
    atomic_write_text(Path(checkpoint) / RESUME_FILE, json.dumps(mark, indent=2) + "\n")


def read_resume_mark(checkpoint: Path) -> dict[str, Any]:
    return json.loads((Path(checkpoint) / RESUME_FILE).read_text(encoding="utf-8"))


def prepare_stage(run_dir: Path, stage: str) -> Path | None:
    """Before a stage runs: the checkpoint to resume from (None: start over), with the logs
    cut back to match it."""
    checkpoint = last_checkpoint(run_dir, stage) if stage in TRAINING_STAGES else None
    for path, complete in _checkpoints(run_dir, stage):
        if not complete:  # would be mistaken for the newest by the trainer's own rotation
            shutil.rmtree(path, ignore_errors=True)
    mark = read_resume_mark(checkpoint) if checkpoint is not None else None
    rewind_logs(run_dir, stage, mark["log_rows"] if mark else None)
    return checkpoint


def reuse_rows(ctx: RunContext, name: str) -> list[dict[str, Any]] | None:
    """The rows a resumed stage had built and trained on (the run file `name`), so that it
    continues on the very same examples; None when the stage starts fresh and builds them."""
    path = Path(ctx.run_dir) / name
    if ctx.resume is None or not path.is_file():
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
