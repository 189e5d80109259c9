"""Model cards (Hub metadata, method, recipe, data, judges, eval table) and `train.py push`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from http_stub import server  # noqa: F401  (a fixture)
from rapo_lite import cli
from rapo_lite.cards import base_license, evaluation_of_run, hub_base_model, model_card, write_card
from rapo_lite.recipe import SMOLLM2_MODEL, TINY_MODEL, load_recipe
from rapo_lite.resume import RunState

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_rapoLiteTestTokenThatMustNeverBePrinted"


def meta_of(card):
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def local_model(folder, readme=None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if readme is not None:
        (folder / "README.md").write_text(readme)
    return folder


def test_base_model_is_a_hub_name_never_a_local_path(tmp_path):
    assert hub_base_model("Qwen/Qwen3-1.7B") == "Qwen/Qwen3-1.7B"
    assert hub_base_model(SMOLLM2_MODEL) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_base_model(TINY_MODEL) is None  # built by the kit, on no hub
    assert hub_base_model(str(local_model(tmp_path / "my-model"))) is None
    snapshot = local_model(tmp_path / "hub" / "models--deepseek-ai--DeepSeek-R1-Distill-Qwen-7B" / "snapshots" / "ab12")
    assert hub_base_model(str(snapshot)) == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"


def test_the_licence_comes_from_the_base_models_own_card(tmp_path):
    licensed = local_model(tmp_path / "m", "---\nlicense: mit\ntags: [x]\n---\n# a model\n")
    assert base_license(str(licensed)) == "mit"
    assert base_license(str(local_model(tmp_path / "plain", "# no metadata\n"))) is None
    assert base_license(str(local_model(tmp_path / "none"))) is None
    assert base_license(SMOLLM2_MODEL) == "apache-2.0"


def test_an_ipo_card_names_base_method_data_judges_and_the_eval_table(tmp_path):
    data = tmp_path / "secret-project" / "prompts.jsonl"
    data.parent.mkdir()
    data.write_text('{"prompt": "hi", "harmful": false}\n')
    recipe = load_recipe("recipes/tiny-ipo.yaml", ["model.name_or_path=Qwen/Qwen3-1.7B", "ipo.cue_detector.kind=model",
                                                    f"ipo.sources=[{{name: file, path: {data}}}]"])
    table = "| metric | base | trained |\n|---|---|---|\n| ASR, all harmful (lower is better) | 90.0% | 10.0% |"
    card = model_card(recipe, ["sft", "ipo"], "adapter", table)
    meta = meta_of(card)
    assert meta["base_model"] == "Qwen/Qwen3-1.7B" and meta["library_name"] == "peft"
    assert meta["tags"][:2] == ["rapo-lite", "lora"] and "ipo" in meta["tags"] and "rapo" not in meta["tags"]
    assert "IPO, intervened preference optimization" in card and "after the SFT warm-up" in card
    assert "**Stages:** sft, ipo" in card and "[recipe.yaml](recipe.yaml)" in card
    assert "- ipo: file (prompts.jsonl)" in card and "secret-project" not in card  # a file name, not a local path
    assert "cue detector: model" in card and "## Evaluation" in card and table in card

    merged = meta_of(model_card(recipe, ["sft", "ipo"], "merged_16bit"))
    assert merged["library_name"] == "transformers"
    assert "gguf" in meta_of(model_card(recipe, ["sft"], "gguf"))["tags"]
    assert "## Evaluation" not in model_card(recipe, ["sft"])


def test_the_eval_table_goes_only_on_weights_that_were_evaluated(tmp_path):
    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}"])
    run_dir = recipe.run_dir
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "eval" / "report.md").write_text("# Evaluation of tiny\n\n| metric | base |\n|---|---|\n| ASR | 5% |\n\n"
                                                "![asr](asr.png)\n")
    state = RunState(run_dir)
    for stage in ("sft", "eval"):
        state.begin(recipe, stage)
        state.finish(stage, "done")
    assert evaluation_of_run(run_dir) == "| metric | base |\n|---|---|\n| ASR | 5% |"
    state.begin(recipe, "rl")
    state.finish("rl", "done")  # trained after that evaluation: the table describes older weights
    assert evaluation_of_run(run_dir) is None

    card = write_card(run_dir / "adapter", recipe, ["sft"])
    assert card.read_text().startswith("---\n") and (run_dir / "adapter" / "recipe.yaml").is_file()
    assert load_recipe(run_dir / "adapter" / "recipe.yaml").run_name == "tiny"


# ---------------------------------------------------------------------------------- push


def push_cli(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(ROOT / "train.py"), "push", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def run_folder(tmp_path):
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 3000)
    (adapter / "README.md").write_text("---\nlibrary_name: peft\n---\n")
    (adapter / ".adapter_model.safetensors.tmp1").write_bytes(b"half")  # an interrupted write: stays behind
    return tmp_path / "run"


def test_push_dry_run_lists_files_sizes_repo_and_visibility_without_network(run_folder):
    # HF_ENDPOINT is a closed port: any network use would fail, and the token must not be shown
    r = push_cli(str(run_folder), "--repo", "me/tiny-rapo", "--private", "--dry-run",
                 env_extra={"HF_TOKEN": SECRET, "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert f"would upload {run_folder / 'adapter'} to me/tiny-rapo (private): 3 files, 3.0 KiB" in lines[0]
    assert [line.split()[0] for line in lines[1:4]] == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
    assert "adapter_model.safetensors  2.9 KiB" in r.stdout and ".tmp1" not in r.stdout
    assert "dry run: nothing was uploaded" in r.stdout
    assert SECRET not in r.stdout + r.stderr
    public = push_cli(str(run_folder / "adapter"), "--repo", "tiny-rapo", "--dry-run")  # an adapter folder itself
    assert public.returncode == 0 and "to tiny-rapo (public)" in public.stdout


def test_push_without_a_token_is_one_line(run_folder):
    r = push_cli(str(run_folder), "--repo", "me/tiny-rapo")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: push: set HF_TOKEN to a Hugging Face token with write access")


def test_a_refused_upload_is_one_line_without_the_token(run_folder, server):
    stub = server(("status", 401), ("status", 401))
    endpoint = stub.url.rsplit("/v1", 1)[0]
    r = push_cli(str(run_folder), "--repo", "me/tiny-rapo", env_extra={"HF_TOKEN": SECRET, "HF_ENDPOINT": endpoint})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: push: uploading to me/tiny-rapo failed") and "HF_TOKEN" in r.stderr
    assert SECRET not in r.stdout + r.stderr
    assert stub.requests and stub.requests[0]["auth"] == f"Bearer {SECRET}"  # it went to the Hub, in the header only


@pytest.mark.parametrize("args, message", [
    (["{run}", "--repo", "me/bad name"], "push --repo: 'me/bad name' is not a Hub repository name"),
    (["{run}"], "push: name the repository"),
    (["{empty}", "--repo", "me/x"], "holds no adapter"),
    (["{run}/nothing-here", "--repo", "me/x"], "is not a folder"),
])
def test_push_input_errors_are_one_line(run_folder, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    argv = ["push", *(a.format(run=run_folder, empty=tmp_path / "empty") for a in args), "--dry-run"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
