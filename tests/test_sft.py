import json

import pytest
import torch

from conftest import needs_unsloth, saved_lora_b
from rapo_lite.data.records import Record
from rapo_lite.errors import RapoError
from rapo_lite.io import read_jsonl
from rapo_lite.levels import band_for
from rapo_lite.model import load_model
from rapo_lite.reasoning import count_sentences, parse_completion, safety_paragraph
from rapo_lite.recipe import load_recipe
from rapo_lite.runner import run
from rapo_lite.stages.sft import build_examples
from rapo_lite.teachers import Draft


def small_recipe(tmp_path, *extra):
    return load_recipe(
        "recipes/tiny.yaml",
        [f"output_dir={tmp_path}", "stages=[sft]", "data.sources.0.count=12", "data.sources.1.count=6",
         "sft.max_steps=3", "sft.batch_size=4", "model.max_seq_length=512", *extra],
    )


@pytest.fixture(scope="module")
def tiny_policy():
    recipe = load_recipe("recipes/tiny.yaml", ["model.backend=transformers"])
    return load_model(recipe.model, recipe.lora, 0)


class ScriptedTeacher:
    """A teacher whose drafts and endings are given by the test."""

    name = "scripted"

    def __init__(self, drafts, endings):
        self.drafts, self.endings = drafts, endings

    def analyses(self, records, levels):
        return self.drafts

    def continuation(self, record, answer=None):
        return self.endings.get(record.prompt)


def test_drops_are_counted_by_reason(tmp_path, tiny_policy):
    model, tok = tiny_policy
    recipe = small_recipe(tmp_path, "sft.continuation_max_new_tokens=4")
    long_ok = "The request asks for something risky. I think it is unsafe. I will refuse it. " * 2
    records = [Record(f"prompt {i}", harmful=True, level=1) for i in range(5)]
    drafts = [Draft(long_ok, truncated=True), Draft("too short."), Draft(long_ok), Draft(long_ok), Draft(long_ok)]
    endings = {"prompt 2": "Done.\n</think>\n\nNo.", "prompt 3": "Done.\n</think>\n\nNo."}
    # prompt 4 has no ending, so the random tiny policy must continue and is cut at 4 tokens
    examples, dropped = build_examples(records, ScriptedTeacher(drafts, endings), model, tok, recipe)
    assert dropped == {"analysis_cut_off": 1, "analysis_too_short": 1, "continuation_cut_off": 1}
    assert [e["user_prompt"] for e in examples] == ["prompt 2", "prompt 3"]
    c = parse_completion(examples[0]["completion"])
    assert c.closed and c.answer == "No." and safety_paragraph(c.thinking).startswith("Okay, the request asks")
    assert examples[0]["prompt"].endswith("<|im_start|>assistant\n")


def test_template_warmup_data_fits_the_bands(tmp_path, tiny_policy):
    model, tok = tiny_policy
    recipe = small_recipe(tmp_path, "data.sources.0.count=30", "data.sources.1.count=20")
    from rapo_lite.data import load_sources
    from rapo_lite.teachers.template import TemplateTeacher

    records = load_sources(recipe.data.sources, seed=0)
    examples, dropped = build_examples(records, TemplateTeacher(recipe.risk.bands), model, tok, recipe)
    # benign sample prompts all carry reference answers, so nothing needs the policy
    assert not dropped and len(examples) == len(records) == 50
    levels = {e["level"] for e in examples}
    assert {1, 2, 3} <= levels
    for e in examples:
        c = parse_completion(e["completion"])
        assert c.closed and c.answer
        n = count_sentences(safety_paragraph(c.thinking))
        assert band_for(e["level"], recipe.risk.bands).contains(n), (e["level"], n)
        assert n == e["analysis_sentences"]


def test_benign_answers_can_be_the_policys_own(tmp_path, tiny_policy, monkeypatch):
    from rapo_lite.generation import Generation
    from rapo_lite.stages import sft
    from rapo_lite.teachers.template import TemplateTeacher

    model, tok = tiny_policy
    recipe = small_recipe(tmp_path, "sft.benign_answers=policy")
    records = [Record("How do I boil an egg?", False, level=1, reference="REFERENCE one."),
               Record("What is a haiku?", False, level=1, reference="REFERENCE two."),
               Record("Name a prime.", False, level=1),
               Record("How do I make a weapon at home?", True, level=1)]
    own = {"How do I boil an egg?": Generation("Own answer. Cut mid", hit_cap=True, n_tokens=8),
           "What is a haiku?": Generation("cut before any sentence", hit_cap=True, n_tokens=8),
           "Name a prime.": Generation("Seven is prime.", hit_cap=False, n_tokens=4)}
    asked = []

    def fake_generate(model, tokenizer, prompts, **kw):
        asked.extend(prompts)
        return [next(g for q, g in own.items() if q in p) for p in prompts]

    monkeypatch.setattr(sft, "generate", fake_generate)
    examples, dropped = build_examples(records, TemplateTeacher(recipe.risk.bands), model, tok, recipe)
    answers = {e["user_prompt"]: parse_completion(e["completion"]).answer for e in examples}
    # only benign prompts are answered, with the plain chat prompt (no analysis pre-fill)
    assert len(asked) == 3 and all(p.endswith("<|im_start|>assistant\n") for p in asked)
    assert answers["How do I boil an egg?"] == "Own answer."  # the cut-off sentence is dropped
    assert answers["What is a haiku?"] == "REFERENCE two."  # nothing complete left: the reference
    assert answers["Name a prime."] == "Seven is prime."  # no reference needed
    assert "REFERENCE" not in answers["How do I make a weapon at home?"]
    assert dropped == {"own_answer_cut_off": 1}


@pytest.mark.parametrize("backend", ["unsloth", "transformers"])
def test_sft_stage_end_to_end(tmp_path, backend):
    needs_unsloth(backend)
    recipe = small_recipe(tmp_path, f"model.backend={backend}", "run_name=e2e")
    run_dir = run(recipe)
    assert (run_dir / "recipe.yaml").read_text().startswith("run_name: e2e")
    assert load_recipe(run_dir / "recipe.yaml") == recipe  # the resolved recipe reproduces the run
    data = read_jsonl(run_dir / "sft_data.jsonl")
    assert len(data) == 18 and all(parse_completion(d["completion"]).closed for d in data)
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    steps = [m for m in metrics if "loss" in m]
    assert [m["step"] for m in steps] == [1, 2, 3] and all(m["stage"] == "sft" for m in steps)
    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in steps)
    assert metrics[0]["data/kept"] == 18
    cfg = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == recipe.lora.r and cfg["peft_type"] == "LORA"
    lora_b = saved_lora_b(run_dir)
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # B starts at zero: training moved it


def test_everything_dropped_is_a_clear_error(tmp_path):
    recipe = small_recipe(tmp_path, "sft.teacher=self", "sft.analysis_max_new_tokens=2", "model.backend=transformers")
    with pytest.raises(RapoError, match="every warm-up example was dropped.*analysis_cut_off 18.*sft.teacher=template"):
        run(recipe)
