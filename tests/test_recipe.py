from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapo_lite.errors import RapoError
from rapo_lite.recipe import Recipe, RLConfig, TrainConfig, dump_recipe, help_text, load_recipe

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_every_shipped_recipe_parses_and_starts_with_its_command():
    recipes = sorted((ROOT / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# python train.py ") and path.name in first, path
        load_recipe(path)


def test_defaults_and_overrides_are_typed(tmp_path):
    r = load_recipe(
        write(tmp_path, "run_name: a\nlora: {r: 4}\n"),
        ["lora.r=32", "stages=[sft]", "sft.learning_rate=1e-4", "data.sources.0.count=10", "model.backend=transformers",
         "sft.endpoint.api_key_env=MY_KEY", "risk.bands=[[1,2],[3,4],[5,null]]"],
    )
    assert r.lora.r == 32 and r.run_name == "a" and r.stages == ["sft"]
    assert r.sft.learning_rate == pytest.approx(1e-4) and isinstance(r.sft.learning_rate, float)
    assert r.data.sources[0].count == 10 and r.model.backend == "transformers"
    assert r.sft.endpoint.api_key_env == "MY_KEY"
    assert [str(b) for b in r.risk.bands] == ["1-2", "3-4", ">=5"]
    assert r.run_dir == Path("outputs/a")


def test_resolved_recipe_round_trips(tmp_path):
    r = load_recipe(None, ["lora.r=7", "data.sources=[{name: samples, count: 3}, "
                                       "{name: file, path: x.jsonl, harmful: true}]"])
    again = load_recipe(write(tmp_path, dump_recipe(r)))
    assert again == r and again.data.sources[1].path == "x.jsonl"


@pytest.mark.parametrize(
    "yaml_text, overrides, message",
    [
        ("lora: {rr: 3}\n", [], "unknown recipe key 'lora.rr' (did you mean 'r'?)"),
        ("modle: {}\n", [], "unknown recipe key 'modle' (did you mean 'model'?)"),
        ("", ["sft.learnig_rate=1"], "unknown recipe key 'sft.learnig_rate' (did you mean 'learning_rate'?)"),
        ("lora: {r: abc}\n", [], "lora.r: expected an integer, got 'abc'"),
        ("lora: {r: 2.5}\n", [], "lora.r: expected an integer"),
        ("", ["sft.temperature=true"], "sft.temperature: expected a number, got True"),
        ("", ["model.load_in_4bit=3"], "model.load_in_4bit: expected true or false"),
        ("model: {backend: unslot}\n", [], "model.backend: 'unslot' is not one of 'unsloth', 'transformers' "
                                           "(did you mean 'unsloth'?)"),
        ("stages: [sft, rll]\n", [], "stages[1]: unknown stage 'rll' (did you mean 'rl'?)"),
        ("stages: []\n", [], "stages: list at least one stage"),
        ("lora: 5\n", [], "lora: expected a mapping of LoraConfig fields"),
        ("lora: {target_modules: q_proj}\n", [], "lora.target_modules: expected a list of str"),
        ("data: {sources: [{nme: x}]}\n", [], "unknown recipe key 'data.sources[0].nme' (did you mean 'name'?)"),
        ("risk: {bands: [[2, 4], [3, 8]]}\n", [], "risk.bands[1] (level 2): min 3 overlaps"),
        ("", ["data.sources.4.count=1"], "'4' is not an index of data.sources"),
        ("", ["lora.r"], "expected key=value"),
        ("", ["lora.r=[1"], "value is not valid YAML"),
        ("", ["lora.r=0"], "lora.r: must be >= 1"),
        ("run_name: ../x\n", [], "run_name: must be a plain folder name"),
        ("- a\n- b\n", [], "expected a mapping of recipe keys at the top level"),
        ("lora: {r: [}\n", [], "malformed YAML at line 1"),
    ],
)
def test_errors_name_the_field_and_what_is_accepted(tmp_path, yaml_text, overrides, message):
    with pytest.raises(RapoError) as err:
        load_recipe(write(tmp_path, yaml_text), overrides)
    assert message in str(err.value)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RapoError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")


def test_help_lists_every_field_with_help():
    text = help_text()
    for key in ["model.name_or_path", "model.backend", "model.load_in_4bit", "model.max_seq_length", "model.dtype",
                "model.trust_remote_code", "lora.r", "lora.alpha", "lora.dropout", "lora.target_modules",
                "data.sources", "data.sources[i].count", "sft.teacher", "output_dir", "run_name", "seed", "risk.bands"]:
        assert f"\n{key}" in "\n" + text, key
    assert "(): " not in text and not any(line.endswith(": ") for line in text.splitlines())


def test_trust_remote_code_is_off_by_default():
    assert Recipe().model.trust_remote_code is False


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans(),
                                                       st.lists(st.integers(), max_size=3)), max_size=4))
@settings(max_examples=200, deadline=None)
def test_fuzzed_top_level_mappings_raise_only_rapo_errors(tmp_path_factory, raw):
    import yaml

    path = tmp_path_factory.mktemp("r") / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        load_recipe(path)
    except RapoError:
        pass


def test_sections_check_their_own_fields_and_the_loader_names_the_key():
    with pytest.raises(RapoError, match=r"^num_generations: GRPO compares"):
        RLConfig(num_generations=1)
    with pytest.raises(RapoError, match=r"^save_steps: must be >= 1, got 0"):
        RLConfig(save_steps=0)  # RL redeclares save_steps with its own default, and keeps the bound
    assert isinstance(RLConfig(), TrainConfig)
    with pytest.raises(RapoError, match=r"^rl\.judge\.endpoint\.url: expected an http"):
        load_recipe(None, ["rl.judge.endpoint.url=ftp://x"])
    with pytest.raises(RapoError, match=r"^rl\.sources\[1\]: data source 'samples': count must be a positive"):
        load_recipe(None, ["rl.sources=[{name: samples}, {name: samples, count: 0}]"])


def test_a_base_recipe_is_merged_under_the_file_that_names_it(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "root.yaml").write_text(
        "run_name: root\nlora: {r: 4, alpha: 8}\nsft: {epochs: 2.0, learning_rate: 1.0e-3}\n"
        "data: {sources: [{name: samples, count: 5}, {name: sensitive, count: 3}]}\n")
    (tmp_path / "mid.yaml").write_text("base: shared/root.yaml\nlora: {r: 16}\n")
    child = tmp_path / "child.yaml"
    child.write_text("base: mid.yaml\nrun_name: child\nsft: {epochs: 1.0}\n"
                     "data: {sources: [{name: samples, count: 2}]}\n")
    r = load_recipe(child, ["sft.batch_size=3"])
    # mappings merge key by key down the chain; the nearest file wins; a list is replaced whole
    assert r.run_name == "child" and r.lora.r == 16 and r.lora.alpha == 8
    assert r.sft.epochs == 1.0 and r.sft.learning_rate == pytest.approx(1e-3) and r.sft.batch_size == 3
    assert [(s.name, s.count) for s in r.data.sources] == [("samples", 2)]
    # the recipe a run records is the resolved one: it loads on its own, with no base to find
    dumped = dump_recipe(r)
    assert "base:" not in dumped and load_recipe(write(tmp_path / "shared", dumped)) == r


@pytest.mark.parametrize("files, message", [
    ({"r.yaml": "base: nope.yaml\n"}, "base: nope.yaml does not exist"),
    ({"r.yaml": "base: 3\n"}, "'base' must be the path of another recipe file"),
    ({"r.yaml": "base: a.yaml\n", "a.yaml": "base: r.yaml\n"},
     "chain loops back on itself (r.yaml -> a.yaml -> r.yaml)"),
    ({"r.yaml": "base: a.yaml\n", "a.yaml": "lora: {rr: 1}\n"}, "unknown recipe key 'lora.rr'"),
    ({"r.yaml": "base: a.yaml\n", "a.yaml": "- x\n"}, "a.yaml: expected a mapping of recipe keys"),
])
def test_base_errors_name_the_file_and_the_key(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(RapoError) as err:
        load_recipe(tmp_path / "r.yaml")
    assert message in str(err.value)


def test_the_cpu_ipo_recipe_shares_the_default_recipes_warm_up_and_evaluation():
    rapo = load_recipe(ROOT / "recipes" / "smollm2-135m-cpu.yaml")
    ipo = load_recipe(ROOT / "recipes" / "smollm2-135m-ipo-cpu.yaml")
    assert ipo.stages == ["sft", "ipo", "eval"] and ipo.run_name != rapo.run_name
    for section in ("model", "lora", "data", "risk", "sft", "eval"):
        assert getattr(ipo, section) == getattr(rapo, section), section
