"""Security: no remote code unless asked, safetensors only, keys only from the environment and
never written anywhere, and no data file can make the kit run code."""

import json
import re
import shutil
from pathlib import Path

import pytest

from http_stub import server  # noqa: F401  (a fixture)
from rapo_lite import cli
from rapo_lite.endpoint import ChatEndpoint
from rapo_lite.errors import RapoError
from rapo_lite.io import read_jsonl
from rapo_lite.model import load_model, resolve_model_path
from rapo_lite.recipe import EndpointConfig, ModelConfig, load_recipe

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-rapo-test-secret-0123456789"


@pytest.fixture
def model_copy(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(resolve_model_path("rapo-lite/tiny-qwen3"), folder)
    return folder


# ------------------------------------------------------------------------- remote code, pickles


def test_remote_code_is_refused_unless_the_recipe_allows_it(model_copy, tmp_path):
    assert (ModelConfig().trust_remote_code is False
            and load_recipe("recipes/tiny.yaml").model.trust_remote_code is False)
    marker = tmp_path / "code-ran"
    config = json.loads((model_copy / "config.json").read_text())
    config.update(model_type="rapo_evil",
                  auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"})
    (model_copy / "config.json").write_text(json.dumps(config))
    (model_copy / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                        "from transformers import Qwen3Config as EvilConfig, "
                                        "Qwen3ForCausalLM as EvilModel\n")
    recipe = load_recipe(None, [f"model.name_or_path={model_copy}", "model.backend=transformers"])
    with pytest.raises(RapoError, match="needs its own Python code to load; set model.trust_remote_code=true only if"):
        load_model(recipe.model, recipe.lora)
    assert not marker.exists()


def test_pickled_weights_are_refused_before_loading(model_copy, capsys):
    (model_copy / "model.safetensors").rename(model_copy / "pytorch_model.bin")
    code = cli.main(["recipes/tiny.yaml", f"model.name_or_path={model_copy}", "stages=[sft]",
                     "model.backend=transformers", f"output_dir={model_copy.parent / 'out'}"])
    err = capsys.readouterr().err
    assert code == 2 and "only pickled weights (pytorch_model.bin), which can run code when loaded" in err
    assert "safetensors only" in err and not (model_copy.parent / "out").exists()


def test_every_weight_load_asks_for_safetensors(monkeypatch):
    import transformers

    seen = []

    def record(*args, **kwargs):
        seen.append(kwargs)
        raise OSError("stop here")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", record)
    recipe = load_recipe(None, ["model.name_or_path=some-org/some-model", "model.backend=transformers"])
    with pytest.raises(RapoError):
        load_model(recipe.model, recipe.lora)
    assert seen and all(k.get("use_safetensors") is True and k.get("trust_remote_code") is False for k in seen)


def test_no_code_path_unpickles_or_evaluates_data():
    """The kit's own source never reaches for a loader that can run code from a file."""
    risky = re.compile(r"\byaml\.load\(|\bpickle\.|\btorch\.load\(|(?<![.\w])eval\(|"
                       r"(?<![.\w])exec\(|read_pickle|allow_pickle=True|"
                       r"trust_remote_code=True|weights_only=False|yaml\.unsafe_load|yaml\.full_load")
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "rapo_lite").rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1) if risky.search(line)]
    assert hits == []


@pytest.mark.parametrize("payload", ["!!python/object/apply:os.system ['touch {marker}']",
                                     "- !!python/object/apply:os.system ['touch {marker}']"])
def test_yaml_data_and_recipes_never_run_code(tmp_path, payload):
    from rapo_lite.data import load_source

    marker = tmp_path / "ran"
    for name in ("data.yaml", "recipe.yaml"):
        path = tmp_path / name
        path.write_text(payload.format(marker=marker))
        with pytest.raises(RapoError):
            if name == "recipe.yaml":
                load_recipe(path)
            else:
                load_source("file", path=str(path), harmful=True)
    assert not marker.exists()


# ----------------------------------------------------------------------------------- API keys


def test_a_key_in_the_wrong_place_is_refused_without_being_repeated(monkeypatch):
    for override in (f"rl.judge.endpoint.api_key_env={SECRET}",
                     f"sft.endpoint.url=https://user:{SECRET}@api.example/v1"):
        with pytest.raises(RapoError) as err:
            load_recipe("recipes/tiny.yaml", [override])
        assert SECRET not in str(err.value) and "(the value is not shown)" in str(err.value)
    monkeypatch.setenv("RAPO_TEST_KEY", SECRET + "\nX-Injected: 1")
    with pytest.raises(RapoError) as err:
        ChatEndpoint(EndpointConfig(url="http://127.0.0.1:9/v1", model="m", api_key_env="RAPO_TEST_KEY"))
    assert SECRET not in str(err.value) and "spaces or control characters" in str(err.value)


def test_error_messages_hide_a_url_query_string(server):
    stub = server(("status", 500), ("status", 500))
    client = ChatEndpoint(EndpointConfig(url=stub.url + f"?api-key={SECRET}", model="m", max_retries=1), backoff_s=0)
    with pytest.raises(RapoError) as err:
        client.chat([], 8)
    assert SECRET not in str(err.value) and "failed after 2 attempts" in str(err.value)


@pytest.mark.parametrize("on_error", ["stop", "neutral"])
def test_the_key_reaches_the_endpoint_and_nothing_else(server, tmp_path, monkeypatch, capsys, on_error):
    monkeypatch.setenv("RAPO_TEST_KEY", SECRET)
    stub = server(*[("status", 401 if on_error == "stop" else 500)] * 50)
    code = cli.main([
        "recipes/tiny.yaml", f"output_dir={tmp_path}", "stages=[rl]", "model.backend=transformers", "rl.max_steps=1",
        "rl.max_completion_length=8", "rl.sources.0.count=1", "rl.sources.1.count=1", "rl.prompts_per_step=2",
        "rl.num_generations=2", "rl.judge.kind=endpoint", f"rl.judge.endpoint.url={stub.url}",
        "rl.judge.endpoint.model=m", "rl.judge.endpoint.api_key_env=RAPO_TEST_KEY", "rl.judge.endpoint.max_retries=0",
        f"rl.judge.on_error={on_error}"])
    out = capsys.readouterr()
    assert stub.requests and all(r["auth"] == f"Bearer {SECRET}" for r in stub.requests)
    if on_error == "stop":
        assert code == 2 and "answered HTTP 401; check the key" in out.err
    else:  # a dead judge slows the run down but does not end it; every unanswered item is counted
        assert code == 0
        metrics = read_jsonl(tmp_path / "tiny" / "metrics.jsonl")
        assert sum(m.get("judge/errors", 0) for m in metrics if "loss" in m) > 0
    written = [p for p in (tmp_path / "tiny").rglob("*") if p.is_file()]
    assert any(p.name == "recipe.yaml" for p in written)
    assert "RAPO_TEST_KEY" in (tmp_path / "tiny" / "recipe.yaml").read_text()  # the variable's name, not its value
    for text in [out.out, out.err, *(p.read_bytes().decode("utf-8", "replace") for p in written)]:
        assert SECRET not in text
