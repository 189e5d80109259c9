"""Crash and resume: a run killed mid-stage continues from its last checkpoint, loses and
repeats no step, never reruns a finished stage, and refuses a folder of another recipe."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rapo_lite import cli
from rapo_lite.errors import RapoError
from rapo_lite.io import read_jsonl
from rapo_lite.recipe import load_recipe
from rapo_lite.resume import RunState, checkpoint_dir, last_checkpoint
from rapo_lite.runner import pending_stages, run
from rapo_lite.stages import callbacks as stage_callbacks

ROOT = Path(__file__).resolve().parents[1]


def stage_steps(run_dir, stage):
    """Logged optimizer steps of a stage, in file order (the trainer's closing summary row excluded)."""
    return [m["step"] for m in read_jsonl(Path(run_dir) / "metrics.jsonl")
            if m.get("stage") == stage and "loss" in m and "train_runtime" not in m]


# ------------------------------------------------------------------------ kill -9, real CLI


def test_kill_9_during_rl_then_rerun_resumes_without_lost_or_repeated_steps(tmp_path, capsys):
    # the transformers backend: the same resume path, without Unsloth's import time in the process
    argv = ["recipes/tiny.yaml", "stages=[sft,rl]", f"output_dir={tmp_path}", "model.backend=transformers",
            "data.sources.0.count=8", "data.sources.1.count=4", "sft.max_steps=3", "rl.max_steps=6", "rl.save_steps=2",
            "rl.max_completion_length=12", "rl.sources.0.count=4", "rl.sources.1.count=4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run_dir = tmp_path / "tiny"
    first = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *argv], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while first.poll() is None and time.monotonic() < deadline:
        if last_checkpoint(run_dir, "rl") is not None:  # complete: trainer_state.json and resume.json written
            first.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, first.stderr.read()[-2000:]
    state = json.loads((run_dir / "state.json").read_text())
    assert list(state["finished"]) == ["sft"] and state["running"] == "rl"  # killed in the middle of rl

    # the same command again; in this process, which has its imports done already
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "stage sft: finished earlier, skipped" in out and "resuming from" in out

    # the same optimizer steps as an uninterrupted run, each logged once
    assert stage_steps(run_dir, "sft") == [1, 2, 3]
    assert stage_steps(run_dir, "rl") == [1, 2, 3, 4, 5, 6]
    rollouts = [r["step"] for r in read_jsonl(run_dir / "rollouts.jsonl")]
    per_step = 2 * 4  # rl.prompts_per_step x rl.num_generations
    assert rollouts == sorted(rollouts) and rollouts == [s for s in range(6) for _ in range(per_step)]
    # TensorBoard's curve agrees: the steps the killed run logged after its checkpoint are purged
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(run_dir / "tb" / "rl"), size_guidance={"scalars": 0})
    board.Reload()
    assert [e.step for e in board.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in board.Scalars("train/reward")] == [1, 2, 3, 4, 5, 6]
    state = json.loads((run_dir / "state.json").read_text())
    assert list(state["finished"]) == ["sft", "rl"] and state["running"] is None
    assert not (run_dir / "checkpoints").exists()  # a finished stage keeps its adapter, not its checkpoints
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()


# ------------------------------------------------------------------ crash, in process


class Crash(Exception):
    pass


def crash_after_save(monkeypatch, at_step):
    """Make the run die right after the checkpoint of `at_step` is complete, as a kill would."""
    real = stage_callbacks.ResumeMarkCallback.on_save

    def on_save(self, args, state, control, **kwargs):
        real(self, args, state, control, **kwargs)
        if state.global_step == at_step:
            raise Crash(f"killed after step {at_step}")

    monkeypatch.setattr(stage_callbacks.ResumeMarkCallback, "on_save", on_save)


def leave_kill_debris(run_dir, stage):
    """What a kill -9 can leave besides the checkpoint: a half-written log line and a checkpoint
    folder whose trainer_state.json never got written."""
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write('{"stage": "' + stage + '", "step": 9')
    (checkpoint_dir(run_dir, stage) / "checkpoint-99").mkdir()


def test_sft_resumed_after_a_crash_trains_exactly_like_an_uninterrupted_run(tmp_path, monkeypatch):
    overrides = ["stages=[sft]", "model.backend=transformers", "data.sources.0.count=8", "data.sources.1.count=8",
                 "sft.max_steps=5", "sft.batch_size=2", "sft.save_steps=2"]
    whole = run(load_recipe("recipes/tiny.yaml", [*overrides, f"output_dir={tmp_path / 'whole'}"]))

    recipe = load_recipe("recipes/tiny.yaml", [*overrides, f"output_dir={tmp_path / 'cut'}"])
    with monkeypatch.context() as patch:
        crash_after_save(patch, at_step=2)
        with pytest.raises(Crash):
            run(recipe)
    leave_kill_debris(recipe.run_dir, "sft")
    cut = run(recipe)

    def losses(d):
        return [m["loss"] for m in read_jsonl(d / "metrics.jsonl") if m.get("stage") == "sft" and "loss" in m]

    assert stage_steps(cut, "sft") == [1, 2, 3, 4, 5]
    assert losses(cut) == pytest.approx(losses(whole), rel=1e-5)  # same data, same order, same optimizer state
    assert [m["step"] for m in read_jsonl(cut / "metrics.jsonl") if "data/kept" in m] == [0]  # data built once
    from safetensors.torch import load_file

    a, b = (load_file(d / "adapter" / "adapter_model.safetensors") for d in (whole, cut))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_ipo_resumes_on_the_pairs_it_built(tmp_path, monkeypatch):
    from rapo_lite.stages import ipo
    from rapo_lite.stages.ipo import PairBuilder
    from test_ipo import oracle, scripted_traces

    scripted_traces(monkeypatch)
    monkeypatch.setattr(ipo, "unsafe_flags", oracle)
    recipe = load_recipe("recipes/tiny-ipo.yaml", [
        f"output_dir={tmp_path}", "stages=[ipo]", "model.backend=transformers", "ipo.max_new_tokens=16",
        "ipo.sources.0.count=2", "ipo.sources.1.count=1", "ipo.max_steps=4", "ipo.batch_size=2", "ipo.save_steps=1"])
    with monkeypatch.context() as patch:
        crash_after_save(patch, at_step=2)
        with pytest.raises(Crash):
            run(recipe)
    pairs = read_jsonl(recipe.run_dir / "ipo_pairs.jsonl")
    leave_kill_debris(recipe.run_dir, "ipo")

    def no_sampling(*args, **kwargs):
        raise AssertionError("a resumed IPO stage must not sample new pairs")

    monkeypatch.setattr(PairBuilder, "_generate", no_sampling)
    run(recipe)
    assert read_jsonl(recipe.run_dir / "ipo_pairs.jsonl") == pairs
    assert stage_steps(recipe.run_dir, "ipo") == [1, 2, 3, 4]
    rounds = [m["intervention/round"] for m in read_jsonl(recipe.run_dir / "metrics.jsonl")
              if "intervention/round" in m]
    assert rounds == sorted(set(rounds))  # the intervention statistics are not logged twice


# ------------------------------------------------------------- which folder, which stages


def finished_state(recipe, *stages):
    recipe.run_dir.mkdir(parents=True)
    state = RunState(recipe.run_dir)
    for stage in stages:
        state.begin(recipe, stage)
        state.finish(stage, "done")
    return state


def test_a_folder_of_another_recipe_is_refused_before_anything_loads(tmp_path):
    finished_state(load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}"]), "sft")
    other = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "lora.r=4", "sft.learning_rate=0.5"])
    with pytest.raises(RapoError) as err:
        run(other)
    message = str(err.value)
    assert "belongs to a different recipe" in message and "lora.r is 8 there, 4 here" in message
    assert "sft.learning_rate" in message and "--restart" in message


def test_stages_and_eval_settings_may_change_on_a_finished_run(tmp_path, capsys):
    base = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}"])
    state = finished_state(base, "sft", "rl")
    from rapo_lite.resume import stage_mark

    state.finish("eval", stage_mark(base, "eval", state.trained()))
    again = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "stages=[eval]"])
    RunState.load(base.run_dir).check(again)  # no error: stages and eval are not the run's identity
    assert pending_stages(again, RunState.load(base.run_dir)) == []  # same eval settings: done already
    run(again)  # returns at once: no model is loaded for a run with nothing left to do
    assert "nothing to do" in capsys.readouterr().out
    longer = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "stages=[eval]", "eval.max_new_tokens=99",
                                               "rl.judge.endpoint.url=http://elsewhere:1/v1", "rl.save_steps=3"])
    RunState.load(base.run_dir).check(longer)
    assert pending_stages(longer, RunState.load(base.run_dir)) == ["eval"]
    more = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "stages=[sft,rl,ipo,eval]"])
    assert pending_stages(more, RunState.load(base.run_dir)) == ["ipo", "eval"]  # eval again after more training


def test_restart_clears_the_folder_and_the_flag_reaches_the_runner(tmp_path, monkeypatch, capsys):
    from rapo_lite.resume import clear_run

    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}"])
    finished_state(recipe, "sft")
    (recipe.run_dir / "metrics.jsonl").write_text('{"stage": "sft", "step": 1}\n')
    clear_run(recipe.run_dir)
    assert not recipe.run_dir.exists() and not list(tmp_path.iterdir())
    foreign = tmp_path / "mine"
    (foreign / "notes.txt").parent.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    clear_run(foreign)  # not a run folder: left alone
    assert (foreign / "notes.txt").read_text() == "keep me"

    seen = {}
    import rapo_lite.runner as runner

    monkeypatch.setattr(runner, "run", lambda recipe, restart=False: seen.update(restart=restart))
    assert cli.main(["recipes/tiny.yaml", f"output_dir={tmp_path}", "--restart"]) == 0 and seen == {"restart": True}
    assert cli.main(["recipes/tiny.yaml", f"output_dir={tmp_path}"]) == 0 and seen == {"restart": False}


def test_unreadable_state_is_a_clear_error(tmp_path):
    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}"])
    recipe.run_dir.mkdir()
    (recipe.run_dir / "state.json").write_text("{not json")
    with pytest.raises(RapoError, match="unreadable run state; pass --restart"):
        run(recipe)
