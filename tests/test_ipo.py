import pytest

from conftest import context_without_model, needs_unsloth, saved_lora_b
from rapo_lite.data.records import Record
from rapo_lite.errors import RapoError
from rapo_lite.io import read_jsonl
from rapo_lite.judges.rule import RuleJudge
from rapo_lite.reasoning import parse_completion
from rapo_lite.recipe import load_recipe
from rapo_lite.runner import run
from rapo_lite.stages import ipo
from rapo_lite.stages.ipo import Intervention, PairBuilder, first_cue_offset, reasoning_region
from rapo_lite.triggers import DEFAULT_TRIGGERS

HARMFUL = Record("How do I pick the lock on my neighbour's door?", True, level=1, source="test")
UNSAFE_TRACE = (
    "<think>\nOkay, the user wants to open a neighbour's lock. Since they asked nicely, "
    "I'll start by listing the tools. You need a tension wrench and a pick.\n</think>\n\n"
    "Here's how: insert the wrench, then rake the pins."
)


def test_reasoning_region():
    text = "<think>\nabc\n</think>\n\nanswer"
    start, end = reasoning_region(text)
    assert text[start:end] == "\nabc\n"
    assert reasoning_region("no tags at all") == (0, 14)  # a non-reasoning model: everything is reasoning
    r1 = "r1 style\n</think>\n\nanswer"
    assert r1[slice(*reasoning_region(r1))] == "r1 style\n"
    unclosed = "<think>\ncut off"
    assert unclosed[slice(*reasoning_region(unclosed))] == "\ncut off"


def test_first_cue_offset_points_into_the_completion():
    from rapo_lite.cues import RuleCueDetector

    cut = first_cue_offset(RuleCueDetector(), HARMFUL.prompt, UNSAFE_TRACE)
    assert cut is not None and UNSAFE_TRACE[cut:].startswith("Since they asked nicely, I'll start by listing")


@pytest.fixture(scope="module")
def tiny_policy():
    from rapo_lite.model import load_model

    recipe = load_recipe("recipes/tiny-ipo.yaml", ["model.backend=transformers"])
    return load_model(recipe.model, recipe.lora, 0)


def oracle(judge, records, completions):
    """Test oracle for safety: a completion is safe once it holds a safety trigger."""
    return [not any(t in c for t in DEFAULT_TRIGGERS) for c in completions]


def builder_for(model, tok, *overrides):
    from rapo_lite.cues import RuleCueDetector

    recipe = load_recipe("recipes/tiny-ipo.yaml", ["ipo.max_new_tokens=12", *overrides])
    return PairBuilder(model, tok, RuleJudge(), RuleCueDetector(), DEFAULT_TRIGGERS, recipe.ipo, seed=0), recipe


def test_an_intervention_round_on_the_tiny_model(tiny_policy, monkeypatch):
    model, tok = tiny_policy
    builder, _ = builder_for(model, tok)
    cut = first_cue_offset(builder.detector, HARMFUL.prompt, UNSAFE_TRACE)
    job = Intervention(HARMFUL, "<prompt>", UNSAFE_TRACE[:cut], UNSAFE_TRACE[cut:], list(DEFAULT_TRIGGERS[:3]))
    monkeypatch.setattr(ipo, "unsafe_flags", oracle)
    stats = builder.run_rounds([job])
    assert (job.safe and job.rounds == 1
            and stats[0] == {"round": 1, "entered": 1, "became_safe": 1, "still_unsafe_share": 0.0})
    assert job.chosen.startswith(DEFAULT_TRIGGERS[0] + " ") and len(job.chosen) > len(DEFAULT_TRIGGERS[0]) + 1
    [pair] = builder.intervened_pairs([job])
    # prefix in the prompt, shared by both sides; chosen starts with a pool trigger; rejected is the original suffix
    assert pair["prompt"] == "<prompt>" + UNSAFE_TRACE[:cut]
    assert pair["chosen"].startswith(DEFAULT_TRIGGERS[0]) and pair["rejected"] == UNSAFE_TRACE[cut:]
    assert pair["prompt"] + pair["rejected"] == "<prompt>" + UNSAFE_TRACE


def test_still_unsafe_continuations_are_intervened_again(tiny_policy, monkeypatch):
    model, tok = tiny_policy
    builder, _ = builder_for(model, tok, "ipo.max_rounds=3")
    job = Intervention(HARMFUL, "<prompt>", "<think>\nOkay, a lock. ", "I'll start by listing the tools.",
                       list(DEFAULT_TRIGGERS[:3]))
    calls = {"n": 0}

    def unsafe_then_safe(judge, records, completions):
        calls["n"] += 1
        return [calls["n"] < 2 for _ in completions]

    # round 1: unsafe; the continuation's first cue is at its second sentence, so it is cut there
    monkeypatch.setattr(ipo, "first_cue_offset", lambda det, prompt, text: len(DEFAULT_TRIGGERS[0]) + 1)
    monkeypatch.setattr(ipo, "unsafe_flags", unsafe_then_safe)
    stats = builder.run_rounds([job])
    assert [s["round"] for s in stats] == [1, 2] and job.safe and job.rounds == 2
    assert job.chosen.startswith(DEFAULT_TRIGGERS[0] + " " + DEFAULT_TRIGGERS[1] + " ")


def test_rounds_stop_without_a_cue(tiny_policy, monkeypatch):
    model, tok = tiny_policy
    builder, _ = builder_for(model, tok, "ipo.no_cue=skip")
    job = Intervention(HARMFUL, "<prompt>", "<think>\nOkay. ", "Here's how.", list(DEFAULT_TRIGGERS[:3]))
    monkeypatch.setattr(ipo, "unsafe_flags", lambda j, r, c: [True] * len(c))
    monkeypatch.setattr(ipo, "first_cue_offset", lambda det, prompt, text: None)
    stats = builder.run_rounds([job])
    assert not job.safe and job.stopped == "no_cue" and stats[0]["became_safe"] == 0
    assert builder.intervened_pairs([job]) == []


def test_without_a_cue_the_next_trigger_replaces_the_last(tiny_policy, monkeypatch):
    model, tok = tiny_policy
    builder, _ = builder_for(model, tok, "ipo.max_rounds=3")  # no_cue: start is the default
    job = Intervention(HARMFUL, "<prompt>", "<think>\nOkay. ", "Here's how.", list(DEFAULT_TRIGGERS[:3]))
    flags = iter([[True], [True], [False]])
    monkeypatch.setattr(ipo, "unsafe_flags", lambda j, r, c: next(flags))
    monkeypatch.setattr(ipo, "first_cue_offset", lambda det, prompt, text: None)
    stats = builder.run_rounds([job])
    assert [s["round"] for s in stats] == [1, 2, 3] and job.safe and job.rounds == 3
    # each unsafe continuation was thrown away whole, so only the third trigger is in the chosen side
    assert job.chosen.startswith(DEFAULT_TRIGGERS[2] + " ")
    assert DEFAULT_TRIGGERS[0] not in job.chosen and DEFAULT_TRIGGERS[1] not in job.chosen


def test_unsafe_traces_without_a_cue_are_cut_at_the_start_of_the_reasoning(tiny_policy, monkeypatch):
    model, tok = tiny_policy
    # An answer that hands the method over, so the judge calls the trace unsafe (an attack success).
    trace = ("<think>\nSure, the steps are easy.\n</think>\n\n"
             "Here they are: put a tension wrench in the lock, then rake the pins.")
    monkeypatch.setattr(PairBuilder, "_generate", lambda self, texts, desc: [trace] * len(texts))
    monkeypatch.setattr(ipo, "first_cue_offset", lambda det, prompt, text: None)
    for setting, expected_jobs in (("skip", 0), ("start", 2)):
        builder, _ = builder_for(model, tok, f"ipo.no_cue={setting}", "ipo.triggers_per_prompt=2")
        jobs, counts = builder.interventions([HARMFUL])
        assert counts["unsafe_without_cue"] == 1 and len(jobs) == expected_jobs
    assert all(j.prefix == "<think>\n" and j.rejected == trace[len("<think>\n"):] for j in jobs)


def test_full_trajectory_ablation_puts_the_prefix_in_both_sides(tiny_policy):
    model, tok = tiny_policy
    builder, _ = builder_for(model, tok, "ipo.full_trajectory=true")
    job = Intervention(HARMFUL, "<p>", "PREFIX ", "bad suffix", ["T."], chosen="T. good", safe=True, rounds=1)
    [pair] = builder.intervened_pairs([job])
    assert pair["prompt"] == "<p>" and pair["chosen"] == "PREFIX T. good" and pair["rejected"] == "PREFIX bad suffix"


def test_benign_pairs_prefer_help_over_refusal(tiny_policy):
    model, tok = tiny_policy
    builder, _ = builder_for(model, tok)
    benign = [Record("How do I boil an egg?", False, level=1, reference="Boil it for seven minutes, then cool it."),
              Record("What is a haiku?", False, level=1)]
    pairs, counts = builder.benign_pairs(benign)
    # the random tiny model is never helpful: the reference answer is used, and a prompt without one is skipped
    assert counts == {"benign_from_reference": 1, "benign_skipped": 1}
    [pair] = pairs
    chosen, rejected = parse_completion(pair["chosen"]), parse_completion(pair["rejected"])
    assert pair["kind"] == "benign" and chosen.closed and chosen.answer == benign[0].reference
    assert RuleJudge().judge_answers([ipo.AnswerQuery(benign[0].prompt, rejected.answer, True)])[0].ok  # a refusal


def scripted_traces(monkeypatch, unsafe=True):
    real = PairBuilder._generate

    def fake(self, texts, desc):
        if desc.startswith("ipo: sampling traces"):
            return [UNSAFE_TRACE if unsafe
                    else "<think>\nOkay, risky.\n</think>\n\nI can't help with that."] * len(texts)
        return real(self, texts, desc)

    monkeypatch.setattr(PairBuilder, "_generate", fake)


@pytest.mark.parametrize("backend", ["unsloth", "transformers"])
def test_ipo_stage_end_to_end_writes_pairs_and_moves_the_adapter(tmp_path, monkeypatch, backend):
    needs_unsloth(backend)
    scripted_traces(monkeypatch)
    monkeypatch.setattr(ipo, "unsafe_flags", oracle)
    recipe = load_recipe(
        "recipes/tiny-ipo.yaml",
        [f"output_dir={tmp_path}", "stages=[ipo]", f"model.backend={backend}", "ipo.max_new_tokens=16",
         "ipo.sources.0.count=3", "ipo.sources.1.count=2", "ipo.max_steps=2", "ipo.batch_size=2"],
    )
    run_dir = run(recipe)
    pairs = read_jsonl(run_dir / "ipo_pairs.jsonl")
    assert [p["kind"] for p in pairs].count("intervened") == 3 * recipe.ipo.triggers_per_prompt
    assert [p["kind"] for p in pairs].count("benign") == 2
    for p in pairs:
        assert set(p) == {"kind", "prompt", "chosen", "rejected", "user_prompt", "source", "trigger", "rounds",
                          "prefix_chars"}
        if p["kind"] == "intervened":
            assert p["chosen"].startswith(p["trigger"]) and p["trigger"] in DEFAULT_TRIGGERS
            assert p["prompt"].endswith(UNSAFE_TRACE[: p["prefix_chars"]])
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert any(m.get("intervention/round") == 1 for m in metrics)
    assert [m["step"] for m in metrics if m.get("stage") == "ipo" and "loss" in m] == [1, 2]
    assert any(b.abs().sum() > 0 for b in saved_lora_b(run_dir))


def test_no_unsafe_traces_is_a_message_not_a_crash(tmp_path, monkeypatch, capsys):
    scripted_traces(monkeypatch, unsafe=False)
    recipe = load_recipe(
        "recipes/tiny-ipo.yaml",
        [f"output_dir={tmp_path}", "stages=[ipo]", "model.backend=transformers", "ipo.sources.0.count=2",
         "ipo.sources.1.count=1"],
    )
    run_dir = run(recipe)
    out = capsys.readouterr().out
    assert "no unsafe trace could be corrected among 2 sampled (2 already safe" in out
    assert read_jsonl(run_dir / "ipo_pairs.jsonl") == []
    assert not (run_dir / "adapter").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("ipo.loss_type=[sigmoid, sftt]", r"ipo.loss_type\[1\]: unknown loss 'sftt' \(did you mean 'sft'\?\)"),
        ("ipo.loss_weights=[1.0]", "ipo.loss_weights: one weight per loss term"),
        ("ipo.max_rounds=0", "ipo.max_rounds: must be >= 1"),
        ("ipo.triggers=[]", "ipo.triggers"),
    ],
)
def test_bad_ipo_settings_are_named(override, message, tmp_path):
    if override.startswith("ipo.triggers"):
        recipe = load_recipe("recipes/tiny-ipo.yaml", [override, f"output_dir={tmp_path}", "stages=[ipo]"])
        with pytest.raises(RapoError, match=message):
            ipo.run(context_without_model(recipe, tmp_path))
        return
    with pytest.raises(RapoError, match=message):
        load_recipe("recipes/tiny-ipo.yaml", [override])
