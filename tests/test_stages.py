"""The stage registry: every recipe stage is declared once, and reading it stays cheap."""

import subprocess
import sys
from pathlib import Path

from rapo_lite.recipe import STAGE_NAMES
from rapo_lite.resume import stage_logs
from rapo_lite.stages.registry import STAGES

ROOT = Path(__file__).resolve().parents[1]


def test_every_stage_a_recipe_may_name_is_registered_under_that_name():
    assert list(STAGES) == list(STAGE_NAMES)
    assert all(stage.name == name for name, stage in STAGES.items())


def test_resume_rewinds_the_files_a_stage_declares(tmp_path):
    assert set(stage_logs(tmp_path, "rl")) == {tmp_path / "metrics.jsonl", tmp_path / "rollouts.jsonl"}
    assert set(stage_logs(tmp_path, "sft")) == {tmp_path / "metrics.jsonl"}


def test_planning_from_the_registry_loads_no_training_library():
    # `train.py plan` runs where no model (nor torch) should load
    code = ("import sys; from rapo_lite.recipe import load_recipe; from rapo_lite.planner import plan_recipe, "
            "shape_from_config; from rapo_lite.model_configs import load_config; "
            "r = load_recipe('recipes/qwen3-1.7b-rapo-8gb.yaml', ['stages=[sft, rl, ipo, eval]']); "
            "plan_recipe(r, shape_from_config(load_config(r.model.name_or_path)[0])); "
            "print(sorted(m for m in ('torch', 'trl', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
