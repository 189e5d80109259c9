"""report_to: TensorBoard event files a real reader can open, with the kit's reward scalars, rollout
text and eval summary; backends that are not installed are refused before anything loads."""

import importlib.util
import json
import time
from types import SimpleNamespace

import pytest
import yaml

from rapo_lite.errors import RapoError
from rapo_lite.io import read_jsonl
from rapo_lite.recipe import load_recipe
from rapo_lite.runner import run
from rapo_lite.tracking import attach_tensorboard, check_backend, eval_scalars, log_eval, trainer_fields

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return {e.step: e.value for e in acc.Scalars(tag)}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny sft,rl run with the default report_to (tensorboard), kept small as in test_rl."""
    out = tmp_path_factory.mktemp("tracked")
    recipe = load_recipe("recipes/tiny.yaml", [
        f"output_dir={out}", "stages=[sft,rl]", "model.backend=transformers", "data.sources.0.count=4",
        "data.sources.1.count=4", "sft.max_steps=2", "rl.max_steps=2", "rl.max_completion_length=16",
        "rl.sources.0.count=2", "rl.sources.1.count=2"])
    assert recipe.report_to == "tensorboard"
    return run(recipe)


def test_the_reward_scalars_of_an_rl_run_reach_tensorboard(tiny_run):
    rl = events(tiny_run / "tb" / "rl")
    tags = set(rl.Tags()["scalars"])
    for tag in ("train/rewards/risk/mean", "train/rewards/general/mean", "train/reward", "train/loss",
                "train/learning_rate", "train/judge/calls", "train/judge/parse_failures", "train/judge/errors",
                "train/case/adequate", "train/case/malformed", "train/case/off_task"):
        assert tag in tags, tag
    # the same numbers as metrics.jsonl, step by step
    rows = [m for m in read_jsonl(tiny_run / "metrics.jsonl") if m.get("stage") == "rl" and "rewards/risk/mean" in m]
    assert [m["step"] for m in rows] == [1, 2]
    for key in ("rewards/risk/mean", "rewards/general/mean", "reward", "judge/calls"):
        logged = scalars(rl, f"train/{key}")
        assert logged == pytest.approx({m["step"]: m[key] for m in rows}), key
    # the judge saw every completion of a step: prompts_per_step x num_generations answers (and as many traces)
    assert all(v > 0 for v in scalars(rl, "train/judge/calls").values())
    shares = [scalars(rl, f"train/case/{c}") for c in ("adequate", "malformed", "off_task", "too_long", "too_short",
                                                        "unjudged")]
    for step in (1, 2):
        assert sum(s[step] for s in shares) == pytest.approx(1.0)

    # a few rollouts per step in the text tab, under the optimizer step they trained
    texts = rl.Tensors("rl/rollouts/text_summary")
    assert [t.step for t in texts] == [1, 2]
    first = texts[0].tensor_proto.string_val[0].decode()
    rollout = read_jsonl(tiny_run / "rollouts.jsonl")[0]
    header = "| prompt | harmful | level | case | R | G | decision | total |"
    assert first.startswith(header) and rollout["prompt"][:40] in first

    sft = events(tiny_run / "tb" / "sft")
    assert sorted(scalars(sft, "train/loss")) == [1, 2] and "train/learning_rate" in sft.Tags()["scalars"]


def test_every_adapter_folder_gets_the_kits_model_card(tiny_run):
    for folder, stages in (("adapter", "sft, rl"), ("adapter-rl", "sft, rl"), ("adapter-sft", "sft")):
        card = (tiny_run / folder / "README.md").read_text()
        meta = yaml.safe_load(card.split("---")[1])
        assert meta["library_name"] == "peft" and {"rapo-lite", "lora", "rapo"} <= set(meta["tags"]), folder
        assert "base_model" not in meta  # the tiny model is built locally: no Hub name to give
        assert f"**Stages:** {stages}\n" in card and "[recipe.yaml](recipe.yaml)" in card
        assert str(tiny_run) not in card  # nothing of this machine's paths in a card meant for the Hub
        copied = yaml.safe_load((tiny_run / folder / "recipe.yaml").read_text())
        assert copied["run_name"] == "tiny" and copied["stages"] == ["sft", "rl"]
        assert "Model Card for Model ID" not in card  # PEFT's blank template is gone
    assert "grpo" not in yaml.safe_load((tiny_run / "adapter-sft" / "README.md").read_text().split("---")[1])["tags"]


def test_the_eval_summary_becomes_scalars(tmp_path):
    recipe = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}"])
    summary = {"models": {
        "base": {"asr": {"all": 0.75, "jailbreakbench": 1.0}, "refusal_rate": {"all": 0.25}, "over_refusal": 0.0,
                 "asr_by_level": {"1": 0.5}, "compliance": None, "unjudged": 2},
        "trained": {"asr": {"all": 0.125}, "over_refusal": 0.5, "utility": 0.4, "unjudged": 0}}}
    (recipe.run_dir / "eval").mkdir(parents=True)
    (recipe.run_dir / "eval" / "summary.json").write_text(json.dumps(summary))
    (recipe.run_dir / "eval" / "report.md").write_text("# Evaluation\n\n| metric | base |\n")
    folder = log_eval(recipe, recipe.run_dir)
    acc = events(folder)
    got = {tag: acc.Scalars(tag)[0].value for tag in acc.Tags()["scalars"]}
    assert got == pytest.approx({
        "eval/base/asr": 0.75, "eval/base/asr/jailbreakbench": 1.0, "eval/base/refusal_rate": 0.25,
        "eval/base/asr_by_level/1": 0.5, "eval/base/over_refusal": 0.0, "eval/base/unjudged": 2.0,
        "eval/trained/asr": 0.125, "eval/trained/over_refusal": 0.5, "eval/trained/utility": 0.4,
        "eval/trained/unjudged": 0.0})
    assert "eval/report/text_summary" in acc.Tags()["tensors"]
    assert eval_scalars({"models": {"m": {"asr": {"all": None}}}}) == {}  # an unreadable share is no point at 0
    off = load_recipe("recipes/tiny.yaml", [f"output_dir={tmp_path}", "report_to=none"])
    assert log_eval(off, recipe.run_dir) is None


def test_a_resumed_stage_replaces_the_steps_logged_after_its_checkpoint(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    killed = SummaryWriter(log_dir=str(tmp_path / "tb" / "rl"))  # the run that was cut short after step 5
    for step in range(1, 6):
        killed.add_scalar("train/loss", float(step), step)
    killed.close()
    # opened this second by another process, on a host whose name sorts last: a name that a new
    # file opened in the same second would sort before, so TensorBoard would read it first
    (opened,) = (tmp_path / "tb" / "rl").glob("events.out.tfevents.*")
    opened.rename(opened.with_name(f"events.out.tfevents.{int(time.time()):010d}.zzzz.99999.0"))
    checkpoint = tmp_path / "checkpoints" / "rl" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    callback = TensorBoardCallback()
    trainer = SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[callback]))
    writer = attach_tensorboard(trainer, tmp_path, "rl", checkpoint)
    assert attach_tensorboard(trainer, tmp_path, "rl", checkpoint) is writer  # one writer per stage
    for step in (3, 4):
        writer.add_scalar("train/loss", 10.0 * step, step)
    writer.close()
    assert scalars(events(tmp_path / "tb" / "rl"), "train/loss") == {1: 1.0, 2: 2.0, 3: 30.0, 4: 40.0}

    fresh = SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[TensorBoardCallback()]))
    attach_tensorboard(fresh, tmp_path, "rl", None).close()  # a stage that starts over starts a clean curve
    assert "train/loss" not in events(tmp_path / "tb" / "rl").Tags()["scalars"]
    assert attach_tensorboard(SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[])), tmp_path, "rl", None) \
        is None


def test_report_to_maps_to_the_trainers_fields():
    assert trainer_fields(load_recipe("recipes/tiny.yaml")) == {
        "report_to": ["tensorboard"], "run_name": "tiny", "project": "rapo-lite"}
    assert trainer_fields(load_recipe("recipes/tiny.yaml", ["report_to=none"])) == {"report_to": "none"}
    assert trainer_fields(load_recipe("recipes/tiny.yaml", ["report_to=mlflow", "run_name=abc"]))["run_name"] == "abc"
    with pytest.raises(RapoError, match="report_to: 'tensorbord' is not one of .*did you mean 'tensorboard'"):
        load_recipe("recipes/tiny.yaml", ["report_to=tensorbord"])


@pytest.mark.parametrize("backend", ["wandb", "trackio", "mlflow"])
def test_a_backend_that_is_not_installed_is_one_line_before_anything_loads(tmp_path, backend, capsys):
    if importlib.util.find_spec(backend) is not None:
        pytest.skip(f"{backend} is installed here")
    from rapo_lite import cli

    with pytest.raises(RapoError, match=f"report_to: {backend} is not installed; run: pip install {backend}"):
        check_backend(load_recipe("recipes/tiny.yaml", [f"report_to={backend}"]))
    assert cli.main(["recipes/tiny.yaml", f"output_dir={tmp_path}", f"report_to={backend}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: report_to: {backend} is not installed" in err
    assert not list(tmp_path.iterdir())  # refused before the run folder was made
