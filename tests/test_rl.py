import hashlib
from types import SimpleNamespace

import pytest

from conftest import context_without_model, needs_unsloth, saved_lora_b
from rapo_lite import fastgen
from rapo_lite.data.hygiene import check_disjoint, normalise_prompt
from rapo_lite.data.records import Record
from rapo_lite.errors import RapoError
from rapo_lite.io import JsonlLog, read_jsonl
from rapo_lite.judges import AnswerVerdict, Judge, TraceVerdict
from rapo_lite.judges.rule import RuleJudge
from rapo_lite.levels import DEFAULT_BANDS
from rapo_lite.reasoning import format_completion
from rapo_lite.recipe import load_recipe
from rapo_lite.rewards import RewardWeights
from rapo_lite.runner import run
from rapo_lite.stages import rl as rl_stage
from rapo_lite.stages.rl import RolloutScorer

# ---------------------------------------------------------------------------- the reward functions


class CountingJudge(RuleJudge):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def judge_answers(self, queries):
        self.batches += 1
        return super().judge_answers(queries)


def columns(n, harmful=True, level=1):
    return {"user_prompt": ["How do I pick a lock?"] * n, "harmful": [harmful] * n, "level": [level] * n,
            "reference": [""] * n, "completion_ids": [[1, 2]] * n}


def test_scorer_judges_once_per_batch_and_logs_every_rollout(tmp_path):
    judge = CountingJudge()
    log = JsonlLog(tmp_path / "rollouts.jsonl")
    scorer = RolloutScorer(judge, DEFAULT_BANDS, RewardWeights(1.0, 1.0), log)
    trace = "Okay, this asks how to break into a home, which is illegal and risky. I should refuse."
    completions = [format_completion(trace, "I can't help with that."), "<think>\nunfinished"]
    prompts = ["<rendered prompt>"] * 2
    metrics = {}
    extra = dict(trainer_state=SimpleNamespace(global_step=7), log_metric=lambda k, v: metrics.setdefault(k, v))
    assert scorer.risk(prompts, completions, **columns(2), **extra) == [1.0, -1.0]
    assert scorer.general(prompts, completions, **columns(2), **extra) == [1.0, -1.0]
    assert judge.batches == 1  # the second reward function reused the first one's verdicts

    rows = read_jsonl(tmp_path / "rollouts.jsonl")
    assert len(rows) == 2 and {r["step"] for r in rows} == {7}
    assert rows[0]["thinking"] == trace and rows[0]["answer"] == "I can't help with that."
    assert {k: rows[0][k] for k in ("level", "case", "risk", "general", "total")} == {
        "level": 1, "case": "adequate", "risk": 1.0, "general": 1.0, "total": 2.0}
    assert rows[1]["case"] == "malformed" and rows[1]["think"] == "unclosed"
    assert metrics["case/adequate"] == 0.5 and metrics["case/malformed"] == 0.5
    assert metrics["judge/calls"] == 2.0 and metrics["judge/parse_failures"] == 0.0

    # a new batch is judged again
    scorer.risk(prompts, list(reversed(completions)), **columns(2), **extra)
    assert judge.batches == 2 and len(read_jsonl(tmp_path / "rollouts.jsonl")) == 4


def test_level_zero_column_means_unknown():
    scorer = RolloutScorer(RuleJudge(), DEFAULT_BANDS, RewardWeights())
    trace = "Okay, this asks how to break into a home, which is illegal and risky. I should refuse."
    [score] = scorer.score(["p"], [format_completion(trace, "No.")], **columns(1, level=0))
    assert score.level == 1  # estimated from the prompt, not taken as level 0


# ---------------------------------------------------------------------------- train/eval hygiene


def test_disjointness_ignores_case_and_whitespace():
    assert normalise_prompt("  How do I\n pick A lock? ") == normalise_prompt("how do i pick a lock?")
    train = [Record("How do I  pick a LOCK?", True, source="mine")]
    with pytest.raises(RapoError, match=r"rl: 1 training prompt\(s\) also appear.*pick a LOCK.*mine and bench"):
        check_disjoint(train, [Record("how do i pick a lock?", True, source="bench")], "rl")
    check_disjoint(train, [Record("How do I pick a padlock?", True)], "rl")


def test_rl_stage_refuses_evaluation_prompts_before_loading_anything(tmp_path):
    recipe = load_recipe(
        "recipes/tiny.yaml",
        [f"output_dir={tmp_path}", "eval.sources=[{name: samples, harmful: true}]"],
    )
    ctx = context_without_model(recipe, tmp_path)
    with pytest.raises(RapoError, match="rl: 8 training prompt"):
        rl_stage.run(ctx)


def test_rl_stage_refuses_fewer_prompts_than_one_step_needs(tmp_path):
    # TRL would train zero steps on them and exit cleanly, with no rollout and no error
    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "rl.prompts_per_step=64"])
    ctx = context_without_model(recipe, tmp_path)
    with pytest.raises(RapoError, match=r"rl: \d+ training prompt\(s\) but rl.prompts_per_step=64; lower"):
        rl_stage.run(ctx)


def test_rl_stage_counts_every_accumulated_micro_batch_in_one_step(tmp_path):
    # one optimizer step samples prompts_per_step x gradient_accumulation_steps prompts at once
    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "rl.prompts_per_step=2",
                                               "rl.gradient_accumulation_steps=64"])
    ctx = context_without_model(recipe, tmp_path)
    with pytest.raises(RapoError, match=r"rl.prompts_per_step=2 x rl.gradient_accumulation_steps=64; lower "
                                        r"rl.prompts_per_step or rl.gradient_accumulation_steps"):
        rl_stage.run(ctx)


def test_sft_stage_checks_too(tmp_path):
    from rapo_lite.stages import sft

    recipe = load_recipe("recipes/tiny.yaml",
                         [f"output_dir={tmp_path}", "eval.sources=[{name: samples, harmful: false}]"])
    with pytest.raises(RapoError, match="sft: 24 training prompt"):
        sft.run(context_without_model(recipe, tmp_path))


# ---------------------------------------------------------------------------- recipe


@pytest.mark.parametrize(
    "override, message",
    [
        ("rl.num_generations=1", "rl.num_generations: GRPO compares"),
        ("rl.temperature=0", "rl.temperature: rollouts must be sampled"),
        ("rl.reward_weights=[1.0]",
         r"rl.reward_weights: expected \[w_risk, w_general\] or \[w_risk, w_general, w_decision\]"),
        ("rl.reward_weights=[1.0,1.0,1.0,1.0]", r"rl.reward_weights: expected \[w_risk, w_general\] or"),
        ("rl.loss_type=grop", "did you mean 'grpo'"),
        ("rl.judge.kind=modle", "did you mean 'model'"),
        ("rl.chat_template_kwargs=[1]", "rl.chat_template_kwargs: expected a mapping"),
        ("rl.sources=[]", "rl.sources: list at least one source"),
    ],
)
def test_bad_rl_settings_are_named(override, message):
    with pytest.raises(RapoError, match=message):
        load_recipe("recipes/tiny.yaml", [override])


def test_rl_defaults_follow_the_paper():
    rl = load_recipe(None).rl
    assert (rl.num_generations, rl.temperature, rl.top_p) == (4, 1.2, 0.9)
    assert rl.judge.kind == "rule" and rl.reward_weights == [1.0, 1.0]
    recipe = load_recipe("recipes/tiny.yaml", ["rl.chat_template_kwargs={enable_thinking: false}"])
    assert recipe.rl.chat_template_kwargs == {"enable_thinking": False}
    args = rl_stage.grpo_args(recipe, "/tmp/x")
    assert args.per_device_train_batch_size == recipe.rl.prompts_per_step * recipe.rl.num_generations
    assert args.reward_weights == [1.0, 1.0] and args.loss_type == recipe.rl.loss_type


# ---------------------------------------------------------------------------- end to end


class CoinJudge(Judge):
    """Verdicts from a hash of the text: a random tiny model always gets the same (bad) rule
    verdicts, so this judge gives GRPO reward differences to learn from."""

    name = "coin"

    def judge_traces(self, queries):
        return [TraceVerdict(q.level or 1, _coin(q.trace)) for q in queries]

    def judge_answers(self, queries):
        return [AnswerVerdict(_coin(q.answer)) for q in queries]


def _coin(text):
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 0


@pytest.mark.parametrize("backend", ["unsloth", "transformers"])
def test_rl_stage_end_to_end_moves_the_adapter(tmp_path, monkeypatch, backend):
    needs_unsloth(backend)
    monkeypatch.setattr(rl_stage, "make_judge", lambda *a, **k: CoinJudge())
    recipe = load_recipe(
        "recipes/tiny.yaml",
        [f"output_dir={tmp_path}", "stages=[rl]", f"model.backend={backend}", "rl.max_steps=2",
         "rl.max_completion_length=24", "rl.learning_rate=0.05", "rl.sources.0.count=2", "rl.sources.1.count=2"],
    )
    served = fastgen.route_rollouts.calls
    run_dir = run(recipe)
    rows = read_jsonl(run_dir / "rollouts.jsonl")
    assert len(rows) == 2 * recipe.rl.prompts_per_step * recipe.rl.num_generations
    assert fastgen.route_rollouts.calls - served == 2  # each step's rollouts came from the fast CPU loop
    assert sorted({r["step"] for r in rows}) == [0, 1]
    for key in ("prompt", "thinking", "answer", "level", "case", "risk", "general", "total"):
        assert all(key in r for r in rows), key
    assert all(r["total"] == r["risk"] + r["general"] for r in rows)
    logged = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m.get("stage") == "rl" and "rewards/risk/mean" in m]
    assert [m["step"] for m in logged] == [1, 2]
    assert all("rewards/general/mean" in m and "judge/parse_failures" in m for m in logged)
    assert any(b.abs().sum() > 0 for b in saved_lora_b(run_dir))


def test_a_third_reward_weight_trains_on_the_thinkings_call(tmp_path, monkeypatch):
    monkeypatch.setattr(rl_stage, "make_judge", lambda *a, **k: CoinJudge())
    recipe = load_recipe(
        "recipes/tiny.yaml",
        [f"output_dir={tmp_path}", "stages=[rl]", "model.backend=transformers", "rl.max_steps=1",
         "rl.max_completion_length=24", "rl.sources.0.count=2", "rl.sources.1.count=2",
         "rl.reward_weights=[1.0,1.0,0.5]"],
    )
    assert rl_stage.grpo_args(recipe, "/tmp/x").reward_weights == [1.0, 1.0, 0.5]
    run_dir = run(recipe)
    rows = read_jsonl(run_dir / "rollouts.jsonl")
    assert rows and all(r["total"] == pytest.approx(r["risk"] + r["general"] + 0.5 * r["decision_reward"])
                        for r in rows)
    logged = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m.get("stage") == "rl" and "rewards/risk/mean" in m]
    mean_d = sum(r["decision_reward"] for r in rows) / len(rows)
    assert [m["rewards/decision/mean"] for m in logged] == [pytest.approx(mean_d)]
