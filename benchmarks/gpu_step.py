"""GPU memory and time of one RAPO RL step and one IPO DPO step, Unsloth vs stock TRL + PEFT, next to the planner.

    python benchmarks/gpu_step.py                       # Qwen3-1.7B and Qwen3-8B shapes, both backends
    python benchmarks/gpu_step.py --shape qwen3-1.7b --work-dir /tmp/gpu-step

Needs a CUDA GPU (on a machine without one it says so and exits with code 2; the planner's
predictions alone come from `python train.py plan RECIPE --gpu-memory 8GiB`).

What it does:
1. builds, once per shape, a model folder with the real config (rapo_lite/model_configs) and
   random weights, plus the tiny model's tokenizer and chat template (ids it cannot decode are
   suppressed during generation, so completions are real text). Shape decides memory and
   speed; the weights' values do not;
2. for each shape x backend x step, a fresh process (Unsloth patches libraries globally, and
   peak-memory counters are per process) loads the policy with the kit's own loader:
   - `unsloth`: the Unsloth backend, nf4 4-bit base, Unsloth's gradient checkpointing;
   - `stock`: the transformers backend with a bf16 base (no quantisation), PEFT LoRA and
     TRL's own gradient checkpointing;
   and runs two optimizer steps of
   - `rl`: the kit's GRPO trainer (stages/rl.py) with RAPO's reward and the self-judge (the
     base weights, adapter off), 1 prompt x 4 generations x 1024 completion tokens, forced to
     full length with min_new_tokens. Random weights never close a think block, which RAPO
     scores without asking the judge, so every completion is also sent to the judge in full,
     as a trained policy's answers would be;
   - `dpo`: the kit's IPO trainer (stages/ipo.py, DPO + 0.2 SFT) on synthetic pairs of a
     512-token prompt and 1024-token chosen / rejected suffixes;
3. the second step is reported: its wall time (generation, judging, forward, backward and the
   optimizer step) and its peak `torch.cuda.max_memory_allocated`, next to the planner's
   tensor-only prediction for the same recipe and shape (the planner's full figure adds the
   CUDA context and allocator slack, which max_memory_allocated does not see).

The recipe of each step is the shape's GPU recipe (recipes/*-8gb.yaml for Qwen3-1.7B,
recipes/*-t4.yaml for Qwen3-8B) with the sizes above; the planner reads the same recipe.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPES = {  # shape -> (packaged config, RAPO recipe, IPO recipe)
    "qwen3-1.7b": ("Qwen3-1.7B.json", "recipes/qwen3-1.7b-rapo-8gb.yaml", "recipes/qwen3-1.7b-ipo-8gb.yaml"),
    "qwen3-8b": ("Qwen3-8B.json", "recipes/qwen3-8b-rapo-t4.yaml", "recipes/qwen3-8b-ipo-t4.yaml"),
}
BACKENDS = {"unsloth": ["model.backend=unsloth", "model.load_in_4bit=true"],
            "stock": ["model.backend=transformers", "model.load_in_4bit=false"]}
PROMPT_TOKENS = 512
COMPLETION_TOKENS = 1024
GIB = 1024**3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="model shape(s) (default: all)")
    parser.add_argument("--step", action="append", choices=("rl", "dpo"), help="step(s) to measure (default: both)")
    parser.add_argument("--backend", action="append", choices=sorted(BACKENDS), help="backend(s) (default: both)")
    parser.add_argument("--work-dir", default=str(Path.home() / ".cache" / "rapo-lite" / "gpu-step"),
                        help="where the random-weight model folders and run outputs go")
    parser.add_argument("--worker", nargs=3, metavar=("STEP", "SHAPE", "BACKEND"), help=argparse.SUPPRESS)
    parser.add_argument("--build", metavar="SHAPE", help=argparse.SUPPRESS)
    return parser.parse_args()


# ------------------------------------------------------------------------------ model folders


def model_dir(work: Path, shape: str) -> Path:
    return work / "models" / shape


def build_model(shape: str, work: Path) -> None:
    """Random weights in the real config, saved as an ordinary model folder (built on the GPU: fast)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from rapo_lite.io import atomic_dir
    from rapo_lite.model import resolve_model_path
    from rapo_lite.model_configs import read_config

    target = model_dir(work, shape)
    if (target / "config.json").is_file():
        return
    raw = read_config(ROOT / "rapo_lite" / "model_configs" / SHAPES[shape][0])
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("rapo-lite/tiny-qwen3"))
    fields = {k: v for k, v in raw.items() if k not in ("model_type", "_name_or_path", "architectures")}
    config = AutoConfig.for_model(raw["model_type"], **fields, pad_token_id=tokenizer.pad_token_id,
                                  eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True, max_shard_size="4GB")
        tokenizer.save_pretrained(tmp)


# ------------------------------------------------------------------------------ one measurement


class StepProbe:
    """Stands in for the run's metrics log: the trainers log once per optimizer step (logging_steps=1),
    right after it, so each logged step closes a window of wall time and of peak allocated memory."""

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.steps: list[dict[str, float]] = []
        self._t = time.perf_counter()
        torch.cuda.reset_peak_memory_stats()

    def append(self, row: dict) -> None:
        if "loss" not in row:  # the end-of-training summary
            return
        self.torch.cuda.synchronize()
        now = time.perf_counter()
        self.steps.append({"seconds": now - self._t, "peak": self.torch.cuda.max_memory_allocated()})
        self._t = now
        self.torch.cuda.reset_peak_memory_stats()


def bench_recipe(step: str, shape: str, backend: str, work: Path):
    from rapo_lite.recipe import load_recipe

    _, rapo, ipo = SHAPES[shape]
    common = [f"model.name_or_path={model_dir(work, shape)}", "model.dtype=bfloat16", *BACKENDS[backend],
              f"output_dir={work / 'runs'}", f"run_name={shape}-{backend}-{step}", "eval.sources=[]"]
    if step == "rl":
        return load_recipe(ROOT / rapo, common + [
            "stages=[rl]", "rl.sources=[{name: samples, harmful: true, count: 4}]", "rl.prompts_per_step=1",
            "rl.num_generations=4", "rl.gradient_accumulation_steps=1", "rl.max_steps=2",
            f"rl.max_completion_length={COMPLETION_TOKENS}", "rl.judge.kind=model", "rl.judge.batch_size=4",
            "rl.logging_steps=1"])
    # The planner's DPO sequence is prompt + 2 x ipo.max_new_tokens (prefix + continuation).
    return load_recipe(ROOT / ipo, common + [
        "stages=[ipo]", "ipo.batch_size=1", "ipo.gradient_accumulation_steps=1", "ipo.max_steps=2",
        f"ipo.max_new_tokens={COMPLETION_TOKENS // 2}", f"model.max_seq_length={PROMPT_TOKENS + COMPLETION_TOKENS}",
        "ipo.logging_steps=1"])


def text_of(tokenizer, n: int, seed: int) -> str:
    """About n tokens of text the tokenizer reads back (random ids from its own vocabulary)."""
    import random

    rng = random.Random(seed)
    ids = [rng.randrange(10, len(tokenizer)) for _ in range(n)]
    return tokenizer.decode(ids, skip_special_tokens=True)


def run_rl(ctx, probe) -> int:
    from rapo_lite.data.hygiene import load_training
    from rapo_lite.judges import AnswerQuery, make_judge
    from rapo_lite.rewards import RewardWeights
    from rapo_lite.stages import rl as rl_stage

    recipe, tokenizer = ctx.recipe, ctx.tokenizer
    rl = recipe.rl
    records = load_training(rl.sources, [], recipe.seed, "rl")
    dataset = rl_stage.build_dataset(records, tokenizer, rl.chat_template_kwargs)
    judge = make_judge(rl.judge, ctx.model, tokenizer)

    class SelfJudgedScorer(rl_stage.RolloutScorer):
        """RAPO's reward, after the self-judge has read every completion in full."""

        seen: tuple | None = None

        def score(self, prompts, completions, **columns):
            texts = [rl_stage._text(c) for c in completions]
            if tuple(texts) != self.seen:
                self.seen = tuple(texts)
                self.judge.judge_answers([AnswerQuery(u, t, bool(h), r or None) for u, t, h, r in
                                          zip(columns["user_prompt"], texts, columns["harmful"], columns["reference"])])
            return super().score(prompts, completions, **columns)

    scorer = SelfJudgedScorer(judge, recipe.risk.bands, RewardWeights(*rl.reward_weights))
    vocab = ctx.model.config.get_text_config().vocab_size
    # Every completion at full length, in ids the tokenizer can decode (the embedding is the
    # real vocabulary's size; the tiny tokenizer knows the first few hundred ids).
    forced = {"min_new_tokens": rl.max_completion_length, "suppress_tokens": list(range(len(tokenizer), vocab))}
    original = rl_stage.grpo_args

    def grpo_args(recipe, output_dir):
        args = original(recipe, output_dir)
        args.generation_kwargs = forced
        return args

    rl_stage.grpo_args = grpo_args  # build_trainer looks it up at call time
    rl_stage.build_trainer(ctx, scorer, dataset).train()
    return max(len(tokenizer(p)["input_ids"]) for p in dataset["prompt"])


def run_dpo(ctx, probe) -> int:
    from rapo_lite.stages import ipo as ipo_stage

    tokenizer = ctx.tokenizer
    pairs = [{"prompt": text_of(tokenizer, PROMPT_TOKENS, 3 * i),
              "chosen": text_of(tokenizer, COMPLETION_TOKENS, 3 * i + 1),
              "rejected": text_of(tokenizer, COMPLETION_TOKENS, 3 * i + 2)} for i in range(4)]
    ipo_stage.train(ctx, pairs)
    return PROMPT_TOKENS


def worker(step: str, shape: str, backend: str, work: Path) -> dict:
    if backend == "unsloth":
        import unsloth  # noqa: F401  (before transformers and TRL, which it patches)
    import torch
    import transformers

    from rapo_lite.model import load_model
    from rapo_lite.stages.base import RunContext

    recipe = bench_recipe(step, shape, backend, work)
    transformers.set_seed(recipe.seed)
    model, tokenizer = load_model(recipe.model, recipe.lora, recipe.seed)
    recipe.run_dir.mkdir(parents=True, exist_ok=True)
    probe = StepProbe()
    ctx = RunContext(recipe, recipe.run_dir, model, tokenizer, probe)
    prompt_tokens = (run_rl if step == "rl" else run_dpo)(ctx, probe)
    if len(probe.steps) < 2:
        raise SystemExit(f"expected two logged steps, got {len(probe.steps)}")
    measured = probe.steps[1]  # the first step pays for compilation, caches and the optimizer's state
    return {"step": step, "shape": shape, "backend": backend, "peak": measured["peak"], "seconds": measured["seconds"],
            "first_step_peak": probe.steps[0]["peak"], "prompt_tokens": prompt_tokens,
            "device": torch.cuda.get_device_name(0), "total_memory": torch.cuda.get_device_properties(0).total_memory}


def predicted(result: dict, work: Path) -> tuple[int, int]:
    """The planner's (tensor-only, full) bytes for the step a worker measured."""
    from rapo_lite.model_configs import read_config
    from rapo_lite.planner import Setup, overhead_bytes, plan_recipe, shape_from_config

    shape = shape_from_config(read_config(ROOT / "rapo_lite" / "model_configs" / SHAPES[result["shape"]][0]))
    recipe = bench_recipe(result["step"], result["shape"], result["backend"], work)
    [plan] = plan_recipe(recipe, shape, Setup(prompt_tokens=result["prompt_tokens"], gpu_memory=result["total_memory"]))
    if result["step"] == "rl":  # generation, judging and training all happen in the measured step
        return plan.tensor_bytes, plan.peak_bytes
    # Only DPO's training step runs here, not the stage's pair-building generation.
    [train] = [p for p in plan.phases if p.name == "training step"]
    tensors = sum(t.bytes for t in plan.resident) + train.bytes
    return tensors, tensors + overhead_bytes(tensors)


def table(results: list[dict], work: Path) -> str:
    lines = ["| shape | step | backend | peak allocated (GiB) | planner, tensors (GiB) | planner error | "
             "planner incl. context (GiB) | step time (s) | memory vs stock | time vs stock |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    stock = {(r["shape"], r["step"]): r for r in results if r["backend"] == "stock"}
    for r in results:
        tensors, full = predicted(r, work)
        base = stock.get((r["shape"], r["step"]))
        mem = f"{r['peak'] / base['peak']:.2f}" if base and r is not base else "-"
        secs = f"{r['seconds'] / base['seconds']:.2f}" if base and r is not base else "-"
        lines.append(f"| {r['shape']} | {r['step']} | {r['backend']} | {r['peak'] / GIB:.2f} | {tensors / GIB:.2f} | "
                     f"{(tensors - r['peak']) / r['peak']:+.0%} | {full / GIB:.2f} "
                     f"| {r['seconds']:.1f} | {mem} | {secs} |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    work = Path(args.work_dir)
    import torch

    if not torch.cuda.is_available():
        print("gpu_step.py measures GPU memory and needs a CUDA GPU; none is visible here. "
              "For predictions without a GPU: python train.py plan recipes/qwen3-1.7b-rapo-8gb.yaml --gpu-memory 8GiB",
              file=sys.stderr)
        return 2
    if args.build:
        build_model(args.build, work)
        return 0
    if args.worker:
        step, shape, backend = args.worker
        print(json.dumps(worker(step, shape, backend, work)))
        return 0

    results = []
    for shape in args.shape or list(SHAPES):
        subprocess.run([sys.executable, __file__, "--build", shape, "--work-dir", str(work)], check=True)
        for step in args.step or ["rl", "dpo"]:
            for backend in args.backend or ["stock", "unsloth"]:
                proc = subprocess.run([sys.executable, __file__, "--worker", step, shape, backend,
                                       "--work-dir", str(work)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{shape} {step} {backend}: failed (exit {proc.returncode})"
                          f"\n{proc.stderr[-3000:]}", file=sys.stderr)
                    continue
                results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"{shape} {step} {backend}: {results[-1]['peak'] / GIB:.2f} GiB, {results[-1]['seconds']:.1f} s",
                      file=sys.stderr)
    if results:
        print(f"device: {results[0]['device']}, {results[0]['total_memory'] / GIB:.1f} GiB\n")
        print(table(results, work))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
