"""One training step on the CPU under the two training levers, side by side.

    python benchmarks/cpu_training.py                  # SmolLM2-135M, batch 8 x 300 tokens, 3 rounds
    python benchmarks/cpu_training.py --rounds 5 --tokens 200

The model is loaded as the default CPU recipe loads it (recipes/smollm2-135m-cpu.yaml:
Unsloth backend, fp32 weights, LoRA r=16 on all seven projections). Each step is a forward
pass with labels, a backward pass and an AdamW step on the LoRA weights, which is what SFT
and the GRPO loss do per micro-batch. Four settings:

- gradient checkpointing on or off (`model.gradient_checkpointing`: TRL's configs turn it
  on by default; on a CPU there is memory to spare and recomputing activations costs time);
- fp32, or bf16 matrix products under `torch.autocast` with fp32 LoRA weights and optimizer
  state (`model.cpu_autocast`; what `bf16=True` makes the Trainer do on a CPU).

Rounds interleave the settings, after one warm-up step each, because the machine may be
shared; the figures are medians over rounds. The last line is
`ratio <fp32 with checkpointing> / <bf16 without>`, the speed-up of the kit's CPU default
over what the stages ran before.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from rapo_lite.model import load_model
from rapo_lite.recipe import load_recipe

SETTINGS = [(True, False), (True, True), (False, False), (False, True)]  # (checkpointing, bf16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/smollm2-135m-cpu.yaml")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    recipe = load_recipe(args.recipe)
    model, _ = load_model(recipe.model, recipe.lora, recipe.seed)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.randint(100, 40000, (args.batch, args.tokens), generator=torch.Generator().manual_seed(0))

    def step(checkpointing: bool, bf16: bool) -> float:
        if checkpointing:
            model.gradient_checkpointing_enable()
        else:
            model.gradient_checkpointing_disable()
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        return time.perf_counter() - start

    times: dict[tuple[bool, bool], list[float]] = {s: [] for s in SETTINGS}
    for s in SETTINGS:
        step(*s)
    for _ in range(args.rounds):
        for s in SETTINGS:
            times[s].append(step(*s))
    print(f"threads {torch.get_num_threads()}  load {os.getloadavg()[0]:.2f}  batch {args.batch} x {args.tokens}")
    for (checkpointing, bf16), ts in times.items():
        print(f"checkpointing={'on ' if checkpointing else 'off'} {'bf16' if bf16 else 'fp32'}  "
              f"median {statistics.median(ts):.2f} s/step  ({' '.join(f'{t:.2f}' for t in ts)})")
    before = statistics.median(times[(True, False)])
    after = statistics.median(times[(False, True)])
    print(f"ratio {before / after:.2f}")


if __name__ == "__main__":
    main()
