"""Command line: `python train.py [RECIPE.yaml] [key=value ...]` (also the `rapo-lite` command)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rapo_lite.errors import RapoError

USAGE = """python train.py [RECIPE.yaml] [key=value ...] [--debug]

Runs the recipe's stages in order. Without RECIPE it runs the default recipe,
recipes/smollm2-135m-cpu.yaml: RAPO on SmolLM2-135M-Instruct on a CPU, evaluated before and
after (about 20 minutes on 2 cores). recipes/tiny.yaml is the 1-minute smoke test.
Overrides use dotted keys and YAML values, for example:
  python train.py recipes/tiny.yaml lora.r=32 sft.max_steps=5 stages=[sft]
  python train.py recipes/tiny.yaml data.sources.0.count=20 model.backend=transformers
`python train.py --help-recipe` lists every recipe key with its type, default and meaning.
`python train.py compare RUN_DIR [RUN_DIR ...] [--out FILE]` prints one table over several
runs' evaluations (written to FILE, default compare.md beside the first run)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rapo-lite", usage=USAGE, add_help=True)
    parser.add_argument("args", nargs="*", help="a recipe file and/or key=value overrides")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.add_argument("--help-recipe", action="store_true", help="list every recipe key and exit")
    parser.add_argument("--out", help="compare: where to write the table")
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
        recipe_path, overrides = _split_args(opts.args)
        if recipe_path is None:
            recipe_path = default_recipe_path()
        recipe = load_recipe(recipe_path, overrides)
        from rapo_lite.runner import run

        run(recipe)
    except RapoError as err:
        if opts.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


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
