"""The harmful prompts that RL choices are tuned on: HarmBench behaviours far from every evaluation prompt.

    python benchmarks/make_tune_harmful.py            # writes outputs/tune/harmful_tune.jsonl (40 prompts)

JailbreakBench took some of its behaviours from HarmBench, so a HarmBench prompt is dropped when
its content words overlap any evaluation prompt of the default recipe by 0.3 or more (Jaccard;
the hygiene test's near-check uses 0.5). Of the rest, a seeded shuffle picks 40, written as a
`file` source (prompt, harmful, level 1).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from rapo_lite.data import load_sources
from rapo_lite.data.hygiene import content_words, word_overlap
from rapo_lite.data.wrappers import unwrapped
from rapo_lite.recipe import load_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/smollm2-135m-cpu.yaml")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--overlap", type=float, default=0.3)
    ap.add_argument("--out", default="outputs/tune/harmful_tune.jsonl")
    args = ap.parse_args()

    recipe = load_recipe(args.recipe)
    held = [content_words(unwrapped(r.prompt)) for r in load_sources(list(recipe.eval.sources), seed=recipe.seed)]
    far = [r for r in load_sources([{"name": "harmbench"}], seed=0)
           if not any(word_overlap(content_words(r.prompt), h) >= args.overlap for h in held)]
    random.Random(0).shuffle(far)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in far[: args.count]:
            f.write(json.dumps({"prompt": r.prompt, "harmful": True, "level": 1}) + "\n")
    tmp.replace(out)
    print(f"{len(far)} of the HarmBench behaviours are far from the evaluation prompts; {min(args.count, len(far))} "
          f"written to {out}")


if __name__ == "__main__":
    main()
