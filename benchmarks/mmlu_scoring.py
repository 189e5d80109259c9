"""MMLU option scoring on the CPU: the model's own forward against the fast loop's, side by side.

    python benchmarks/mmlu_scoring.py                 # 100 questions (the default recipe's), cloze, 3 rounds
    python benchmarks/mmlu_scoring.py --questions 40 --rounds 1 --style letters

SmolLM2-135M-Instruct as the default CPU recipe loads it (Unsloth backend, fp32, LoRA r=16 on
all seven projections), scored as the eval stage scores utility (`rapo_lite.utility.score`,
batch eval.batch_size). "adapter" is that LoRA with random B matrices (std --b-std), so that it
changes the scores as a trained one does; "base" is the adapter switched off. Two forwards:

- model: the PEFT model's own forward in fp32 (`$RAPO_LITE_GENERATION=transformers`), what the
  eval stage used before;
- fast: the fast loop's merged bf16 copy with the final norm and head in fp32 (the default on a
  CPU with native bf16), its weight cache cleared before each run so that every run pays the merge.

Rounds interleave the variants because the machine may be shared; times are medians. "same
pick" is the share of questions whose acc_norm (cloze) or acc (letters) pick is the same under
both forwards. The last line is `ratio base=... adapter=...`: model seconds over fast seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import unsloth  # noqa: F401  (patches transformers first, as the kit's entry point does)

from rapo_lite import fastgen
from rapo_lite import utility as mc
from rapo_lite.data.sources import load_source
from rapo_lite.generation import ENGINE_ENV
from rapo_lite.model import load_model
from rapo_lite.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "smollm2-135m-cpu.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--style", choices=["options", "letters"], default="options")
    ap.add_argument("--b-std", type=float, default=0.02)
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from cpu_generation import randomise_b  # the same random adapter as the generation benchmark's

    recipe = load_recipe(RECIPE, [])
    model, tok = load_model(recipe.model, recipe.lora, recipe.seed)
    randomise_b(model, args.b_std, seed=1)
    questions = [mc.parse_mmlu_prompt(q.prompt, q.category, q.reference)
                 for q in load_source("mmlu", count=args.questions, seed=recipe.seed)]
    norm = args.style == "options"

    def run(forward: str, adapter: bool) -> tuple[float, list[str]]:
        with mock.patch.dict(os.environ, {ENGINE_ENV: "transformers" if forward == "model" else "auto"}), \
                contextlib.nullcontext() if adapter else model.disable_adapter():
            fastgen._MEMOS.clear()  # the merged copy's build is part of the fast forward's time
            start = time.perf_counter()
            scores = mc.score(model, tok, questions, args.style, batch_size=recipe.eval.batch_size,
                              max_length=recipe.model.max_seq_length, desc=f"{forward} {adapter}")
            took = time.perf_counter() - start
            # the label is what ran: a silent fallback to the model's forward would time the wrong thing
            # (asked after the timing, so the merged copy it needs is the one just built)
            assert isinstance(mc._forward(model, 0, 1), mc.ModelForward if forward == "model" else mc.FastForward)
        return took, [s.choice_norm if norm else s.choice for s in scores]

    times: dict[tuple[str, bool], list[float]] = {}
    picks: dict[tuple[str, bool], list[str]] = {}
    for r in range(args.rounds):
        for adapter in (False, True):
            for forward in ("model", "fast"):
                took, chosen = run(forward, adapter)
                times.setdefault((forward, adapter), []).append(took)
                picks[(forward, adapter)] = chosen
                print(f"round {r} {forward:5s} {'adapter' if adapter else 'base':7s} {took:6.1f} s  "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    refs = [q.reference for q in questions]
    print(f"\n{len(questions)} questions, {args.style}, batch {recipe.eval.batch_size}, medians of {args.rounds}")
    print("| model | forward | s | accuracy | same pick as model forward |")
    print("|---|---|---:|---:|---:|")
    ratio = {}
    for adapter in (False, True):
        name = "adapter" if adapter else "base"
        for forward in ("model", "fast"):
            p = picks[(forward, adapter)]
            acc = sum(a == b for a, b in zip(p, refs)) / len(refs)
            same = sum(a == b for a, b in zip(p, picks[("model", adapter)])) / len(p)
            took = statistics.median(times[(forward, adapter)])
            print(f"| {name} | {forward} | {took:.1f} | {acc:.1%} | {same:.0%} |")
        ratio[name] = statistics.median(times[("model", adapter)]) / statistics.median(times[("fast", adapter)])
    print(f"ratio base={ratio['base']:.2f} adapter={ratio['adapter']:.2f}")


if __name__ == "__main__":
    main()
