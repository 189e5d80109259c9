"""Errors a run can know before the model loads are reported before it loads, in one line; file-system
faults are one line naming the path; and a run that failed at start-up does not claim its folder."""

import json
import os

import pytest
import torch

from rapo_lite import cli
from rapo_lite.errors import RapoError
from rapo_lite.io import JsonlLog, atomic_dir, atomic_write_text
from rapo_lite.recipe import load_recipe
from rapo_lite.runner import check_endpoints
from rapo_lite.stages import rl as rl_stage
from test_faults import one_line_error

TINY = "recipes/tiny.yaml"
SERVER = ["rl.fast_inference=true", "rl.vllm_mode=server", "model.backend=transformers"]


# ------------------------------------------------------------------------------------ vLLM


@pytest.mark.parametrize("overrides, message", [
    (["rl.vllm_mode=server"], "rl.vllm_mode: server samples the rollouts on a vLLM server, which needs "
                              "rl.fast_inference=true"),
    (["rl.fast_inference=true", "rl.vllm_mode=server", "model.backend=unsloth"],
     "rl.vllm_mode: server needs model.backend=transformers"),
    ([*SERVER, "rl.vllm_server.port=0"], "rl.vllm_server.port: must be a TCP port in 1..65535, got 0"),
    ([*SERVER, "rl.vllm_server.port=65536"], "rl.vllm_server.port: must be a TCP port in 1..65535, got 65536"),
    ([*SERVER, "rl.vllm_server.timeout_s=0"], "rl.vllm_server.timeout_s: must be > 0 seconds"),
    ([*SERVER, "rl.vllm_server.host=http://gpu-box"], "rl.vllm_server.host: expected a host name or IP address"),
    ([*SERVER, "rl.vllm_server.host=gpu-box:8000"], "(no http:// and no port), got 'gpu-box:8000'"),
    ([*SERVER, "rl.vllm_server.host="], "rl.vllm_server.host: expected a host name"),
    (["rl.vllm_mode=remote"], "rl.vllm_mode: 'remote' is not one of 'colocate', 'server'"),
    (["rl.vllm_server.port=eighty"], "rl.vllm_server.port: expected an integer"),
])
def test_impossible_vllm_settings_name_the_key(overrides, message):
    with pytest.raises(RapoError) as err:
        load_recipe(TINY, overrides)
    assert message in str(err.value)


def test_server_mode_reaches_trls_grpo_config():
    for ok in ("10.0.0.5", "gpu-box.lan", "::1"):
        load_recipe(TINY, [*SERVER, f"rl.vllm_server.host={ok}"])
    args = rl_stage.grpo_args(load_recipe(TINY, [*SERVER, "rl.vllm_server.host=gpu-box", "rl.vllm_server.port=8123",
                                                 "rl.vllm_server.timeout_s=30"]), "/tmp/x")
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_host, args.vllm_server_port, args.vllm_server_timeout) == (
        True, "server", "gpu-box", 8123, 30.0)
    # the server's address is how the rollouts are reached, not what the run trains: no new identity
    from rapo_lite.resume import identity

    assert identity(load_recipe(TINY, SERVER), ["rl"]) == identity(load_recipe(TINY, [
        *SERVER, "rl.vllm_server.port=9000", "rl.vllm_mode=colocate"]), ["rl"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible here")
@pytest.mark.parametrize("mode", [[], SERVER])
def test_without_a_gpu_both_vllm_modes_say_so_before_anything_loads(tmp_path, capsys, mode):
    line = one_line_error(capsys, TINY, f"output_dir={tmp_path}", "rl.fast_inference=true", *mode)
    assert "rl.fast_inference:" in line and "needs a CUDA GPU and none is visible" in line
    assert "rl.fast_inference=false" in line
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize("overrides, key", [
    (["stages=[sft]", "sft.teacher=endpoint"], "sft.endpoint.url"),
    (["stages=[sft,rl]", "rl.judge.kind=endpoint"], "rl.judge.endpoint.url"),
    (["stages=[ipo]", "ipo.judge.kind=endpoint"], "ipo.judge.endpoint.url"),
    (["stages=[ipo]", "ipo.cue_detector.kind=endpoint"], "ipo.cue_detector.endpoint.url"),
    (["stages=[sft,eval]", "eval.judge.kind=endpoint"], "eval.judge.endpoint.url"),
    (["stages=[sft,rl]", "rl.judge.kind=endpoint", "rl.judge.endpoint.url=http://localhost:8000/v1"],
     "rl.judge.endpoint.model"),
    (["stages=[sft,rl]", "rl.judge.kind=endpoint", "rl.judge.endpoint.url=http://localhost:8000/v1",
      "rl.judge.endpoint.model=m", "rl.judge.endpoint.api_key_env=RAPO_TEST_UNSET_KEY"],
     "rl.judge.endpoint.api_key_env: environment variable RAPO_TEST_UNSET_KEY is not set"),
])
def test_an_incomplete_endpoint_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, overrides, key):
    monkeypatch.delenv("RAPO_TEST_UNSET_KEY", raising=False)
    recipe = "recipes/tiny-ipo.yaml" if "stages=[ipo]" in overrides else TINY
    line = one_line_error(capsys, recipe, f"output_dir={tmp_path}", *overrides)
    assert line.startswith(f"error: {key}")
    assert not list(tmp_path.iterdir())  # no run folder, so nothing is claimed either


def test_an_endpoint_of_a_stage_that_does_not_run_is_not_asked_for():
    recipe = load_recipe(TINY, ["rl.judge.kind=endpoint", "eval.judge.kind=endpoint"])
    check_endpoints(recipe, ["sft"])
    with pytest.raises(RapoError, match="eval.judge.endpoint.url: set the endpoint's base URL"):
        check_endpoints(recipe, ["sft", "eval"])


def test_a_missing_adapter_to_start_from_is_refused_before_the_model_loads(tmp_path, capsys):
    line = one_line_error(capsys, TINY, f"output_dir={tmp_path / 'out'}", f"lora.init_from={tmp_path / 'nothing'}")
    assert f"lora.init_from: {tmp_path / 'nothing' / 'adapter_model.safetensors'} does not exist" in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- file system


def test_an_output_dir_under_a_file_is_one_line_naming_it(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    line = one_line_error(capsys, TINY, f"output_dir={blocker / 'runs'}", "stages=[sft]")
    assert line.startswith(f"error: output_dir: {blocker} is a file, not a folder") and "choose another" in line
    line = one_line_error(capsys, TINY, f"output_dir={tmp_path}", "run_name=notes.txt", "stages=[sft]")
    assert line.startswith(f"error: output_dir: {blocker} is a file, not a folder")
    assert blocker.read_text() == "a file, not a folder" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission bits")
def test_an_unwritable_output_dir_is_one_line(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        line = one_line_error(capsys, TINY, f"output_dir={locked}", "stages=[sft]")
    finally:
        locked.chmod(0o700)
    assert line.startswith("error: output_dir: ") and "permission denied" in line and str(locked) in line


def test_the_writers_turn_file_system_faults_into_one_line(tmp_path):
    with pytest.raises(RapoError, match="^/dev/full: no space left on the device; free some space .* rerun the same"):
        JsonlLog("/dev/full").append({"stage": "sft", "step": 1})  # /dev/full: every write fails with ENOSPC
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RapoError, match=f"^{blocker / 'state.json'}: a file is in the way where a folder belongs"):
        atomic_write_text(blocker / "state.json", "{}")
    with pytest.raises(RapoError, match=f"^{blocker / 'adapter'}: a file is in the way"):
        with atomic_dir(blocker / "adapter"):
            pass
    target = tmp_path / "adapter"
    with pytest.raises(RapoError, match=f"^{target}: no space left"):
        with atomic_dir(target) as tmp:
            with open("/dev/full", "w") as full:  # a save that runs out of disk half-way
                (tmp / "half.bin").write_bytes(b"x")
                full.write("x")
                full.flush()
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing half-written


def test_a_file_system_fault_inside_the_trainer_is_one_line_too(tmp_path, capsys):
    # The trainer writes its checkpoints itself (not through the kit's writers): a file where the
    # checkpoints folder belongs fails there with ENOTDIR, which the command line explains.
    run_dir = tmp_path / "tiny"
    run_dir.mkdir()
    (run_dir / "checkpoints").write_text("in the way")
    line = one_line_error(capsys, TINY, f"output_dir={tmp_path}", "stages=[sft]", "model.backend=transformers",
                          "data.sources.0.count=4", "data.sources.1.count=4", "sft.max_steps=1", "sft.save_steps=1")
    assert str(run_dir / "checkpoints") in line and "a part of this path is a file, not a folder" in line


# ------------------------------------------------------------------------ who owns a folder


def test_a_run_that_failed_at_start_up_does_not_claim_its_folder(tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in [
        {"prompt": "How do I bake bread at home?", "harmful": False},
        {"prompt": "Describe " + "the history of bread " * 150, "harmful": False},
        {"prompt": "How do I make a pipe bomb?", "harmful": True}]))
    argv = [TINY, f"output_dir={tmp_path / 'out'}", "stages=[sft]", "model.backend=transformers",
            "model.max_seq_length=256", f"data.sources=[{{name: file, path: {prompts}}}]", "sft.max_steps=1"]
    # the model loads, then the warm-up stops at its first check: nothing was trained or kept
    line = one_line_error(capsys, *argv, "data.long_prompts=error")
    assert "over model.max_seq_length=256" in line
    run_dir = tmp_path / "out" / "tiny"
    assert json.loads((run_dir / "state.json").read_text())["identity"]["data.long_prompts"] == "error"

    # the corrected command (data.* is part of a run's identity) is not refused as another recipe
    assert cli.main([*argv, "data.long_prompts=skip"]) == 0, capsys.readouterr().err
    state = json.loads((run_dir / "state.json").read_text())
    assert state["identity"]["data.long_prompts"] == "skip" and list(state["finished"]) == ["sft"]
    # and once something is kept, the folder is that recipe's
    line = one_line_error(capsys, *argv, "data.long_prompts=error")
    assert "belongs to a different recipe: data.long_prompts is \"skip\" there, \"error\" here" in line
