"""The real command line in a subprocess: exit codes, one-line errors, and a full run."""

import os
import subprocess
import sys
from pathlib import Path

from rapo_lite.io import read_jsonl

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=ROOT, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_recipe_error_is_refused_before_any_work(tmp_path):
    r = cli("recipes/tiny.yaml", "stages=[sft,eval]", "eval.sources=[]", f"output_dir={tmp_path}")
    assert r.returncode == 2
    assert "eval.sources: the eval stage needs evaluation prompts" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_bad_input_is_one_line_with_exit_code_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora:\n  rank: 8\n")
    for args, message in [
        ((str(bad),), "unknown recipe key 'lora.rank'"),
        (("recipes/tiny.yaml", "sft.batch_size=many"), "sft.batch_size: expected an integer, got 'many'"),
        (("recipes/tiny.yaml", "stages=[sftt]"), "unknown stage 'sftt' (did you mean 'sft'?)"),
        ((str(tmp_path / "missing.yaml"),), "does not exist"),
        (("recipes/tiny.yaml", "notakv"), "expected key=value"),
    ]:
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert lines == [lines[-1]] and lines[0].startswith("error: ") and message in lines[0], r.stderr


def test_debug_flag_shows_the_traceback():
    r = cli("recipes/tiny.yaml", "stages=[nope]", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "RapoError" in r.stderr


def test_help_recipe_lists_keys():
    r = cli("--help-recipe")
    assert r.returncode == 0 and "sft.teacher" in r.stdout and "lora.target_modules" in r.stdout


def test_missing_data_file_is_named(tmp_path):
    r = cli("recipes/tiny.yaml", f"output_dir={tmp_path}", "model.backend=transformers",
            f"data.sources=[{{name: file, path: {tmp_path}/nope.jsonl, harmful: true}}]")
    assert r.returncode == 2 and "nope.jsonl" in r.stderr and "Traceback" not in r.stderr


def test_full_run_through_the_cli_with_the_transformers_backend(tmp_path):
    # A separate process without unsloth imported: the plain transformers + PEFT path.
    r = cli("recipes/tiny.yaml", f"output_dir={tmp_path}", "run_name=cli", "model.backend=transformers",
            "data.sources.0.count=8", "data.sources.1.count=4", "sft.max_steps=2", "model.max_seq_length=512",
            "rl.max_steps=1", "rl.max_completion_length=16")
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = tmp_path / "cli"
    for name in ["recipe.yaml", "sft_data.jsonl", "metrics.jsonl", "rollouts.jsonl", "adapter/adapter_config.json",
                 "adapter/adapter_model.safetensors"]:
        assert (run_dir / name).is_file(), name
    # the recipe's own stages, in order: the warm-up, then RL with the real rule judge
    stages = [m["stage"] for m in read_jsonl(run_dir / "metrics.jsonl")]
    assert "sft" in stages and "rl" in stages and stages.index("sft") < stages.index("rl")
    assert len(read_jsonl(run_dir / "rollouts.jsonl")) == 8 and "judge: rule" in r.stdout
    assert "unsloth" not in r.stdout.lower()
    assert "warm-up data: kept 12 of 12" in r.stdout


def test_each_command_has_its_own_help(capsys):
    import pytest

    from rapo_lite.cli import main

    def help_of(*argv):
        with pytest.raises(SystemExit) as exit:
            main(list(argv))
        assert exit.value.code == 0
        return capsys.readouterr().out

    top = help_of("--help")
    for command in ("run", "compare", "plan", "export", "judge-check", "push"):
        assert command in top
    plan = help_of("plan", "--help")
    assert "--gpu-memory" in plan and "--format" not in plan and "--repo" not in plan and "--restart" not in plan
    export = help_of("--debug", "export", "-h")
    assert "--format" in export and "--gpu-memory" not in export
    run = help_of("recipes/tiny.yaml", "--help")
    assert "--restart" in run and "--gpu-memory" not in run and run == help_of("run", "--help")


def test_a_flag_of_another_command_is_one_line_naming_it(capsys):
    import pytest

    from rapo_lite.cli import main

    for argv, message in [
        (["plan", "recipes/tiny.yaml", "--format", "gguf_q4_k_m"], "error: plan: unrecognized arguments: --format"),
        (["plan", "recipes/tiny.yaml", "--prompt-tokens", "many"], "--prompt-tokens: invalid int value: 'many'"),
        (["recipes/tiny.yaml", "--repo", "me/x"], "error: unrecognized arguments: --repo me/x"),
        (["push", "outputs/tiny", "--repo"], "error: push: argument --repo: expected one argument"),
    ]:
        with pytest.raises(SystemExit) as exit:
            main(argv)
        err = capsys.readouterr().err
        assert exit.value.code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err, err
