"""`train.py export`: merged 16-bit models that answer like the adapter model, and the GGUF path's errors."""

import pytest
import torch
import yaml

from conftest import needs_unsloth
from rapo_lite.cli import main
from rapo_lite.errors import RapoError
from rapo_lite.export import export
from rapo_lite.io import atomic_write_text
from rapo_lite.model import load_model, resolve_model_path, save_adapter
from rapo_lite.recipe import TINY_MODEL, dump_recipe, load_recipe


def make_run(tmp_path, backend):
    """A run folder as a training stage leaves it: recipe.yaml and a trained-looking adapter."""
    recipe = load_recipe(None, [f"model.backend={backend}", "model.load_in_4bit=false", "model.max_seq_length=256",
                                f"output_dir={tmp_path}", f"run_name=run-{backend}", "lora.r=4"])
    run_dir = recipe.run_dir
    atomic_write_text(run_dir / "recipe.yaml", dump_recipe(recipe))
    model, tok = load_model(recipe.model, recipe.lora, seed=0)
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero, which would make the merge a no-op
            torch.nn.init.normal_(p, std=0.1)
    save_adapter(model, tok, run_dir / "adapter")
    ids = tok(["I cannot help with that request, but here is why."], return_tensors="pt")["input_ids"]
    model.eval()
    with torch.no_grad():
        want = model(input_ids=ids).logits.float()
    return run_dir, ids, want


@pytest.mark.parametrize("backend", ["unsloth", "transformers"])
def test_merged_16bit_answers_like_the_adapter_model(tmp_path, backend):
    needs_unsloth(backend)
    from transformers import AutoModelForCausalLM

    run_dir, ids, want = make_run(tmp_path, backend)
    out = export(run_dir, "merged_16bit")
    assert out == run_dir / "merged_16bit" and (out / "config.json").is_file()
    assert not list(out.glob("adapter_config.json"))  # a plain model, no adapter left
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    card = (out / "README.md").read_text()  # the kit's model card, written before the folder was renamed in
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "transformers" and {"rapo-lite", "lora"} <= set(meta["tags"])
    assert "[recipe.yaml](recipe.yaml)" in card and load_recipe(out / "recipe.yaml").run_name == f"run-{backend}"
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(resolve_model_path(TINY_MODEL), dtype=torch.float32)
    with torch.no_grad():
        got, without = merged(input_ids=ids).logits, base(input_ids=ids).logits
    # 16-bit weights: equal up to bfloat16 rounding, while the base alone is far off.
    assert torch.allclose(got, want, atol=0.05), (got - want).abs().max()
    assert (without - want).abs().max() > 0.5


def test_gguf_without_llama_cpp_is_a_clear_error(tmp_path, monkeypatch):
    needs_unsloth("unsloth")
    run_dir, _, _ = make_run(tmp_path, "transformers")
    monkeypatch.setenv("UNSLOTH_LLAMA_CPP_PATH", str(tmp_path / "no-llama.cpp"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RapoError, match="needs llama.cpp") as err:
        export(run_dir, "gguf_q4_k_m")
    assert "install_llama_cpp" in str(err.value) and "UNSLOTH_LLAMA_CPP_PATH" in str(err.value)
    assert not (run_dir / "gguf").exists()  # checked before anything was loaded or written


def test_export_input_errors(tmp_path, capsys):
    with pytest.raises(RapoError, match="no recipe.yaml"):
        export(tmp_path, "merged_16bit")
    with pytest.raises(RapoError, match="is not one of merged_16bit, gguf_q4_k_m"):
        export(tmp_path, "gguf_q8")
    (tmp_path / "recipe.yaml").write_text(dump_recipe(load_recipe(None)))
    with pytest.raises(RapoError, match="holds no saved adapter"):
        export(tmp_path, "merged_16bit")
    assert main(["export", str(tmp_path)]) == 2
    assert "--format" in capsys.readouterr().err
