"""`python train.py compare RUN_A RUN_B ...`: one table over several runs' evaluations, for ablations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rapo_lite.errors import RapoError
from rapo_lite.evaluation import report_markdown
from rapo_lite.io import atomic_write_text


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "eval" / "summary.json"
    if not path.is_file():
        raise RapoError(f"compare: {path} does not exist; "
                        "run the recipe with the eval stage first (stages=[..., eval])")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise RapoError(f"compare: {path} is not valid JSON; rerun the eval stage") from None


def compare_table(run_dirs: Sequence[str | Path]) -> str:
    """A column for the first run's base model, then one for each run's trained policy.

    A run that evaluated only the base model contributes its base column under its name.
    """
    if not run_dirs:
        raise RapoError("compare: name at least one run folder, e.g. python train.py compare outputs/a outputs/b")
    columns: dict[str, dict[str, Any]] = {}
    for i, run_dir in enumerate(run_dirs):
        models = load_summary(run_dir)["models"]
        name = Path(run_dir).name
        if i == 0 and "base" in models and "trained" in models:
            columns[f"base ({name})"] = models["base"]
        columns[name if name not in columns else str(run_dir)] = models.get("trained", models.get("base"))
    return report_markdown(columns, f"Comparison of {len(run_dirs)} run(s)")


def compare(run_dirs: Sequence[str], out: str | None = None) -> str:
    table = compare_table(run_dirs)
    target = Path(out) if out else Path(run_dirs[0]).parent / "compare.md"
    atomic_write_text(target, table)
    print(table)
    print(f"[rapo-lite] written to {target}")
    return table
