"""IPO pair building and DPO step time, with the real judge and cue detector.

    python benchmarks/ipo.py                                          # tiny model
    python benchmarks/ipo.py --model rapo-lite/smollm2-135m-instruct --harmful 8 --benign 4

Runs the stage's own PairBuilder on packaged sample prompts: samples traces, judges them,
finds cues, intervenes round by round, builds benign pairs; reports the time per prompt, what
happened to the traces, the share still unsafe after each round, then the median DPO step
time (TRL's own step timing through a callback) on the pairs it built.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="rapo-lite/tiny-qwen3")
    parser.add_argument("--backend", default="unsloth")
    parser.add_argument("--harmful", type=int, default=8)
    parser.add_argument("--benign", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--dpo-steps", type=int, default=6)
    args = parser.parse_args()
    if args.backend == "unsloth":
        import unsloth  # noqa: F401  (before transformers and TRL, as train.py does)

    from transformers import TrainerCallback

    from rapo_lite.cues import make_cue_detector
    from rapo_lite.data import load_sources
    from rapo_lite.io import JsonlLog
    from rapo_lite.judges import make_judge
    from rapo_lite.model import load_model
    from rapo_lite.recipe import load_recipe
    from rapo_lite.stages import ipo
    from rapo_lite.stages.base import RunContext
    from rapo_lite.triggers import DEFAULT_TRIGGERS

    recipe = load_recipe(
        ROOT / "recipes/tiny-ipo.yaml",
        [f"model.name_or_path={args.model}", f"model.backend={args.backend}",
         f"ipo.max_new_tokens={args.max_new_tokens}", f"ipo.max_steps={args.dpo_steps}", "ipo.batch_size=2"],
    )
    model, tok = load_model(recipe.model, recipe.lora, recipe.seed)
    judge = make_judge(recipe.ipo.judge, model, tok)
    detector = make_cue_detector(recipe.ipo.cue_detector, model, tok)
    builder = ipo.PairBuilder(model, tok, judge, detector, DEFAULT_TRIGGERS, recipe.ipo, recipe.seed)
    harmful = load_sources([{"name": "samples", "harmful": True, "count": args.harmful}], seed=1)
    benign = load_sources([{"name": "samples", "harmful": False, "count": args.benign}], seed=1)

    t0 = time.perf_counter()
    jobs, counts = builder.interventions(harmful)
    t1 = time.perf_counter()
    rounds = builder.run_rounds(jobs)
    t2 = time.perf_counter()
    pairs = builder.intervened_pairs(jobs)
    benign_pairs, benign_counts = builder.benign_pairs(benign)
    t3 = time.perf_counter()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"model {args.model} via {args.backend}, {args.max_new_tokens} new tokens, {recipe.ipo.triggers_per_prompt} "
          f"triggers per unsafe trace, up to {recipe.ipo.max_rounds} rounds")
    print(f"traces: {dict(counts)}; benign: {dict(benign_counts)}")
    print(f"sampling + judging + cue finding: {(t1 - t0) / len(harmful):.2f} s per harmful prompt")
    print(f"intervention rounds: {t2 - t1:.1f} s for {len(jobs)} interventions; "
          f"benign pairs: {(t3 - t2) / len(benign):.2f} s per prompt")
    print("| round | entered | became safe | still unsafe (share of all interventions) |")
    print("|---|---|---|---|")
    for r in rounds:
        print(f"| {r['round']} | {r['entered']} | {r['became_safe']} | {r['still_unsafe_share']:.0%} |")
    print(f"pairs: {len(pairs)} intervened, {len(benign_pairs)} benign")

    step_times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.t)

    with tempfile.TemporaryDirectory() as out:
        ctx = RunContext(recipe, Path(out), model, tok, JsonlLog(Path(out) / "m.jsonl"))
        import rapo_lite.metrics as metrics_module

        real = metrics_module.MetricsCallback
        metrics_module.MetricsCallback = lambda log, stage: Timer()  # time the steps instead of logging them
        try:
            ipo.train(ctx, pairs + benign_pairs)
        finally:
            metrics_module.MetricsCallback = real
    later = step_times[1:] or step_times  # the first step pays for warm-up
    print(f"DPO (sigmoid + 0.2 sft), batch 2: median step {statistics.median(later):.3f} s over {len(later)} steps")


if __name__ == "__main__":
    main()
