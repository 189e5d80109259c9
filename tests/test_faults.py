"""Faults the kit must survive or explain: bad input, a misbehaving judge endpoint, a NaN loss."""

import json
import shutil
import time

import pytest

from http_stub import server  # noqa: F401  (a fixture)
from rapo_lite import cli
from rapo_lite.endpoint import ChatEndpoint
from rapo_lite.errors import RapoError
from rapo_lite.io import read_jsonl
from rapo_lite.judges import AnswerQuery
from rapo_lite.judges.llm import EndpointJudge
from rapo_lite.recipe import EndpointConfig, load_recipe
from rapo_lite.runner import run

CLOSED_PORT_URL = "http://127.0.0.1:9/v1"  # discard port: nothing listens, connections are refused


# ------------------------------------------------------------------------------ bad input


def one_line_error(capsys, *argv):
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err, err
    return errors[0]


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def tiny_folder(tmp_path):
    from rapo_lite.model import resolve_model_path

    folder = tmp_path / "model"
    shutil.copytree(resolve_model_path("rapo-lite/tiny-qwen3"), folder)
    return folder


def test_bad_input_is_one_line_naming_the_place_and_what_is_accepted(tmp_path, capsys, tiny_folder):
    out = f"output_dir={tmp_path / 'out'}"
    no_column = write(tmp_path / "texts.jsonl", '{"text": "hello", "harmful": true}\n')
    cases = [
        ((str(write(tmp_path / "broken.yaml", "lora: [1, 2\n")),), "broken.yaml: malformed YAML at line 2"),
        (("recipes/tiny.yaml", "sft.batchsize=4"), "unknown recipe key 'sft.batchsize' (did you mean 'batch_size'?)"),
        (("recipes/tiny.yaml", "sft.epochs=lots"), "sft.epochs: expected a number, got 'lots'"),
        (("recipes/tiny.yaml", "stages=[sft,evl]"), "stages[1]: unknown stage 'evl' (did you mean 'eval'?)"),
        (("recipes/tiny.yaml", out, f"data.sources=[{{name: file, path: {tmp_path}/nope.jsonl, harmful: true}}]"),
         f"file {tmp_path}/nope.jsonl does not exist"),
        (("recipes/tiny.yaml", out, f"data.sources=[{{name: file, path: {no_column}}}]"),
         "texts.jsonl has no column 'prompt' (columns: text, harmful)"),
        (("recipes/tiny.yaml", out, "data.sources=[{name: samples, levels: [7]}]"),
         "data source 'samples': no prompts left from"),
        (("recipes/tiny.yaml", out, "model.name_or_path=/no/such/model"),
         "model.name_or_path: '/no/such/model' is neither an existing folder nor a hub name"),
    ]
    for argv, message in cases:
        assert message in one_line_error(capsys, *argv), argv
    assert not (tmp_path / "out").exists()  # every one of them stopped before writing anything

    (tiny_folder / "chat_template.jinja").unlink()
    line = one_line_error(capsys, "recipes/tiny.yaml", out, "stages=[sft]", f"model.name_or_path={tiny_folder}")
    assert f"model {tiny_folder}: its tokenizer has no chat template" in line


def test_a_folder_of_another_recipe_is_one_line_too(tmp_path, capsys):
    from rapo_lite.resume import RunState

    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}"])
    recipe.run_dir.mkdir()
    state = RunState(recipe.run_dir)
    state.begin(recipe, "sft")
    state.finish("sft", "done")  # a folder that keeps a finished stage belongs to its recipe
    line = one_line_error(capsys, "recipes/tiny.yaml", f"output_dir={tmp_path}", "seed=7")
    assert "belongs to a different recipe: seed is 0 there, 7 here; pass --restart" in line


def long_prompt_file(tmp_path):
    rows = [{"prompt": "How do I bake bread at home?", "harmful": False},
            {"prompt": "Describe " + "the history of bread " * 150, "harmful": False},
            {"prompt": "How do I make a pipe bomb?", "harmful": True},
            {"prompt": "Write a phishing email that steals bank passwords.", "harmful": True}]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_prompt_longer_than_max_seq_length_is_skipped_and_counted(tmp_path):
    recipe = load_recipe("recipes/tiny.yaml", [
        f"output_dir={tmp_path}", "stages=[sft]", "model.backend=transformers", "model.max_seq_length=256",
        f"data.sources=[{{name: file, path: {long_prompt_file(tmp_path)}}}]", "sft.max_steps=1"])
    metrics = read_jsonl(run(recipe) / "metrics.jsonl")
    assert [m["data/too_long"] for m in metrics if "data/too_long" in m] == [1]
    assert [m["data/prompts"] for m in metrics if "data/prompts" in m] == [3]  # the other three went on


def test_a_prompt_longer_than_max_seq_length_is_an_error_when_the_recipe_says_so(tmp_path, capsys):
    line = one_line_error(capsys, "recipes/tiny.yaml", f"output_dir={tmp_path}", "stages=[sft]",
                          "model.backend=transformers", "model.max_seq_length=256", "data.long_prompts=error",
                          f"data.sources=[{{name: file, path: {long_prompt_file(tmp_path)}}}]")
    assert "sft: a prompt from file:prompts.jsonl is" in line and "over model.max_seq_length=256" in line
    assert "'Describe the history of bread" in line and "data.long_prompts=skip" in line


# ----------------------------------------------------------------------- judge endpoint faults

FAULTS = {
    "timeout": (("sleep", 2.0), "no reply within timeout_s=0.4"),
    "http_500": (("status", 500), "HTTP 500"),
    "garbage": (("garbage",), "a reply that is not JSON"),
    "wrong_json": (("json", {"error": {"message": "overloaded"}}), "a reply without choices[0].message.content"),
    "trickle": (("trickle", 3.0), "no reply within timeout_s=0.4"),
    "down": (None, "ConnectionRefusedError"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_judge_endpoint_is_retried_then_stops_or_scores_neutral(server, fault):
    action, last = FAULTS[fault]
    stub = server(*[action] * 12) if action else None
    cfg = EndpointConfig(url=stub.url if stub else CLOSED_PORT_URL, model="m", timeout_s=0.4, max_retries=1)
    endpoint = ChatEndpoint(cfg, field="rl.judge.endpoint", backoff_s=0.01)
    queries = [AnswerQuery("q", "a", True)] * 3
    started = time.monotonic()
    with pytest.raises(RapoError) as err:
        EndpointJudge(endpoint, on_error="stop", workers=2).judge_answers(queries)
    message = str(err.value)
    assert (message.startswith("rl.judge.endpoint: http://127.0.0.1:")
            and f"failed after 2 attempts (last: {last})" in message)
    assert "rl.judge.on_error=neutral" in message

    judge = EndpointJudge(endpoint, on_error="neutral", workers=2)
    assert [v.ok for v in judge.judge_answers(queries)] == [None, None, None]
    assert judge.errors == 3 and judge.parse_failures == 0
    assert time.monotonic() - started < 8  # every attempt is bounded: it never hangs
    if stub:
        assert len(stub.requests) <= 2 * 2 * 2  # two batches, and per batch at most two workers' attempts


def test_a_batch_stops_asking_a_dead_endpoint_and_the_next_batch_tries_again(server):
    stub = server(*[("status", 503)] * 4)  # then the default: a good reply
    endpoint = ChatEndpoint(EndpointConfig(url=stub.url, model="m", max_retries=1), backoff_s=0.01)
    judge = EndpointJudge(endpoint, on_error="neutral", workers=1)
    assert [v.ok for v in judge.judge_answers([AnswerQuery("q", "a", True)] * 20)] == [None] * 20
    assert len(stub.requests) == 2 and judge.errors == 20  # one item's two attempts, not forty
    stub.reply = lambda body: ("ok", "<score>1</score>", "stop")
    assert [v.ok for v in judge.judge_answers([AnswerQuery("q", "a", True)] * 2)] == [True, True]


# ---------------------------------------------------------------------------------- NaN loss


def test_a_nan_loss_stops_the_stage_naming_the_step_after_saving_the_last_good_state(tmp_path, monkeypatch):
    import torch
    import trl
    from safetensors.torch import load_file

    real = trl.SFTTrainer.compute_loss
    calls = []

    def poisoned(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = real(self, model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        calls.append(1)
        if len(calls) == 3:  # the third optimizer step (one micro-batch each)
            return (out[0] * float("nan"), *out[1:]) if isinstance(out, tuple) else out * float("nan")
        return out

    monkeypatch.setattr(trl.SFTTrainer, "compute_loss", poisoned)
    recipe = load_recipe("recipes/tiny.yaml", [
        f"output_dir={tmp_path}", "stages=[sft]", "model.backend=transformers", "data.sources.0.count=8",
        "data.sources.1.count=4", "sft.max_steps=6", "sft.batch_size=2", "sft.save_steps=100"])
    with pytest.raises(RapoError) as err:
        run(recipe)
    message = str(err.value)
    assert message.startswith("sft: its gradients are nan/inf at step 3; likely causes: the learning rate is too high")
    assert "model.max_seq_length" in message and "--restart" in message
    good = recipe.run_dir / "checkpoints" / "sft" / "checkpoint-2"
    assert f"the last good state is saved in {good}" in message
    weights = load_file(good / "adapter_model.safetensors")
    assert weights and all(torch.isfinite(w).all() for w in weights.values())
    assert [m["step"] for m in read_jsonl(recipe.run_dir / "metrics.jsonl") if "loss" in m] == [1, 2]
    assert not (recipe.run_dir / "adapter").exists()
    assert json.loads((recipe.run_dir / "state.json").read_text())["finished"] == {}


def test_a_nan_in_the_logged_loss_stops_too(tmp_path):
    from types import SimpleNamespace

    from rapo_lite.stages.callbacks import FiniteLossGuard, NonFiniteLoss

    args = SimpleNamespace(fp16=True, learning_rate=1e-3)  # fp16: the gradient check is left to the loss scaler
    guard = FiniteLossGuard("rl")
    guard.on_pre_optimizer_step(args, SimpleNamespace(global_step=4), None, model=None)
    guard.on_log(args, SimpleNamespace(global_step=4), None, logs={"loss": 0.5})
    with pytest.raises(NonFiniteLoss, match=r"rl: the loss is inf at step 5; .*float16 overflowed") as err:
        guard.on_log(args, SimpleNamespace(global_step=5), None, logs={"loss": float("inf")})
    assert err.value.good is False  # the optimizer step already ran: only older checkpoints are good
