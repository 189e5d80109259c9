"""The fast CPU decode loop (rapo_lite.fastgen) against transformers' generate, on tiny models."""

import contextlib

import pytest
import torch

from conftest import needs_unsloth
from rapo_lite import fastgen, generation
from rapo_lite.chat import render_prompt
from rapo_lite.data.sources import load_sources
from rapo_lite.errors import RapoError
from rapo_lite.generation import generate
from rapo_lite.model import load_model, resolve_model_path
from rapo_lite.recipe import TINY_MODEL, LoraConfig, ModelConfig

NEW_TOKENS = 32
FP32 = fastgen.Options(dtype=torch.float32)
BF16 = fastgen.Options(dtype=torch.bfloat16)
# bf16 weights change the model a little, so greedy outputs may part ways after some tokens.
# Measured on these 16 prompts x 32 tokens: all identical with the fp32 rescoring; the bound
# leaves room for another CPU's rounding while still catching a wrong merge or layout.
BF16_MIN_IDENTICAL = 0.75


def tiny_policy(load_in_4bit: bool = True, b_std: float = 0.1, backend: str = "transformers"):
    """The tiny Qwen3 with a LoRA whose B is random (a fresh adapter is a no-op), as after training."""
    model, tok = load_model(ModelConfig(backend=backend, load_in_4bit=load_in_4bit, max_seq_length=256),
                            LoraConfig(r=4, alpha=8), seed=0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * b_std)
    return model, tok


def prompts(tok, n=16):
    records = load_sources([{"name": "samples", "harmful": True, "count": n}], seed=0)
    return [render_prompt(tok, r.prompt) for r in records]


def run(model, tok, texts, **kw):
    kw.setdefault("max_new_tokens", NEW_TOKENS)
    kw.setdefault("batch_size", 8)
    return generate(model, tok, texts, **kw)


def adapter_state(model, on):
    return contextlib.nullcontext() if on else model.disable_adapter()


def share_identical(a, b):
    return sum(x.text == y.text for x, y in zip(a, b)) / len(a)


@pytest.mark.parametrize("backend", ["transformers", "unsloth"])
@pytest.mark.parametrize("load_in_4bit", [True, False])
@pytest.mark.parametrize("adapter_on", [False, True])
def test_fast_fp32_greedy_matches_transformers(backend, load_in_4bit, adapter_on):
    needs_unsloth(backend)
    model, tok = tiny_policy(load_in_4bit, backend=backend)
    texts = prompts(tok)
    with adapter_state(model, adapter_on):
        ref = run(model, tok, texts, engine="transformers")
        fast = run(model, tok, texts, engine="fast", fast_options=FP32)
    assert [g.text for g in fast] == [g.text for g in ref]
    assert [(g.n_tokens, g.hit_cap) for g in fast] == [(g.n_tokens, g.hit_cap) for g in ref]


@pytest.mark.parametrize("adapter_on", [False, True])
def test_fast_bf16_greedy_mostly_matches_transformers(adapter_on):
    model, tok = tiny_policy()
    texts = prompts(tok)
    with adapter_state(model, adapter_on):
        ref = run(model, tok, texts, engine="transformers")
        fast = run(model, tok, texts, engine="fast", fast_options=BF16)
    assert share_identical(ref, fast) >= BF16_MIN_IDENTICAL


def test_fast_loop_covers_llama_and_qwen2_with_biases():
    """Random Llama (SmolLM2's architecture) and Qwen2 (q/k/v biases) models, left-padded ragged prompts."""
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    torch.manual_seed(0)
    shape = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=256, eos_token_id=5, pad_token_id=0)
    for model in (LlamaForCausalLM(LlamaConfig(**shape)), Qwen2ForCausalLM(Qwen2Config(**shape))):
        model.eval()
        ids = [[7, 9, 11, 13, 15, 17], [20, 21], [30, 31, 32, 33]]
        fast = fastgen.generate_ids(model, ids, max_new_tokens=12, eos_ids=[5], pad_id=0, batch_size=3, options=FP32)
        for row, new in zip(ids, fast):  # one prompt at a time: transformers' reference without padding
            out = model.generate(torch.tensor([row]), max_new_tokens=12, do_sample=False, eos_token_id=5,
                                 pad_token_id=0)
            assert new == out[0, len(row):].tolist()


def test_each_row_stops_at_its_own_end():
    model, tok = tiny_policy(load_in_4bit=False)
    texts = prompts(tok, 8)
    ids = [tok(t, add_special_tokens=False).input_ids for t in texts]
    rows = fastgen.generate_ids(model, ids, max_new_tokens=NEW_TOKENS, eos_ids=[tok.eos_token_id], pad_id=0,
                                options=FP32)

    def first_seen(token):
        return [row.index(token) if token in row else None for row in rows]

    # An extra end token that some replies reach at different steps and others never do.
    stop = max({t for row in rows for t in row}, key=lambda t: (None in first_seen(t), len(set(first_seen(t)))))
    model.generation_config.eos_token_id = [tok.eos_token_id, stop]
    ref = run(model, tok, texts, engine="transformers")
    dropping = run(model, tok, texts, engine="fast", fast_options=FP32)
    stepping = run(model, tok, texts, engine="fast",
                   fast_options=fastgen.Options(dtype=torch.float32, drop_finished=False))
    assert any(not g.hit_cap for g in ref) and any(g.hit_cap for g in ref)  # both kinds of ending happen
    assert len({g.n_tokens for g in ref}) > 2
    for got in (dropping, stepping):
        assert [(g.text, g.n_tokens, g.hit_cap) for g in got] == [(g.text, g.n_tokens, g.hit_cap) for g in ref]


def lora_grads(model, tok):
    model.zero_grad()
    ids = tok(["I cannot help with that request."] * 2, return_tensors="pt")["input_ids"]
    model(input_ids=ids, labels=ids).loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_generation_leaves_the_trainable_weights_fp32_and_training():
    model, tok = tiny_policy(load_in_4bit=True)  # 4-bit: also the bitsandbytes CPU repacking trap (STACK.md)
    model.train()
    before = {n: (p.dtype, p.requires_grad, p.detach().clone()) for n, p in model.named_parameters()}
    grads = lora_grads(model, tok)
    run(model, tok, prompts(tok, 4), engine="fast", fast_options=BF16)
    assert model.training
    for name, p in model.named_parameters():
        dtype, requires_grad, value = before[name]
        assert (p.dtype, p.requires_grad) == (dtype, requires_grad), name
        assert torch.equal(p.detach(), value), name
    assert all(p.dtype == torch.float32 for n, p in model.named_parameters() if "lora_" in n)
    after = lora_grads(model, tok)
    assert all(torch.equal(grads[n], after[n]) for n in grads)


def test_adapter_off_is_exactly_the_base_model():
    from transformers import AutoModelForCausalLM

    model, tok = tiny_policy(load_in_4bit=False)
    base = AutoModelForCausalLM.from_pretrained(resolve_model_path(TINY_MODEL), dtype=torch.float32)
    texts = prompts(tok, 8)
    trained = run(model, tok, texts, engine="fast")
    with model.disable_adapter():
        off = run(model, tok, texts, engine="fast")
    plain = run(base, tok, texts, engine="fast")
    assert [g.text for g in off] == [g.text for g in plain]
    assert [g.text for g in trained] != [g.text for g in off]  # the adapter does something
    assert [g.text for g in run(model, tok, texts, engine="fast")] == [g.text for g in trained]  # back on, same cache


def test_cached_weights_follow_adapter_updates():
    model, tok = tiny_policy(load_in_4bit=False)
    texts = prompts(tok, 8)
    old = run(model, tok, texts, engine="fast", fast_options=FP32)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=5.0)
    lora_grads(model, tok)
    opt.step()  # an in-place update, as in training
    stepped = run(model, tok, texts, engine="fast", fast_options=FP32)
    assert [g.text for g in stepped] == [g.text for g in run(model, tok, texts, engine="transformers")]
    assert [g.text for g in stepped] != [g.text for g in old]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.data.mul_(-1.0)  # through .data: the version counter does not move, the norm guard must see it
    flipped = run(model, tok, texts, engine="fast", fast_options=FP32)
    assert [g.text for g in flipped] == [g.text for g in run(model, tok, texts, engine="transformers")]


def hf_kept(scores, s):
    from transformers import (
        MinPLogitsWarper,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    ids = torch.zeros(scores.shape[0], 1, dtype=torch.long)
    warpers = [TemperatureLogitsWarper(s.temperature)]
    warpers += [TopKLogitsWarper(s.top_k)] if s.top_k else []
    warpers += [TopPLogitsWarper(s.top_p)] if s.top_p < 1 else []
    warpers += [MinPLogitsWarper(s.min_p)] if s.min_p else []
    for w in warpers:
        scores = w(ids, scores)
    return torch.isfinite(scores)


@pytest.mark.parametrize("setting", [{"top_k": 10, "top_p": 0.8}, {"top_p": 0.5}, {"top_k": 50, "min_p": 0.2},
                                     {"top_k": 3}, {"top_p": 0.95, "min_p": 0.05}])
def test_sampling_filters_keep_the_tokens_transformers_keeps(setting):
    s = fastgen.Sampling(temperature=0.7, **setting)
    scores = torch.randn(6, 200, generator=torch.Generator().manual_seed(3)) * 3
    vals, order = fastgen.filter_scores(scores / s.temperature, s)
    kept = torch.zeros_like(scores, dtype=torch.bool)
    cols = order if order is not None else torch.arange(scores.shape[1]).expand_as(scores)
    kept.scatter_(1, cols, torch.isfinite(vals))
    assert torch.equal(kept, hf_kept(scores.clone(), s))


def test_sampling_settings_follow_transformers_defaults():
    model, _ = tiny_policy(load_in_4bit=False)
    assert fastgen.sampling_for(model, 0.0, 0.9) is None
    assert fastgen.sampling_for(model, 0.8, 0.9) == fastgen.Sampling(temperature=0.8, top_k=50, top_p=0.9)
    model.generation_config.top_k = 20
    assert fastgen.sampling_for(model, 0.8, 0.9).top_k == 20
    model.generation_config.repetition_penalty = 1.3
    assert fastgen.sampling_for(model, 0.8, 0.9).repetition_penalty == 1.3
    with pytest.raises(fastgen.Unsupported, match="repetition_penalty"):  # greedy with a penalty: transformers
        fastgen.sampling_for(model, 0.0, 0.9)
    model.generation_config.no_repeat_ngram_size = 3
    with pytest.raises(fastgen.Unsupported, match="no_repeat_ngram_size"):
        fastgen.sampling_for(model, 0.8, 0.9)


def test_repetition_penalty_matches_transformers():
    """top_k=1 makes sampling deterministic: it must equal transformers' greedy decoding under the same penalty."""
    model, tok = tiny_policy(load_in_4bit=False)
    model.generation_config.repetition_penalty = 1.3
    model.generation_config.top_k = 1
    texts = prompts(tok, 8)
    ref = run(model, tok, texts, engine="transformers")  # greedy: transformers applies the penalty there too
    fast = run(model, tok, texts, engine="fast", temperature=0.7, fast_options=FP32)
    assert [g.text for g in fast] == [g.text for g in ref]
    assert [g.text for g in ref] != [g.text for g in run(tiny_policy(load_in_4bit=False)[0], tok, texts)]


def test_top_k_one_sampling_is_greedy():
    model, tok = tiny_policy()
    model.generation_config.top_k = 1
    texts = prompts(tok, 8)
    for options in (FP32, BF16):
        sampled = run(model, tok, texts, engine="fast", temperature=0.9, top_p=0.95, fast_options=options)
        greedy = run(model, tok, texts, engine="fast", fast_options=options)
        assert [g.text for g in sampled] == [g.text for g in greedy]


def test_sampling_is_seeded_and_varies():
    model, tok = tiny_policy()
    texts = prompts(tok, 4) * 2
    a = run(model, tok, texts, engine="fast", temperature=1.0, seed=5)
    assert [g.text for g in a] == [g.text for g in run(model, tok, texts, engine="fast", temperature=1.0, seed=5)]
    assert [g.text for g in a] != [g.text for g in run(model, tok, texts, engine="fast", temperature=1.0, seed=6)]


def forbid_fast_loop(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the fast loop ran")

    monkeypatch.setattr(fastgen, "generate_ids", fail)


def test_unsupported_settings_fall_back_to_transformers(monkeypatch):
    model, tok = tiny_policy()
    model.generation_config.no_repeat_ngram_size = 2
    texts = prompts(tok, 4)
    with pytest.raises(RapoError, match="no_repeat_ngram_size"):
        run(model, tok, texts, engine="fast")
    forbid_fast_loop(monkeypatch)
    assert [g.text for g in run(model, tok, texts)] == [g.text for g in run(model, tok, texts, engine="transformers")]


def test_models_off_the_cpu_keep_transformers_generate(monkeypatch):
    model, tok = tiny_policy()
    texts = prompts(tok, 4)
    monkeypatch.setattr(generation, "_on_cpu", lambda m: False)
    forbid_fast_loop(monkeypatch)
    assert [g.text for g in run(model, tok, texts)] == [g.text for g in run(model, tok, texts, engine="transformers")]
    with pytest.raises(RapoError, match="CPU only"):
        run(model, tok, texts, engine="fast")


def test_engine_comes_from_the_environment(monkeypatch):
    model, tok = tiny_policy()
    monkeypatch.setenv(generation.ENGINE_ENV, "transformers")
    forbid_fast_loop(monkeypatch)
    run(model, tok, prompts(tok, 2))
    monkeypatch.setenv(generation.ENGINE_ENV, "quick")
    with pytest.raises(RapoError, match="quick"):
        run(model, tok, prompts(tok, 2))


def test_fp32_fast_loop_from_the_environment(monkeypatch):
    model, tok = tiny_policy()
    texts = prompts(tok, 8)
    monkeypatch.setenv(fastgen.DTYPE_ENV, "float32")
    assert fastgen.cpu_compute_dtype() == torch.float32
    assert [g.text for g in run(model, tok, texts)] == [g.text for g in run(model, tok, texts, engine="transformers")]
    monkeypatch.setenv(fastgen.DTYPE_ENV, "half")
    with pytest.raises(RapoError, match="half"):
        run(model, tok, texts)


def test_grpo_rollouts_can_go_through_the_fast_loop(tmp_path, monkeypatch):
    from rapo_lite.io import read_jsonl
    from rapo_lite.judges import AnswerVerdict, TraceVerdict
    from rapo_lite.judges.rule import RuleJudge
    from rapo_lite.recipe import load_recipe
    from rapo_lite.runner import run as run_recipe
    from rapo_lite.stages import rl as rl_stage

    class LengthJudge(RuleJudge):  # rewards that vary with the text, so the step has a signal
        def judge_traces(self, queries):
            return [TraceVerdict(q.level or 1, len(q.trace) % 2 == 0) for q in queries]

        def judge_answers(self, queries):
            return [AnswerVerdict(len(q.answer) % 2 == 0) for q in queries]

    built = rl_stage.build_trainer

    def build_with_fast_rollouts(*args, **kwargs):
        trainer = built(*args, **kwargs)
        fastgen.route_rollouts(trainer)
        return trainer

    monkeypatch.setattr(rl_stage, "make_judge", lambda *a, **k: LengthJudge())
    monkeypatch.setattr(rl_stage, "build_trainer", build_with_fast_rollouts)
    calls = fastgen.route_rollouts.calls
    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "stages=[rl]", "model.backend=transformers",
                                               "rl.max_steps=2", "rl.max_completion_length=16",
                                               "rl.sources.0.count=2", "rl.sources.1.count=2"])
    run_dir = run_recipe(recipe)
    assert fastgen.route_rollouts.calls - calls >= 2  # one batch of rollouts per step
    rows = read_jsonl(run_dir / "rollouts.jsonl")
    assert len(rows) == 2 * recipe.rl.prompts_per_step * recipe.rl.num_generations
