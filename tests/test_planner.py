"""The memory planner: hand-computed predictions, the GPU recipes' headers, and clear 'does not fit' verdicts."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rapo_lite.errors import RapoError
from rapo_lite.model_configs import load_config, packaged_key, read_config
from rapo_lite.planner import (
    GIB,
    MIB,
    Setup,
    activation_bytes,
    kv_bytes_per_token,
    logit_bytes,
    lora_params,
    parse_size,
    plan_recipe,
    render,
    shape_from_config,
    verdict,
    weight_bytes,
)
from rapo_lite.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
GPU_RECIPES = sorted(p for p in RECIPES.glob("*.yaml") if "# Planner:" in p.read_text())
ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def shape(name):
    return shape_from_config(load_config(name)[0])


def test_packaged_configs_hold_the_published_shapes():
    q17, q8 = shape("Qwen/Qwen3-1.7B"), shape("unsloth/Qwen3-8B-unsloth-bnb-4bit")
    assert (q17.layers, q17.hidden, q17.intermediate, q17.heads, q17.kv_heads, q17.head_dim, q17.vocab,
            q17.tied_embeddings) == (28, 2048, 6144, 16, 8, 128, 151936, True)
    assert (q8.layers, q8.hidden, q8.intermediate, q8.heads, q8.kv_heads, q8.vocab, q8.tied_embeddings) == (
        36, 4096, 12288, 32, 8, 151936, False)
    r15, r7 = shape("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"), shape("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert (r15.hidden, r15.heads, r15.kv_heads, r15.head_dim, r15.tied_embeddings) == (1536, 12, 2, 128, False)
    assert (r7.hidden, r7.intermediate, r7.kv_heads, r7.vocab) == (3584, 18944, 4, 152064)
    assert packaged_key("unsloth/DeepSeek-R1-Distill-Qwen-7B-bnb-4bit") == "deepseek-r1-distill-qwen-7b"


def test_qwen3_1_7b_terms_by_hand():
    s = shape("Qwen/Qwen3-1.7B")
    # Projections per layer: q and o 2048x2048, k and v 2048x1024 (8 KV heads x 128), gate/up/down 2048x6144.
    per_layer = 2 * 2048 * 2048 + 2 * 2048 * 1024 + 3 * 2048 * 6144
    assert per_layer == 50_331_648 and s.linear_params() == 28 * per_layer == 1_409_286_144
    # nf4: half a byte per weight + a 1-byte absmax per 64 + a 4-byte scale per 64*256 weights.
    nf4 = 1_409_286_144 // 2 + 1_409_286_144 // 64 + 1_409_286_144 * 4 // (64 * 256)
    assert nf4 == 704_643_072 + 22_020_096 + 344_064 == 727_007_232
    embeddings = 151936 * 2048 * 2  # tied: one 16-bit matrix
    assert weight_bytes(s, True, 2) == nf4 + embeddings == 1_349_337_088
    assert weight_bytes(s, False, 2) == 2 * 1_409_286_144 + embeddings
    # LoRA r=16: r * (in + out) summed over the seven projections, per layer.
    assert lora_params(s, 16, ALL_MODULES) == 28 * 16 * (4096 + 3072 + 3072 + 4096 + 8192 + 8192 + 8192) == 17_432_576
    # KV cache: keys and values, 28 layers, 8 heads x 128, 2 bytes.
    assert kv_bytes_per_token(s, 2) == 2 * 28 * 1024 * 2 == 114_688
    # Training activations, Unsloth, 4 sequences x 1536 tokens: two offloaded checkpoints, one
    # layer saved twice (5h + 2q + 2kv + 3i = 34816 elements), the residual stream and its
    # gradient, plus the largest projection (2048 x 6144) dequantised.
    tokens = 4 * 1536
    per_token = 2 * 2048 + 2 * (5 * 2048 + 2 * 2048 + 2 * 1024 + 3 * 6144) + 2 * 2048
    assert per_token == 77_824
    assert activation_bytes(s, tokens, "unsloth", True, 2) == (tokens * per_token + 2048 * 6144) * 2 == 981_467_136
    # Stock transformers keeps every layer's checkpoint and more per layer (7h + 4q + 4kv + 4i).
    stock = tokens * (28 * 2048 + 2 * (7 * 2048 + 4 * 2048 + 4 * 1024 + 4 * 6144) + 2 * 2048) + 2048 * 6144
    assert activation_bytes(s, tokens, "transformers", True, 2) == stock * 2
    # TRL's fused head: one 4096 x 32768 tile in bf16 + the fp32 gradient of the hidden states.
    assert logit_bytes(s, tokens, 2) == 4096 * 32768 * 2 + tokens * 2048 * 4 == 318_767_104
    assert logit_bytes(s, tokens, 2, chunked=False) == tokens * 151936 * 10  # ten times more than tiled


def test_qwen3_1_7b_rl_stage_by_hand():
    recipe = load_recipe(RECIPES / "qwen3-1.7b-rapo-8gb.yaml")
    [rl] = [p for p in plan_recipe(recipe, shape("Qwen/Qwen3-1.7B")) if p.stage == "rl"]
    phases = {p.name: p.bytes for p in rl.phases}
    # Generation: 1 prompt x 4 rollouts x 4 accumulation steps = 16 sequences of 512 + 1024 tokens.
    kv = 16 * 1536 * 114_688
    prefill = 16 * 512 * (2 * 6144 + 4 * 2048) * 2
    sampling = 16 * 151936 * 4 * 3
    assert phases["generation"] == kv + prefill + sampling == 3_183_288_320
    # The model judge: batch 8, rubric 256 + prompt 512 + completion 1024 in, 48 out.
    assert phases["judging"] == 8 * 1840 * 114_688 + 8 * 1792 * 20480 * 2 + 8 * 151936 * 12 == 2_289_995_776
    # Training: fp32 LoRA gradients + activations + tiled log-probs.
    assert phases["training step"] == 17_432_576 * 4 + 981_467_136 + 318_767_104 == 1_369_964_544
    resident = 1_349_337_088 + 17_432_576 * 12  # weights + fp32 LoRA weights and two AdamW moments
    assert rl.peak_phase.name == "generation" and rl.tensor_bytes == resident + 3_183_288_320 == 4_741_816_320
    overhead = 512 * MIB + round(0.10 * 4_741_816_320)  # CUDA context + allocator slack
    assert rl.peak_bytes == 4_741_816_320 + overhead == 5_752_868_864
    assert rl.peak_bytes <= 6 * GIB  # the target for the Qwen3-1.7B shape
    assert rl.dominant.name == "KV cache"


def test_the_8b_shape_meets_its_target_on_a_t4():
    recipe = load_recipe(RECIPES / "qwen3-8b-rapo-t4.yaml")
    plans = plan_recipe(recipe, shape("Qwen/Qwen3-8B"))
    assert max(p.peak_bytes for p in plans) <= 15 * GIB
    # Untied: 36 layers of nf4 projections + two 16-bit 151936 x 4096 matrices.
    assert (weight_bytes(shape("Qwen/Qwen3-8B"), True, 2)
            == round(6_945_767_424 * (0.5 + 1 / 64 + 1 / 4096)) + 2 * 151936 * 4096 * 2)


def test_unsloth_published_grpo_figure_is_matched_within_the_15_percent_goal():
    # Unsloth's GRPO notebook on Qwen2.5-1.5B: LoRA r 64, 8 generations, 256-token prompts in a
    # 1024-token window, one prompt per step; Unsloth reports 5-7 GB. Without vLLM's share of
    # the card the planner should land in that band, give or take the planner's 15% goal.
    recipe = load_recipe(RECIPES / "tiny.yaml", [
        "model.name_or_path=Qwen/Qwen2.5-1.5B-Instruct", "stages=[rl]", "model.max_seq_length=1024", "lora.r=64",
        "rl.num_generations=8", "rl.max_completion_length=768", "rl.prompts_per_step=1", "rl.judge.kind=rule"])
    [rl] = plan_recipe(recipe, shape("Qwen/Qwen2.5-1.5B-Instruct"), Setup(prompt_tokens=256))
    assert 0.85 * 5e9 <= rl.peak_bytes <= 1.15 * 7e9


@pytest.mark.parametrize("path", GPU_RECIPES, ids=lambda p: p.name)
def test_gpu_recipes_parse_fit_and_their_headers_match_the_planner(path):
    lines = path.read_text().splitlines()
    assert lines[0] == f"# python train.py recipes/{path.name}"
    assert lines[2].startswith("# Card: ")
    m = re.match(r"# Planner: peak (\d+\.\d) GiB in the (\w+) stage of (\d+) GiB \(python train.py plan recipes/(\S+) "
                 r"--gpu-memory (\d+)GiB\)$", lines[3])
    assert m and m.group(4) == path.name and m.group(3) == m.group(5), lines[3]
    recipe = load_recipe(path)
    assert recipe.model.name_or_path in {"Qwen/Qwen3-1.7B", "Qwen/Qwen3-8B",
                                         "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
                                         "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"}
    card = int(m.group(3)) * GIB
    plans = plan_recipe(recipe, shape(recipe.model.name_or_path), Setup(gpu_memory=card))
    worst = max(plans, key=lambda p: p.peak_bytes)
    assert (f"{worst.peak_bytes / GIB:.1f}", worst.stage) == (m.group(1), m.group(2))
    fits, sentence = verdict(plans, card)
    assert fits, sentence
    if "rl" in recipe.stages:  # paper settings
        assert ((recipe.rl.num_generations, recipe.rl.temperature, recipe.rl.top_p, recipe.rl.judge.kind)
                == (4, 1.2, 0.9, "model"))
    if "qwen3" in path.name and "rl" in recipe.stages:
        assert recipe.rl.chat_template_kwargs == {"enable_thinking": True}
    if "-t4" in path.name:
        assert recipe.model.dtype == "float16"  # a T4 has no bfloat16


def test_gpu_recipes_cover_both_methods_models_and_cards():
    names = {p.name for p in GPU_RECIPES}
    for model in ("qwen3-1.7b", "r1-qwen-1.5b"):
        assert {f"{model}-rapo-8gb.yaml", f"{model}-ipo-8gb.yaml"} <= names
    for model in ("qwen3-8b", "r1-qwen-7b"):
        for card in ("t4", "24gb"):
            assert {f"{model}-rapo-{card}.yaml", f"{model}-ipo-{card}.yaml"} <= names


def test_a_recipe_that_cannot_fit_names_its_dominant_term():
    # The 8B model's 4-bit weights alone take 5.7 GiB.
    recipe = load_recipe(RECIPES / "qwen3-8b-rapo-t4.yaml")
    fits, sentence = verdict(plan_recipe(recipe, shape("Qwen/Qwen3-8B")), 6 * GIB)
    assert not fits
    assert sentence.startswith("does not fit in 6.00 GiB: the rl stage needs")
    assert "Dominant term: nf4 4-bit weights" in sentence and "a smaller model" in sentence
    # Sampling 64 rollouts of 1536 tokens at once: the KV cache dominates and its knobs are named.
    recipe = load_recipe(RECIPES / "qwen3-1.7b-rapo-8gb.yaml", ["rl.prompts_per_step=4"])
    fits, sentence = verdict(plan_recipe(recipe, shape("Qwen/Qwen3-1.7B")), 8 * GIB)
    assert not fits and "Dominant term: KV cache" in sentence
    assert "rl.max_completion_length" in sentence and "rl.prompts_per_step" in sentence


def test_fast_inference_counts_vllms_share_once():
    recipe = load_recipe(RECIPES / "qwen3-1.7b-rapo-8gb.yaml", ["rl.fast_inference=true"])
    s = shape("Qwen/Qwen3-1.7B")
    plans = plan_recipe(recipe, s, Setup(gpu_memory=8 * GIB))
    rl = plans[1]
    [pool] = [t for t in rl.resident if t.name.startswith("vLLM")]
    # Unsloth's engine takes half the card for the (shared) weights and its KV cache.
    assert pool.bytes == 4 * GIB - weight_bytes(s, True, 2)
    assert "generation" not in {p.name for p in rl.phases}  # vLLM samples inside its own share
    assert all(any(t.name.startswith("vLLM") for t in p.resident) for p in plans)  # loaded for the whole run


def test_a_vllm_server_takes_no_share_of_the_training_card():
    recipe = load_recipe(RECIPES / "qwen3-1.7b-rapo-8gb.yaml", ["rl.fast_inference=true", "rl.vllm_mode=server",
                                                                 "model.backend=transformers"])
    rl = plan_recipe(recipe, shape("Qwen/Qwen3-1.7B"), Setup(gpu_memory=8 * GIB))[1]
    assert not [t for t in rl.resident if t.name.startswith("vLLM")]
    assert "generation" not in {p.name for p in rl.phases}  # the server samples the rollouts


def test_parse_size():
    assert parse_size("8GiB") == parse_size("8G") == parse_size("8 gib") == 8 * GIB
    assert (parse_size("16GB") == 16 * 10**9 and parse_size("7800MiB") == 7800 * MIB
            and parse_size("1.5GiB") == 1.5 * GIB)
    for bad in ("eight", "8", "8XB", ""):
        with pytest.raises(RapoError, match="--gpu-memory"):
            parse_size(bad)


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(RapoError, match="not valid JSON"):
        (tmp_path / "config.json").write_text("{")
        read_config(tmp_path)
    with pytest.raises(RapoError, match="has no 'hidden_size'"):
        shape_from_config({"model_type": "bert"})
    with pytest.raises(RapoError, match="lora.target_modules"):
        lora_params(shape("Qwen/Qwen3-1.7B"), 8, ["qkv_proj"])


def plan_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), "plan", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_plan_command_prints_every_stage_and_the_verdict():
    r = plan_cli("recipes/qwen3-1.7b-rapo-8gb.yaml", "--gpu-memory", "8GiB")
    assert r.returncode == 0, r.stderr
    for stage in ("sft", "rl", "eval"):
        assert f"| {stage} |" in r.stdout
    assert "KV cache" in r.stdout and "LoRA weights + AdamW state" in r.stdout and "fits in 8.00 GiB" in r.stdout
    r = plan_cli("recipes/qwen3-8b-rapo-24gb.yaml", "--gpu-memory", "8GiB")
    assert r.returncode == 1 and "does not fit in 8.00 GiB" in r.stdout and "Dominant term" in r.stdout


def test_plan_offline_without_a_config_says_what_to_pass(tmp_path):
    r = plan_cli("recipes/tiny.yaml", "model.name_or_path=someorg/unknown-model", "--gpu-memory", "8GiB",
                 env_extra={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no packaged config for 'someorg/unknown-model'" in r.stderr and "--model-config" in r.stderr
    # Naming a config.json is enough, before any download.
    (tmp_path / "config.json").write_text((ROOT / "rapo_lite/model_configs/Qwen3-1.7B.json").read_text())
    r = plan_cli("recipes/tiny.yaml", "model.name_or_path=someorg/unknown-model", "--model-config",
                 str(tmp_path / "config.json"), "--gpu-memory", "8GiB", env_extra={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0 and "28 layers, hidden 2048" in r.stdout


def test_render_lists_each_stage_at_its_peak():
    recipe = load_recipe(RECIPES / "r1-qwen-7b-ipo-t4.yaml")
    s = shape("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    text = render(plan_recipe(recipe, s), s, recipe, "packaged", Setup())
    assert "ipo: peak during" in text and "eval: peak during" in text and "cue finding" in text
    assert "separate LM head" in text and "prompts assumed 512 tokens" in text
