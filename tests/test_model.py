import copy

import bitsandbytes as bnb
import pytest
import torch

from conftest import needs_unsloth
from rapo_lite.errors import RapoError
from rapo_lite.generation import generate
from rapo_lite.model import load_model, resolve_model_path, save_adapter, save_merged_16bit
from rapo_lite.recipe import LoraConfig, ModelConfig

BACKENDS = ["unsloth", "transformers"]


def tiny(backend, **kw):
    return ModelConfig(backend=backend, max_seq_length=256, **kw)


def lora_state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def batch(tokenizer, n=2):
    enc = tokenizer(["I cannot help with that request."] * n, return_tensors="pt")
    return enc["input_ids"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_loads_4bit_and_a_lora_step_changes_only_the_adapter(backend):
    needs_unsloth(backend)
    model, tok = load_model(tiny(backend), LoraConfig(r=4, alpha=8), seed=0)
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(layers) == 4 * 7  # every projection of every layer is nf4
    assert all(m.weight.quant_state.quant_type == "nf4" for m in layers)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()
              if not p.requires_grad and p.dtype.is_floating_point}
    before = lora_state(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    ids = batch(tok)
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    after = lora_state(model)
    assert any(not torch.equal(before[n], after[n]) for n in before)
    assert all(torch.equal(p, dict(model.named_parameters())[n]) for n, p in frozen.items())


def reference_model(peft_model, path):
    """An fp32 model with the dequantized base weights and the same LoRA weights."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    state = {}
    for name, mod in peft_model.named_modules():
        if isinstance(mod, bnb.nn.Linear4bit):
            key = name.replace("base_model.model.", "", 1).replace(".base_layer", "") + ".weight"
            state[key] = bnb.functional.dequantize_4bit(mod.weight.data, mod.weight.quant_state).float()
    missing = set(state) - set(ref.state_dict())
    assert not missing, missing
    ref.load_state_dict(state, strict=False)
    cfg = copy.deepcopy(peft_model.peft_config["default"])
    ref = get_peft_model(ref, cfg)
    lora = {n: p for n, p in peft_model.state_dict().items() if "lora_" in n}
    assert not ref.load_state_dict(lora, strict=False).unexpected_keys
    return ref


def lora_grad_error(model, tok, path, force_repacking):
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)  # B starts at zero; make A's gradient non-trivial too
    if force_repacking:
        for m in model.modules():
            if isinstance(m, bnb.nn.Linear4bit):
                m.support_avx512bf16_for_cpu = True
    prompts = [tok.apply_chat_template([{"role": "user", "content": "hello there"}], tokenize=False,
                                       add_generation_prompt=True)]
    # transformers' generate: the no-grad eval forward that triggers repacking (the kit's fast
    # CPU loop reads the weights without running bitsandbytes' forward, so it never repacks)
    generate(model, tok, prompts, max_new_tokens=4, engine="transformers")
    ref = reference_model(model, path)
    ids = batch(tok)
    model.train()
    ref.train()
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    ref(input_ids=ids, labels=ids).loss.backward()
    got = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    want = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
    assert set(got) == set(want) and got
    return max(((got[n] - want[n]).norm() / want[n].norm().clamp_min(1e-12)).item() for n in want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lora_gradients_after_generate_match_full_precision(backend, monkeypatch):
    needs_unsloth(backend)
    # Pretend this CPU has AVX512-BF16, where bitsandbytes repacks weights on the first
    # no-grad forward; the loader must switch that off.
    monkeypatch.setattr(bnb.nn.modules, "has_avx512bf16", lambda: True)
    model, tok = load_model(tiny(backend), LoraConfig(r=4, alpha=8, dropout=0.0), seed=0)
    assert all(not m.support_avx512bf16_for_cpu for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    err = lora_grad_error(model, tok, resolve_model_path(ModelConfig().name_or_path), force_repacking=False)
    assert err < 1e-3


def test_the_repacking_trap_is_real_without_the_guard():
    # Control for the test above: with repacking left on, the same comparison fails.
    model, tok = load_model(tiny("transformers"), LoraConfig(r=4, alpha=8), seed=0)
    err = lora_grad_error(model, tok, resolve_model_path(ModelConfig().name_or_path), force_repacking=True)
    assert err > 0.1


def test_same_seed_same_adapter_init():
    a, _ = load_model(tiny("transformers"), LoraConfig(r=4), seed=3)
    b, _ = load_model(tiny("transformers"), LoraConfig(r=4), seed=3)
    c, _ = load_model(tiny("transformers"), LoraConfig(r=4), seed=4)
    sa, sb, sc = lora_state(a), lora_state(b), lora_state(c)
    assert all(torch.equal(sa[n], sb[n]) for n in sa)
    assert any(not torch.equal(sa[n], sc[n]) for n in sa if "lora_A" in n)


def test_save_adapter_and_merged_16bit(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = tiny("transformers", load_in_4bit=False)
    model, tok = load_model(cfg, LoraConfig(r=4), seed=0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    out = save_adapter(model, tok, tmp_path / "adapter")
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    ids = batch(tok, 1)
    model.eval()
    with torch.no_grad():
        want = model(input_ids=ids).logits
        base = AutoModelForCausalLM.from_pretrained(resolve_model_path(cfg.name_or_path), dtype=torch.float32)
        got = PeftModel.from_pretrained(base, str(out))(input_ids=ids).logits
        assert torch.allclose(got, want, atol=1e-5)
        merged_dir = save_merged_16bit(cfg, out, tmp_path / "merged")
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
        assert not hasattr(merged, "peft_config")
        assert torch.allclose(merged(input_ids=ids).logits, want, atol=0.05)


def test_model_path_errors(tmp_path):
    with pytest.raises(RapoError, match="neither an existing folder nor a hub name"):
        resolve_model_path(str(tmp_path / "missing"))
    with pytest.raises(RapoError, match="has no config.json"):
        resolve_model_path(str(tmp_path))
    assert resolve_model_path("Qwen/Qwen3-1.7B") == "Qwen/Qwen3-1.7B"  # hub names pass through


def test_local_folder_in_hub_layout_loads(tmp_path):
    import shutil

    local = tmp_path / "Qwen3-tiny"
    shutil.copytree(resolve_model_path(ModelConfig().name_or_path), local)
    model, tok = load_model(tiny("transformers", name_or_path=str(local)), LoraConfig(r=2), seed=0)
    assert tok.chat_template and hasattr(model, "peft_config")


def test_model_without_chat_template_is_refused(tmp_path):
    import json
    import shutil

    local = tmp_path / "no-template"
    shutil.copytree(resolve_model_path(ModelConfig().name_or_path), local)
    (local / "chat_template.jinja").unlink(missing_ok=True)
    cfg_path = local / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("chat_template", None)
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(RapoError, match="no chat template"):
        load_model(tiny("transformers", name_or_path=str(local)), LoraConfig(r=2), seed=0)
