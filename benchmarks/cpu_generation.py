"""Generation speed on the CPU: the kit's generate() against plain transformers, side by side.

    python benchmarks/cpu_generation.py                      # 64 JailbreakBench prompts, batch 32, 128 new tokens
    python benchmarks/cpu_generation.py --levers --prompts 32 --rounds 1   # each lever on its own
    python benchmarks/cpu_generation.py --levers --prompts 32 --rounds 1 --only compile   # one lever: torch.compile
    python benchmarks/cpu_generation.py --threads 1          # torch threads for every variant alike
    python benchmarks/cpu_generation.py --rollouts 4         # also GRPO-style sampled rollouts, 4 batches

SmolLM2-135M-Instruct as the default CPU recipe loads it (recipes/smollm2-135m-cpu.yaml:
Unsloth backend, fp32, LoRA r=16 on all seven projections), greedy, chat-templated prompts,
the same batches for every variant. "adapter" is that LoRA with random B matrices (normal,
std --b-std), so that it changes the outputs the way a trained one does; "base" is the same
model with the adapter switched off. Variants per model:

- plain: a separate transformers model (fp32; for "adapter", with the same LoRA weights
  through PEFT) and its own `generate`, batched the way the kit batches;
- today: the kit's generate() with engine="transformers" (the path before the fast loop);
- kit: the kit's generate() as the stages call it (the fast loop on the CPU), the weight
  cache cleared before each run so that every run pays for merging and casting.

Rounds interleave the variants (plain, today, kit, plain, ...) because the machine may be
shared; tokens/s are medians over rounds, counting tokens up to the end token. "identical"
is the share of outputs equal to today's path. The load average is printed with every run.
The last line is `ratio base=... adapter=...`: kit tokens/s over plain fp32 tokens/s.

--rollouts N times what the RL stage samples: N batches of the recipe's rl.prompts_per_step
prompts x rl.num_generations, at rl.temperature / rl.top_p / rl.max_completion_length and
TRL's top_k=0, with the adapter on: TRL's own path (the PEFT model's `generate`) against the
fast loop as `fastgen.route_rollouts` calls it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import unsloth  # noqa: F401  (patches transformers first, as the kit's entry point does)

from rapo_lite import fastgen
from rapo_lite.chat import render_prompt
from rapo_lite.data.sources import load_sources
from rapo_lite.generation import _decode, _eos_ids, generate
from rapo_lite.model import load_model, resolve_model_path
from rapo_lite.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "smollm2-135m-cpu.yaml"
Outputs = list[tuple[str, int]]  # (text, tokens) per prompt, in the input order


def randomise_b(model: Any, std: float, seed: int) -> None:
    """Give every LoRA B a random value, as training would; PEFT starts B at zero (a no-op adapter)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * std)


def plain_models(path: str, kit_model: Any, lora: Any) -> tuple[Any, Any]:
    """fp32 transformers models: the base, and a second copy with the kit's LoRA weights through PEFT."""
    from peft import (
        LoraConfig,
        get_peft_model,
        get_peft_model_state_dict,
        set_peft_model_state_dict,
    )
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    other = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=0.0, target_modules=list(lora.target_modules),
                        bias="none", task_type="CAUSAL_LM")
    adapted = get_peft_model(other, config)
    set_peft_model_state_dict(adapted, get_peft_model_state_dict(kit_model))
    return base, adapted.eval()


def hf_generate(model: Any, tokenizer: Any, prompts: list[str], batch: int, new_tokens: int,
                eos: list[int], **extra: Any) -> Outputs:
    """transformers' generate on `model`, batched by prompt length like the kit."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[tuple[str, int] | None] = [None] * len(prompts)
    tokenizer.padding_side = "left"
    with torch.no_grad():
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            ids = model.generate(**enc, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=eos, **extra)
            for i, row in zip(idx, ids[:, enc["input_ids"].shape[1] :].tolist()):
                g = _decode(tokenizer, row, eos)
                out[i] = (g.text, g.n_tokens)
    return [o for o in out if o is not None]


def kit_generate(model: Any, tokenizer: Any, prompts: list[str], batch: int, new_tokens: int, **kw: Any) -> Outputs:
    fastgen._MEMOS.pop(model, None)  # each run merges and casts the weights again, as one eval call would
    outs = generate(model, tokenizer, prompts, max_new_tokens=new_tokens, batch_size=batch, **kw)
    return [(g.text, g.n_tokens) for g in outs]


def merged_copy(peft_model: Any, dtype: torch.dtype, adapter: bool) -> Any:
    """A plain transformers model holding base (+ merged adapter) weights in `dtype`."""
    import copy

    clone = copy.deepcopy(peft_model)
    model = clone.merge_and_unload() if adapter else clone.unload()
    return model.to(dtype).eval()


def levers(kit: Any, tok: Any, args: argparse.Namespace, eos: list[int], adapter: bool,
           copies: dict[str, Any]) -> dict[str, Callable[[list[str]], Outputs]]:
    """One variant per lever, each alone or on top of the previous one (the table's rows)."""
    o = fastgen.Options
    bf16 = torch.bfloat16
    b, n = args.batch, args.new_tokens

    def autocast(p: list[str]) -> Outputs:
        with torch.autocast("cpu", dtype=bf16):
            return kit_generate(kit, tok, p, b, n, engine="transformers")

    compiled: dict[str, Any] = {}

    def compiled_static(p: list[str]) -> Outputs:
        """transformers' own torch.compile of the decode step, which it does on GPUs only unless told.

        The first call (which compiles, once per batch shape) is timed and printed apart; the
        timed call then sees the same shapes, so what it reports is the best case: eval batches
        of other lengths would compile again.
        """
        from transformers import CompileConfig

        config = CompileConfig(mode="default")
        config._compile_all_devices = True  # transformers' switch for compiling off-GPU
        run = lambda: hf_generate(copies["m16"], tok, p, b, n, eos, cache_implementation="static",  # noqa: E731
                                  compile_config=config)
        if "warm" not in compiled:
            started = time.perf_counter()
            run()
            compiled["warm"] = time.perf_counter() - started
            print(f"torch.compile: compiling and the first call took {compiled['warm']:.1f} s (not in tok/s)",
                  flush=True)
        return run()

    rows: dict[str, Callable[[list[str]], Outputs]] = {
        "HF generate + bf16 autocast (LoRA unmerged)": autocast,
        "HF generate, merged fp32 copy": lambda p: hf_generate(copies["m32"], tok, p, b, n, eos),
        "HF generate, merged bf16 copy": lambda p: hf_generate(copies["m16"], tok, p, b, n, eos),
        "HF generate, merged bf16 copy, static cache": lambda p: hf_generate(
            copies["m16"], tok, p, b, n, eos, cache_implementation="static"),
        "HF generate, merged bf16 copy, static cache, torch.compile": compiled_static,
        "fast loop fp32 (merged, fused, prealloc. cache)": lambda p: kit_generate(
            kit, tok, p, b, n, engine="fast", fast_options=o(dtype=torch.float32, drop_finished=False)),
        "fast loop bf16": lambda p: kit_generate(
            kit, tok, p, b, n, engine="fast", fast_options=o(dtype=bf16, drop_finished=False, prepack=False,
                                                              rescore=False)),
        "+ oneDNN-packed weights": lambda p: kit_generate(
            kit, tok, p, b, n, engine="fast", fast_options=o(dtype=bf16, drop_finished=False, rescore=False)),
        "+ finished rows leave the batch": lambda p: kit_generate(
            kit, tok, p, b, n, engine="fast", fast_options=o(dtype=bf16, rescore=False)),
        "+ fp32 rescoring of top-8 (kit default)": lambda p: kit_generate(kit, tok, p, b, n),
        f"kit default, batch {2 * b}": lambda p: kit_generate(kit, tok, p, 2 * b, n),
    }
    return rows


def rollouts(kit: Any, tok: Any, recipe: Any, args: argparse.Namespace, eos: list[int]) -> None:
    """GRPO rollouts: TRL's generate call on the policy against the fast loop, interleaved."""
    rl = recipe.rl
    records = load_sources([{"name": "samples", "harmful": True, "count": args.rollouts * rl.prompts_per_step}], seed=0)
    texts = [render_prompt(tok, r.prompt) for r in records for _ in range(rl.num_generations)]
    size = rl.prompts_per_step * rl.num_generations
    batches = [texts[i : i + size] for i in range(0, len(texts), size)]
    sampling = fastgen.Sampling(temperature=rl.temperature, top_k=0, top_p=rl.top_p)  # TRL's GRPOConfig.top_k is 0

    def trl_path(batch: list[str]) -> int:
        tok.padding_side = "left"
        enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = kit.generate(**enc, max_new_tokens=rl.max_completion_length, do_sample=True,
                               temperature=rl.temperature, top_p=rl.top_p, top_k=0, pad_token_id=tok.pad_token_id,
                               eos_token_id=eos)
        return sum(_decode(tok, row, eos).n_tokens for row in out[:, enc["input_ids"].shape[1] :].tolist())

    def fast_path(batch: list[str]) -> int:
        fastgen._MEMOS.pop(kit, None)  # the adapter changes every step, so every batch merges again
        ids = tok(batch, add_special_tokens=False)["input_ids"]
        new = fastgen.generate_ids(kit, ids, max_new_tokens=rl.max_completion_length, eos_ids=eos,
                                   pad_id=tok.pad_token_id, sampling=sampling, batch_size=len(batch))
        return sum(len(x) - (x[-1] in eos if x else 0) for x in new)

    speeds: dict[str, list[float]] = {"TRL generate (PEFT, fp32)": [], "fast loop (route_rollouts)": []}
    for round_no in range(args.rounds):
        for name, fn in zip(speeds, (trl_path, fast_path)):
            torch.manual_seed(round_no)
            started = time.perf_counter()
            tokens = sum(fn(b) for b in batches)
            seconds = time.perf_counter() - started
            speeds[name].append(tokens / seconds)
            print(f"round {round_no + 1} rollouts {name:40s} {tokens:6d} tokens {seconds:7.1f} s "
                  f"{tokens / seconds:7.1f} tok/s  load {os.getloadavg()[0]:.2f}", flush=True)
    trl_speed, fast_speed = (statistics.median(v) for v in speeds.values())
    print(f"rollouts ({len(batches)} batches of {size}, {rl.max_completion_length} tokens, T={rl.temperature}, "
          f"top_p={rl.top_p}): TRL {trl_speed:.1f} tok/s, fast {fast_speed:.1f} tok/s, "
          f"ratio {fast_speed / trl_speed:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--b-std", type=float, default=0.01, help="std of the random LoRA B values")
    parser.add_argument("--levers", action="store_true", help="also time each lever on its own")
    parser.add_argument("--only", default="", help="with --levers: comma-separated words; only the lever rows "
                        "whose name holds one of them run (plain fp32, today and kit always do)")
    parser.add_argument("--kit-4bit", action="store_true", help="load the kit's model in 4-bit (plain stays fp32)")
    parser.add_argument("--rollouts", type=int, default=0, help="also time this many GRPO-style rollout batches")
    parser.add_argument("--skip-main", action="store_true", help="only the rollouts (with --rollouts)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = load_recipe(str(RECIPE), [f"model.load_in_4bit={str(args.kit_4bit).lower()}"])
    kit, tok = load_model(recipe.model, recipe.lora, recipe.seed)
    randomise_b(kit, args.b_std, seed=1)
    path = resolve_model_path(recipe.model.name_or_path)
    plain_base, plain_adapter = plain_models(path, kit, recipe.lora)
    records = load_sources([{"name": "jailbreakbench", "count": args.prompts}], seed=0)
    prompts = [render_prompt(tok, r.prompt) for r in records]
    eos = _eos_ids(kit, tok)
    b, n = args.batch, args.new_tokens
    print(f"{len(prompts)} prompts, batch {b}, {n} new tokens, {args.rounds} round(s), torch threads "
          f"{torch.get_num_threads()}, kit model {'4-bit' if args.kit_4bit else 'fp32'}, fast dtype "
          f"{fastgen.cpu_compute_dtype()}, load {os.getloadavg()}", flush=True)

    variants: dict[str, dict[str, Callable[[list[str]], Outputs]]] = {}
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    for mode, plain in (("base", plain_base), ("adapter", plain_adapter)):
        adapter = mode == "adapter"
        rows: dict[str, Callable[[list[str]], Outputs]] = {
            "plain fp32": lambda p, m=plain: hf_generate(m, tok, p, b, n, eos),
            "today": lambda p: kit_generate(kit, tok, p, b, n, engine="transformers"),
            "kit": lambda p: kit_generate(kit, tok, p, b, n),
        }
        if args.levers:
            with (contextlib.nullcontext() if adapter else kit.disable_adapter()):
                copies = {"m32": merged_copy(kit, torch.float32, adapter),
                          "m16": merged_copy(kit, torch.bfloat16, adapter)}
            rows.update({name: run for name, run in levers(kit, tok, args, eos, adapter, copies).items()
                         if not only or any(w in name for w in only)})
        variants[mode] = rows

    speeds: dict[tuple[str, str], list[float]] = {}
    outputs: dict[tuple[str, str], Outputs] = {}
    loads: list[float] = []
    for round_no in range(0 if args.skip_main else args.rounds):
        for mode, rows in variants.items():
            for name, run in rows.items():
                with (contextlib.nullcontext() if mode == "adapter" else kit.disable_adapter()):
                    started = time.perf_counter()
                    outs = run(prompts)
                    seconds = time.perf_counter() - started
                tokens = sum(t for _, t in outs)
                speeds.setdefault((mode, name), []).append(tokens / seconds)
                outputs.setdefault((mode, name), outs)
                loads.append(os.getloadavg()[0])
                print(f"round {round_no + 1} {mode:7s} {name:48s} {tokens:6d} tokens {seconds:7.1f} s "
                      f"{tokens / seconds:7.1f} tok/s  load {os.getloadavg()[0]:.2f}", flush=True)

    if args.rollouts:
        rollouts(kit, tok, recipe, args, eos)
    if args.skip_main:
        return

    def median(mode: str, name: str) -> float:
        return statistics.median(speeds[(mode, name)])

    def identical(mode: str, name: str) -> float:
        ref, got = outputs[(mode, "today")], outputs[(mode, name)]
        return sum(a[0] == g[0] for a, g in zip(ref, got)) / len(ref)

    def prefix(mode: str, name: str) -> float:
        """Mean share of today's text that the variant reproduces before the two part ways."""
        ref, got = outputs[(mode, "today")], outputs[(mode, name)]
        return statistics.mean(len(os.path.commonprefix([a[0], g[0]])) / max(1, len(a[0])) for a, g in zip(ref, got))

    def verdicts(mode: str, name: str) -> float:
        """Share of prompts whose answer gets the same refusal verdict as today's (what eval reports)."""
        from rapo_lite.reasoning import parse_completion
        from rapo_lite.text.refusal import is_refusal

        ref, got = outputs[(mode, "today")], outputs[(mode, name)]
        same = [is_refusal(parse_completion(a[0]).answer) == is_refusal(parse_completion(g[0]).answer)
                for a, g in zip(ref, got)]
        return sum(same) / len(same)

    print(f"\nload average (1 min) during the runs: min {min(loads):.2f}, median {statistics.median(loads):.2f}, "
          f"max {max(loads):.2f}")
    print("\n| variant | tok/s base | tok/s adapter | vs plain fp32 (base / adapter) "
          "| identical to today (base / adapter) |")
    print("|---|---:|---:|---:|---:|")
    for name in variants["base"]:
        sb, sa = median("base", name), median("adapter", name)
        print(f"| {name} | {sb:.1f} | {sa:.1f} | {sb / median('base', 'plain fp32'):.2f} / "
              f"{sa / median('adapter', 'plain fp32'):.2f} | {identical('base', name):.2f} / "
              f"{identical('adapter', name):.2f} |")
    print("\nagreement with today's path (base / adapter): identical text, mean shared prefix, same refusal verdict")
    for name in variants["base"]:
        print(f"  {name:48s} " + "  ".join(f"{identical(m, name):.2f} {prefix(m, name):.2f} {verdicts(m, name):.2f}"
                                           for m in ("base", "adapter")))
    print(f"\nadapter, kit vs the plain fp32 base model (no LoRA at all): "
          f"{median('adapter', 'kit') / median('base', 'plain fp32'):.2f}")
    print(f"kit vs today: base {median('base', 'kit') / median('base', 'today'):.2f}, "
          f"adapter {median('adapter', 'kit') / median('adapter', 'today'):.2f}")
    print(f"ratio base={median('base', 'kit') / median('base', 'plain fp32'):.2f} "
          f"adapter={median('adapter', 'kit') / median('adapter', 'plain fp32'):.2f}")


if __name__ == "__main__":
    main()
