"""Command line: `python train.py [RECIPE.yaml] [key=value ...]` (also the `rapo-lite` command)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rapo_lite.errors import RapoError

USAGE = """python train.py [RECIPE.yaml] [key=value ...] [--restart] [--debug]

Runs the recipe's stages in order. Without RECIPE it runs the default recipe,
recipes/smollm2-135m-cpu.yaml: RAPO on SmolLM2-135M-Instruct on a CPU, evaluated before and
after (about 20 minutes on 2 cores). recipes/tiny.yaml is the 1-minute smoke test.
Rerunning a recipe into the same run folder resumes it: finished stages are skipped and a stage
that was cut short continues from its newest checkpoint; --restart deletes the folder's outputs first.
Overrides use dotted keys and YAML values, for example:
  python train.py recipes/tiny.yaml lora.r=32 sft.max_steps=5 stages=[sft]
  python train.py recipes/tiny.yaml data.sources.0.count=20 model.backend=transformers
`python train.py --help-recipe` lists every recipe key with its type, default and meaning.
`python train.py compare RUN_DIR [RUN_DIR ...] [--out FILE]` prints one table over several
runs' evaluations (written to FILE, default compare.md beside the first run).
`python train.py plan RECIPE [key=value ...] [--gpu-memory 8GiB]` predicts each stage's peak GPU
memory from the model's config, before any download, and says whether it fits.
`python train.py export RUN_DIR --format merged_16bit|gguf_q4_k_m [--out DIR]` merges a run's
adapter into its base model and saves it.
`python train.py judge-check FILE [--task harm|refusal] [--json] [judge.kind=model ...]` scores a
judge against answers you labelled (.csv, .tsv or .jsonl with prompt, answer, label columns).
`python train.py push RUN_DIR --repo NAME [--private] [--dry-run]` uploads a run's adapter (or an
export folder) to the Hugging Face Hub with the token in HF_TOKEN; --dry-run only lists the files."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rapo-lite", usage=USAGE, add_help=True)
    parser.add_argument("args", nargs="*", help="a recipe file and/or key=value overrides")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.add_argument("--restart", action="store_true",
                        help="delete the run folder's outputs and start over instead of resuming")
    parser.add_argument("--help-recipe", action="store_true", help="list every recipe key and exit")
    parser.add_argument("--out", help="compare: where to write the table; export: the output folder")
    parser.add_argument("--gpu-memory", help="plan: the card's memory, e.g. 8GiB, 15GiB (a T4), 24GiB")
    parser.add_argument("--prompt-tokens", type=int, help="plan: prompt length to assume (default 512)")
    parser.add_argument("--model-config", help="plan: a config.json (or model folder) giving the model's shape")
    parser.add_argument("--format", help="export: merged_16bit or gguf_q4_k_m")
    parser.add_argument("--task", default="harm",
                        help="judge-check: harm (label 1 = successful attack) or refusal (label 1 = refuses / does not do "
                        "what was asked)")
    parser.add_argument("--json", action="store_true", help="judge-check: also print one JSON object as the last line")
    parser.add_argument("--repo", help="push: the Hub repository, name or owner/name")
    parser.add_argument("--private", action="store_true", help="push: create the repository as private")
    parser.add_argument("--dry-run", action="store_true",
                        help="push: list what would be uploaded; no network, no token")
    opts = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from rapo_lite.recipe import help_text, load_recipe

        if opts.help_recipe:
            print(help_text())
            return 0
        if opts.args and opts.args[0] == "compare":
            from rapo_lite.compare import compare

            compare(opts.args[1:], opts.out)
            return 0
        if opts.args and opts.args[0] == "plan":
            return _plan(opts)
        if opts.args and opts.args[0] == "judge-check":
            from rapo_lite.judge_check import judge_check

            files = [a for a in opts.args[1:] if "=" not in a]
            if len(files) != 1:
                raise RapoError("judge-check: expected one labelled file, e.g. python train.py judge-check labels.csv "
                                "--task harm [judge.kind=model ...]")
            judge_check(files[0], opts.task, [a for a in opts.args[1:] if "=" in a], opts.json)
            return 0
        if opts.args and opts.args[0] == "push":
            from rapo_lite.push import push

            if len(opts.args) != 2:
                raise RapoError("push: expected one run (or adapter, or export) folder, e.g. "
                                "python train.py push outputs/tiny --repo your-name/tiny-rapo [--private] [--dry-run]")
            push(opts.args[1], opts.repo, private=opts.private, dry_run=opts.dry_run)
            return 0
        if opts.args and opts.args[0] == "export":
            from rapo_lite.export import export

            if len(opts.args) != 2 or not opts.format:
                raise RapoError("export: expected one run folder and --format, e.g. "
                                "python train.py export outputs/tiny --format merged_16bit")
            export(opts.args[1], opts.format, opts.out)
            return 0
        recipe_path, overrides = _split_args(opts.args)
        if recipe_path is None:
            recipe_path = default_recipe_path()
        recipe = load_recipe(recipe_path, overrides)
        from rapo_lite.runner import run

        run(recipe, restart=opts.restart)
    except RapoError as err:
        if opts.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        # a full disk, a read-only folder or a file in the way, met outside the kit's own writers
        # (a trainer's checkpoint, a tokenizer save): one line naming the path, as for bad input
        from rapo_lite.io import fs_error

        explained = fs_error(err)
        if explained is None or opts.debug:
            raise
        print(f"error: {explained}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _plan(opts: argparse.Namespace) -> int:
    """Print the memory plan; exit code 1 when it does not fit the given memory."""
    from rapo_lite import planner
    from rapo_lite.model_configs import load_config
    from rapo_lite.recipe import load_recipe

    recipe_path, overrides = _split_args(opts.args[1:])
    if recipe_path is None:
        raise RapoError("plan: name a recipe, e.g. python train.py plan recipes/qwen3-1.7b-rapo-8gb.yaml --gpu-memory 8GiB")
    recipe = load_recipe(recipe_path, overrides)
    config, source = load_config(recipe.model.name_or_path, opts.model_config)
    shape = planner.shape_from_config(config)
    gpu_memory = planner.parse_size(opts.gpu_memory) if opts.gpu_memory else _visible_gpu_memory()
    setup = planner.Setup(prompt_tokens=opts.prompt_tokens or planner.PROMPT_TOKENS, gpu_memory=gpu_memory)
    plans = planner.plan_recipe(recipe, shape, setup)
    print(planner.render(plans, shape, recipe, source, setup))
    if gpu_memory is None:
        print("\nno GPU visible: pass --gpu-memory (e.g. 8GiB) to check a card")
        return 0
    fits, sentence = planner.verdict(plans, gpu_memory)
    print("\n" + sentence)
    return 0 if fits else 1


def _visible_gpu_memory() -> int | None:
    import torch

    return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None


DEFAULT_RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "smollm2-135m-cpu.yaml"


def default_recipe_path() -> Path:
    """The recipe `python train.py` runs without an argument; it lives in the source checkout."""
    if not DEFAULT_RECIPE.is_file():
        raise RapoError(f"no recipe given and the default recipe {DEFAULT_RECIPE} is not there (an install without "
                        "the source checkout); pass a recipe file: python train.py path/to/recipe.yaml")
    return DEFAULT_RECIPE


def _split_args(args: list[str]) -> tuple[str | None, list[str]]:
    recipe_path = None
    overrides = []
    for i, arg in enumerate(args):
        if "=" in arg:
            overrides.append(arg)
        elif i == 0:
            recipe_path = arg
        else:
            raise RapoError(f"argument {arg!r}: expected key=value after the recipe file (e.g. lora.r=32)")
    return recipe_path, overrides


if __name__ == "__main__":
    sys.exit(main())
