"""Generation speed of SmolLM2-135M on this machine: fp32 weights against bitsandbytes 4-bit.

    python benchmarks/cpu_generation.py fp32 16 32 128   # precision, batch size, prompts, new tokens
    python benchmarks/cpu_generation.py 4bit 16 32 128

Greedy, JailbreakBench prompts, through the kit's own loader and generate(); prints tokens per
second. The default CPU recipes use fp32 because of this measurement (BENCHMARKS.md).
"""

import sys
import time

import unsloth  # noqa: F401  (patches transformers first, as the kit's entry point does)

from rapo_lite.chat import render_prompt
from rapo_lite.data.sources import load_sources
from rapo_lite.generation import generate
from rapo_lite.model import load_model
from rapo_lite.recipe import SMOLLM2_MODEL, load_recipe


def main(precision: str, batch_size: int, n_prompts: int, new_tokens: int) -> None:
    recipe = load_recipe(None, [f"model.name_or_path={SMOLLM2_MODEL}", f"model.load_in_4bit={str(precision == '4bit').lower()}"])
    model, tokenizer = load_model(recipe.model, recipe.lora, 0)
    records = load_sources([{"name": "jailbreakbench", "count": n_prompts}], seed=0)
    prompts = [render_prompt(tokenizer, r.prompt) for r in records]
    started = time.perf_counter()
    outs = generate(model, tokenizer, prompts, max_new_tokens=new_tokens, batch_size=batch_size)
    seconds = time.perf_counter() - started
    tokens = sum(g.n_tokens for g in outs)
    print(f"{precision}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s ({seconds / n_prompts:.2f} s per prompt)")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in ("fp32", "4bit"):
        sys.exit("usage: python benchmarks/cpu_generation.py fp32|4bit BATCH_SIZE PROMPTS NEW_TOKENS")
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
