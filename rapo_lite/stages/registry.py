"""Every stage the kit can run, by the name a recipe's `stages` list uses.

A new stage is a module in this folder ending with `STAGE = Stage(...)` (see stages/base.py)
plus one line below; the runner, resume and the planner find it here.

resume and the planner import this inside their functions, not at the top: the stage modules
themselves import resume's checkpoint helpers and the planner's terms.
"""

from __future__ import annotations

from rapo_lite.stages import eval as eval_stage
from rapo_lite.stages import ipo, rl, sft
from rapo_lite.stages.base import Stage

STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    sft.STAGE,
    rl.STAGE,
    ipo.STAGE,
    eval_stage.STAGE,
)}


def stage_logs() -> tuple[str, ...]:
    """The run files any stage appends to, beyond metrics.jsonl."""
    return tuple(dict.fromkeys(name for stage in STAGES.values() for name in stage.logs))
