"""Command line: `python train.py [RECIPE.yaml] [key=value ...]` (also the `rapo-lite` command).

One argparse sub-command per job, each with its own flags and `--help`: run (the default, so
`python train.py RECIPE` is `python train.py run RECIPE`), compare, plan, export, judge-check
and push. The sub-command is the first word that is not a flag (nor a flag's value); anything
else there is the recipe, so the plain form works as it always has. Flags may come before or
after the positional words. A bad flag is one line on stderr with exit code 2, as is any other
bad input (`RapoError`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rapo_lite.errors import RapoError

USAGE = """python train.py [RECIPE.yaml] [key=value ...] [--restart] [--debug]
       python train.py COMMAND ... (python train.py COMMAND --help lists its options)"""

DESCRIPTION = """\
Runs the recipe's stages in order. Without RECIPE it runs the default recipe,
recipes/smollm2-135m-cpu.yaml: RAPO on SmolLM2-135M-Instruct on a CPU, evaluated before and
after (about 25 minutes on 2 cores). recipes/tiny.yaml is the 1-minute smoke test.
Rerunning a recipe into the same run folder resumes it: finished stages are skipped and a stage
that was cut short continues from its newest checkpoint; --restart deletes the folder's outputs first.
Overrides use dotted keys and YAML values, for example:
  python train.py recipes/tiny.yaml lora.r=32 sft.max_steps=5 stages=[sft]
  python train.py recipes/tiny.yaml data.sources.0.count=20 model.backend=transformers
`python train.py --help-recipe` lists every recipe key with its type, default and meaning, and
`python train.py run --help` the options of a run."""

EPILOG = """\
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

DEFAULT_COMMAND = "run"


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line naming the flag or value, like every other error."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("rapo-lite").strip() or DEFAULT_COMMAND  # "rapo-lite plan" -> plan
        where = "" if command == DEFAULT_COMMAND else f"{command}: "
        self.exit(2, f"error: {where}{message} (python train.py {command} --help lists the options)\n")


# ---------------------------------------------------------------------------- the commands


def _run(opts: argparse.Namespace) -> int:
    from rapo_lite.recipe import load_recipe

    recipe_path, overrides = _split_args(opts.args)
    if recipe_path is None:
        recipe_path = default_recipe_path()
    recipe = load_recipe(recipe_path, overrides)
    from rapo_lite.distributed import sharding_warning, silence_other_ranks
    from rapo_lite.runner import run

    silence_other_ranks()  # under accelerate launch, the main process alone reports progress
    if warning := sharding_warning():
        print(warning)
    run(recipe, restart=opts.restart)
    return 0


def _compare(opts: argparse.Namespace) -> int:
    from rapo_lite.compare import compare

    compare(opts.runs, opts.out)
    return 0


def _plan(opts: argparse.Namespace) -> int:
    """Print the memory plan; exit code 1 when it does not fit the given memory."""
    from rapo_lite import planner
    from rapo_lite.model_configs import load_config
    from rapo_lite.recipe import load_recipe

    recipe_path, overrides = _split_args(opts.args)
    if recipe_path is None:
        raise RapoError("plan: name a recipe, e.g. python train.py plan recipes/qwen3-1.7b-rapo-8gb.yaml "
                        "--gpu-memory 8GiB")
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


def _export(opts: argparse.Namespace) -> int:
    from rapo_lite.export import export

    if len(opts.args) != 1 or not opts.format:
        raise RapoError("export: expected one run folder and --format, e.g. "
                        "python train.py export outputs/tiny --format merged_16bit")
    export(opts.args[0], opts.format, opts.out)
    return 0


def _judge_check(opts: argparse.Namespace) -> int:
    from rapo_lite.judge_check import judge_check

    files = [a for a in opts.args if "=" not in a]
    if len(files) != 1:
        raise RapoError("judge-check: expected one labelled file, e.g. python train.py judge-check labels.csv "
                        "--task harm [judge.kind=model ...]")
    judge_check(files[0], opts.task, [a for a in opts.args if "=" in a], opts.json)
    return 0


def _push(opts: argparse.Namespace) -> int:
    from rapo_lite.push import push

    if len(opts.args) != 1:
        raise RapoError("push: expected one run (or adapter, or export) folder, e.g. "
                        "python train.py push outputs/tiny --repo your-name/tiny-rapo [--private] [--dry-run]")
    push(opts.args[0], opts.repo, private=opts.private, dry_run=opts.dry_run)
    return 0


# ---------------------------------------------------------------------------- the parsers


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser (its --help lists the commands) and each command's own parser."""
    top = _Parser(prog="rapo-lite", usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(title="commands", metavar="COMMAND")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    with_recipe = _Parser(add_help=False)
    with_recipe.add_argument("--help-recipe", action="store_true", help="list every recipe key and exit")
    commands: dict[str, argparse.ArgumentParser] = {}

    def command(name: str, handler: Callable[[argparse.Namespace], int], usage: str, summary: str,
                recipe_keys: bool = False) -> argparse.ArgumentParser:
        parents = [common, with_recipe] if recipe_keys else [common]
        parser = sub.add_parser(name, prog=f"rapo-lite {name}", usage=usage, help=summary, description=summary,
                                parents=parents)
        parser.set_defaults(handler=handler)
        commands[name] = parser
        return parser

    run = command("run", _run, "python train.py [run] [RECIPE.yaml] [key=value ...] [--restart] [--debug]",
                  "run a recipe's stages in order, resuming its run folder (the default command)", recipe_keys=True)
    run.add_argument("args", nargs="*", metavar="RECIPE.yaml | key=value",
                     help="a recipe file (default recipes/smollm2-135m-cpu.yaml) and/or key=value overrides")
    run.add_argument("--restart", action="store_true",
                     help="delete the run folder's outputs and start over instead of resuming")

    compare = command("compare", _compare, "python train.py compare RUN_DIR [RUN_DIR ...] [--out FILE] [--debug]",
                      "print one table over several runs' evaluations")
    compare.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run folders with an eval/ folder")
    compare.add_argument("--out", metavar="FILE",
                         help="where to write the table (default compare.md beside the first run)")

    plan = command("plan", _plan,
                   "python train.py plan RECIPE [key=value ...] [--gpu-memory 8GiB] [--prompt-tokens N] "
                   "[--model-config FILE] [--debug]",
                   "predict each stage's peak GPU memory from the model's config, before any download, and say "
                   "whether it fits (exit code 1 when it does not)", recipe_keys=True)
    plan.add_argument("args", nargs="*", metavar="RECIPE | key=value", help="a recipe file and key=value overrides")
    plan.add_argument("--gpu-memory", metavar="SIZE", help="the card's memory, e.g. 8GiB, 15GiB (a T4), 24GiB")
    plan.add_argument("--prompt-tokens", type=int, metavar="N", help="prompt length to assume (default 512)")
    plan.add_argument("--model-config", metavar="FILE", help="a config.json (or model folder) giving the model's shape")

    export = command("export", _export,
                     "python train.py export RUN_DIR --format merged_16bit|gguf_q4_k_m [--out DIR] [--debug]",
                     "merge a run's adapter into its base model and save it")
    export.add_argument("args", nargs="*", metavar="RUN_DIR", help="the run folder")
    export.add_argument("--format", help="merged_16bit or gguf_q4_k_m")
    export.add_argument("--out", metavar="DIR", help="the output folder")

    judge_check = command("judge-check", _judge_check,
                          "python train.py judge-check FILE [--task harm|refusal] [--json] [judge.kind=model ...] "
                          "[--debug]",
                          "score a judge against answers you labelled (.csv, .tsv or .jsonl with prompt, answer, "
                          "label columns)", recipe_keys=True)
    judge_check.add_argument("args", nargs="*", metavar="FILE | key=value",
                             help="the labelled file and judge.* (or model.*) overrides")
    judge_check.add_argument("--task", default="harm",
                             help="harm (label 1 = successful attack) or refusal (label 1 = refuses / does not do "
                             "what was asked)")
    judge_check.add_argument("--json", action="store_true", help="also print one JSON object as the last line")

    push = command("push", _push, "python train.py push RUN_DIR --repo NAME [--private] [--dry-run] [--debug]",
                   "upload a run's adapter (or an export folder) to the Hugging Face Hub with the token in HF_TOKEN")
    push.add_argument("args", nargs="*", metavar="RUN_DIR", help="a run, adapter or export folder")
    push.add_argument("--repo", metavar="NAME", help="the Hub repository, name or owner/name")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--dry-run", action="store_true", help="list what would be uploaded; no network, no token")
    return top, commands


def _takes_value(parser: argparse.ArgumentParser, option: str) -> bool:
    action = parser._option_string_actions.get(option)
    return action is not None and action.nargs != 0


def _find_command(argv: Sequence[str], commands: dict[str, argparse.ArgumentParser]) -> int | None:
    """The position of the first word that is neither a flag nor a flag's value, or None."""
    value_options = {o for p in commands.values() for o in p._option_string_actions if _takes_value(p, o)}
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg.startswith("-") and arg != "-":
            skip = "=" not in arg and arg in value_options
        else:
            return i
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top, commands = build_parser()
    at = _find_command(argv, commands)
    if at is not None and argv[at] in commands:
        name, rest = argv[at], argv[:at] + argv[at + 1 :]
    elif at is None and any(a in ("-h", "--help") for a in argv):
        top.print_help()
        top.exit(0)  # as argparse's own --help does
    else:
        name, rest = DEFAULT_COMMAND, argv
    opts = commands[name].parse_intermixed_args(rest)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        if getattr(opts, "help_recipe", False):
            from rapo_lite.recipe import help_text

            print(help_text())
            return 0
        return opts.handler(opts)
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
