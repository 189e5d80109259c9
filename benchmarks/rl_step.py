"""Cost of RAPO's reward in a GRPO step, and peak memory of the RL stage per judge.

    python benchmarks/rl_step.py --steps 2 --rounds 3
    python benchmarks/rl_step.py --model rapo-lite/tiny-qwen3 --skip-rss

Part 1, step time (in this process, one model at a time): two GRPO trainers on the same
loaded LoRA policy, the same RL prompts and the same GRPOConfig (the kit's `grpo_args`):
- A, RAPO: reward_funcs = [scorer.risk, scorer.general] of a `RolloutScorer` with the rule
  judge and a rollouts.jsonl log, built as `stages/rl.py` builds them;
- B, stock: one reward function that returns 0.0 for every completion.
Both get `generation_kwargs={"min_new_tokens": max_completion_length}`, so every completion
is generated to full length and the only difference is the reward. A and B alternate in
rounds of --steps optimizer steps (A B, then B A, ...), after one discarded warm-up round.
The step time is TRL's own `step_time` metric (GRPOTrainer.training_step: generation,
reward, forward and backward; not the optimizer step), one value per step; the wall time
from on_step_begin to on_step_end (which adds the optimizer step) is reported as a check,
and so is the time spent inside the reward functions, measured by a thin wrapper on each
side.

Part 2, peak RSS (fresh processes): the real CLI,
`python train.py recipes/tiny.yaml stages=[rl] rl.max_steps=3 output_dir=<tmp> rl.judge.kind=model|rule`,
per model, the judge kinds alternated; peak RSS is the child's own maximum (os.wait4).
"""

from __future__ import annotations

import argparse
import os
import sys

MODELS = ("rapo-lite/tiny-qwen3", "rapo-lite/smollm2-135m-instruct")
# Completion cap per model: the tiny recipe's 160 for the tiny model; 64 keeps SmolLM2 short on a CPU.
COMPLETION_LENGTH = {"rapo-lite/tiny-qwen3": 160, "rapo-lite/smollm2-135m-instruct": 64}


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", action="append", choices=MODELS, help="model(s) to measure (default: both)")
    parser.add_argument("--backend", choices=("unsloth", "transformers"), default="unsloth")
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per trainer per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed A/B rounds (plus one warm-up round)")
    parser.add_argument("--rss-steps", type=int, default=3, help="rl.max_steps of the peak-RSS runs")
    parser.add_argument("--rss-repeats", type=int, default=1, help="peak-RSS runs per (model, judge)")
    parser.add_argument("--skip-step", action="store_true", help="skip part 1 (step time)")
    parser.add_argument("--skip-rss", action="store_true", help="skip part 2 (peak RSS)")
    return parser.parse_args()


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.backend == "unsloth" and not ARGS.skip_step:
    import unsloth  # noqa: F401  # before transformers/TRL

import functools  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def overrides(name: str, backend: str) -> list[str]:
    out = [f"model.backend={backend}", f"model.name_or_path={name}"]
    if name != MODELS[0]:
        out.append(f"rl.max_completion_length={COMPLETION_LENGTH[name]}")
    return out


# ---------------------------------------------------------------------------- part 1: step time


class Timed:
    """Wraps a reward function, keeping its name (TRL logs rewards/<name>/mean), and sums its time."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return inner


def constant(prompts, completions, **kwargs):
    """Stock GRPO's stand-in reward: the same value for every completion."""
    return [0.0] * len(completions)


def step_ratio(name: str, args: argparse.Namespace, workdir: Path) -> dict:
    import transformers
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback
    from trl import GRPOTrainer

    from rapo_lite import trl_compat
    from rapo_lite.data.hygiene import load_training
    from rapo_lite.io import JsonlLog
    from rapo_lite.judges import make_judge
    from rapo_lite.metrics import MetricsCallback
    from rapo_lite.model import load_model
    from rapo_lite.recipe import load_recipe
    from rapo_lite.rewards import RewardWeights
    from rapo_lite.stages.rl import RolloutScorer, build_dataset, grpo_args

    recipe = load_recipe(str(ROOT / "recipes/tiny.yaml"), overrides(name, args.backend) + ["rl.judge.kind=rule"])
    rl = recipe.rl
    transformers.set_seed(recipe.seed)
    model, tokenizer = load_model(recipe.model, recipe.lora, recipe.seed)
    records = load_training(rl.sources or recipe.data.sources, recipe.eval.sources, recipe.seed, "rl")
    dataset = build_dataset(records, tokenizer, rl.chat_template_kwargs)

    # As stages/rl.py: the recipe's judge, the recipe's bands and weights, a rollouts.jsonl log.
    judge = make_judge(rl.judge, model, tokenizer)
    scorer = RolloutScorer(judge, recipe.risk.bands, RewardWeights(*rl.reward_weights),
                           JsonlLog(workdir / "rollouts.jsonl"))

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.walls: list[float] = []
            self._t = 0.0

        def on_step_begin(self, *a, **k):
            self._t = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.walls.append(time.perf_counter() - self._t)

    trl_compat.install()
    sides = {}
    for side, funcs, weights in (("rapo", scorer.reward_funcs(len(rl.reward_weights)), list(rl.reward_weights)),
                                 ("stock", [constant], [1.0])):
        cfg = grpo_args(recipe, str(workdir / side))
        cfg.generation_kwargs = {"min_new_tokens": rl.max_completion_length}  # every completion full length
        cfg.reward_weights = weights
        timer, clock = Timed(), StepClock()
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[timer.wrap(f) for f in funcs],
            args=cfg,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[MetricsCallback(JsonlLog(workdir / f"{side}-metrics.jsonl"), "rl"), clock],
        )
        # Keep stdout to the tables: no progress bar, no printed log dicts (the same on both sides).
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        sides[side] = {"trainer": trainer, "timer": timer, "clock": clock, "step_time": [], "wall": [], "reward_s": [],
                       "lengths": []}

    def run(side: str, steps: int, keep: bool) -> None:
        s = sides[side]
        trainer = s["trainer"]
        trainer.args.max_steps = steps
        s["timer"].seconds = 0.0
        s["clock"].walls.clear()
        trainer.train()
        logs = [h for h in trainer.state.log_history if "step_time" in h]
        if keep:
            s["step_time"] += [float(h["step_time"]) for h in logs]
            s["wall"] += list(s["clock"].walls)
            s["reward_s"].append(s["timer"].seconds / steps)
            s["lengths"] += [(float(h["completions/min_length"]), float(h["completions/max_length"])) for h in logs]

    run("rapo", 1, keep=False)  # warm-up round
    run("stock", 1, keep=False)
    for r in range(args.rounds):
        for side in (("rapo", "stock") if r % 2 == 0 else ("stock", "rapo")):
            run(side, args.steps, keep=True)

    lengths = sorted({x for s in sides.values() for pair in s["lengths"] for x in pair})
    out = {"model": name, "completion_length": rl.max_completion_length, "lengths_seen": lengths,
           "batch": rl.prompts_per_step * rl.num_generations, "judge_calls": judge.calls}
    for side, s in sides.items():
        out[side] = {k: s[k] for k in ("step_time", "wall", "reward_s")}
    for s in sides.values():
        del s["trainer"]
    del model
    return out


# ---------------------------------------------------------------------------- part 2: peak RSS


def rss_run(name: str, kind: str, args: argparse.Namespace, out: str) -> tuple[float, float]:
    cmd = [sys.executable, str(ROOT / "train.py"), "recipes/tiny.yaml", "stages=[rl]", f"rl.max_steps={args.rss_steps}",
           f"output_dir={out}", f"rl.judge.kind={kind}", *overrides(name, args.backend)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Read stderr while waiting (progress bars fill the pipe), then collect the child's rusage.
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode()[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024  # KiB -> MiB on Linux


def rss_command(name: str, args: argparse.Namespace) -> str:
    extra = " ".join(o for o in overrides(name, args.backend))
    return (f"python train.py recipes/tiny.yaml stages=[rl] rl.max_steps={args.rss_steps} output_dir=<tmp> "
            f"rl.judge.kind=model|rule {extra}")


# ---------------------------------------------------------------------------- main


def main() -> None:
    args = ARGS or _parse_args()
    models = args.model or list(MODELS)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"backend {args.backend}, load average at the start {os.getloadavg()[0]:.2f}")
    if not args.skip_step:
        results = []
        for name in models:
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                results.append(step_ratio(name, args, Path(tmp)))
                results[-1]["total_s"] = time.perf_counter() - started
        print()
        print("Step time, RAPO reward (rule judge) vs a constant reward; "
              f"{args.rounds} rounds x {args.steps} steps per side after a warm-up round; medians over steps")
        print()
        print("| model | completion tokens (seen min-max) | completions per step | RAPO step_time (s) "
              "| stock step_time (s) | ratio | RAPO wall/step (s) | stock wall/step (s) | ratio "
              "| reward fns per step, RAPO / stock (ms) "
              "| reward overhead / stock step_time |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for res in results:
            a, b = res["rapo"], res["stock"]
            sa, sb = statistics.median(a["step_time"]), statistics.median(b["step_time"])
            wa, wb = statistics.median(a["wall"]), statistics.median(b["wall"])
            ra, rb = statistics.median(a["reward_s"]) * 1e3, statistics.median(b["reward_s"]) * 1e3
            seen = f"{min(res['lengths_seen']):.0f}-{max(res['lengths_seen']):.0f}"
            print(f"| {res['model'].split('/')[-1]} | {res['completion_length']} ({seen}) "
                  f"| {res['batch']} | {sa:.2f} | {sb:.2f} "
                  f"| {sa / sb:.3f} | {wa:.2f} | {wb:.2f} | {wa / wb:.3f} "
                  f"| {ra:.2f} / {rb:.3f} | {(ra - rb) / 1e3 / sb:.2%} |")
        for res in results:
            print(f"{res['model']}: RAPO step_time {', '.join(f'{x:.2f}' for x in res['rapo']['step_time'])}; "
                  f"stock {', '.join(f'{x:.2f}' for x in res['stock']['step_time'])}; "
                  f"rule-judge calls {res['judge_calls']}; "
                  f"part 1 took {res['total_s']:.0f} s")
    if not args.skip_rss:
        print()
        print("Peak RSS of the RL stage per judge "
              f"(rl.max_steps={args.rss_steps}, fresh process per run, judges alternated)")
        print()
        print("| model | judge | median peak RSS (MiB) | median wall (s) | runs: wall (s) / RSS (MiB) |")
        print("|---|---|---|---|---|")
        commands = []
        for name in models:
            runs: dict[str, list[tuple[float, float]]] = {"model": [], "rule": []}
            with tempfile.TemporaryDirectory() as tmp:
                for r in range(args.rss_repeats):
                    for kind in (("model", "rule") if r % 2 == 0 else ("rule", "model")):
                        runs[kind].append(rss_run(name, kind, args, tmp))
            for kind, rs in runs.items():
                print(f"| {name.split('/')[-1]} | {kind} | {statistics.median(m for _, m in rs):.0f} "
                      f"| {statistics.median(w for w, _ in rs):.1f} "
                      f"| {', '.join(f'{w:.1f} / {m:.0f}' for w, m in rs)} |")
            commands.append(rss_command(name, args))
        print()
        for c in commands:
            print(f"command: {c}")
    print(f"load average at the end {os.getloadavg()[0]:.2f} (this script's own work counts about 2)")


if __name__ == "__main__":
    main()
