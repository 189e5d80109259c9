"""Evaluation stage: the base model and the trained adapter on the same prompts, judged alike.

Top to bottom:
1. load eval.sources (JailbreakBench, StrongREJECT, the over-refusal set, ...);
2. generate greedily with the adapter switched off (the base model) and on (the trained
   policy), as eval.models lists; when nothing was trained in this run, no lora.init_from is
   set and no saved adapter exists, only the base;
3. judge each completion: RAPO's reward case and safety-trace length, whether the answer
   refuses, helps (benign), hands over content, and whether the reasoning shows intent to
   comply (the rule cue detector);
4. write eval/samples.jsonl (every prompt, thinking, answer and verdict), eval/summary.json,
   eval/report.md (the before/after table) and PNG plots: ASR per benchmark, safety-reasoning
   length per risk level against the bands, training curves from metrics.jsonl; print the table.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rapo_lite import utility as mc
from rapo_lite.chat import render_prompt
from rapo_lite.cues import RuleCueDetector
from rapo_lite.data import load_source, load_sources
from rapo_lite.data.records import Record
from rapo_lite.distributed import gather, gather_counts, is_main, shard
from rapo_lite.errors import RapoError
from rapo_lite.evaluation import extract_choice, report_markdown, summarize
from rapo_lite.generation import generate
from rapo_lite.io import atomic_write_text, write_jsonl
from rapo_lite.judges import Judge, make_judge
from rapo_lite.model import load_adapter_weights
from rapo_lite.reasoning import parse_completion
from rapo_lite.recipe import TRAINING_STAGES, JudgeConfig, Recipe
from rapo_lite.rewards import Rollout, rapo_rewards
from rapo_lite.risk import estimate_level
from rapo_lite.stages.base import RunContext, Stage
from rapo_lite.text.refusal import gives_content, is_refusal

if TYPE_CHECKING:
    from rapo_lite.planner import Planner, StagePlan


def judge_samples(
    records: Sequence[Record], completions: Sequence[str], model_name: str, judge: Judge, recipe: Recipe
) -> list[dict[str, Any]]:
    scores = rapo_rewards(
        [Rollout(r.prompt, c, r.harmful, r.level, r.reference) for r, c in zip(records, completions)],
        judge,
        recipe.risk.bands,
    )
    cues = RuleCueDetector()
    samples = []
    for record, text, score in zip(records, completions, scores):
        parsed = parse_completion(text)
        # G's verdict (safe / helped); an unclosed think block has no answer, which rapo_rewards scores as neither
        verdict = None if not score.answer_judged else score.general > 0
        refused = score.refused if score.refused is not None else is_refusal(parsed.answer)
        reasoning_harmful = None
        if record.harmful and parsed.thinking:
            reasoning_harmful = cues.find([record.prompt], [parsed.thinking])[0] is not None
        samples.append(
            {
                "model": model_name,
                "benchmark": record.source,
                "level": estimate_level(record.prompt, record.level),
                "harmful": record.harmful,
                "prompt": record.prompt,
                "thinking": parsed.thinking,
                "answer": parsed.answer,
                "think": parsed.status,
                "attack_success": (None if verdict is None else not verdict) if record.harmful else None,
                "refused": refused,
                "helpful": None if record.harmful else verdict,
                "gives_content": gives_content(parsed.answer),
                "reasoning_harmful": reasoning_harmful,
                "case": score.case,
                "sentences": score.sentences,
            }
        )
    return samples


def judge_description(cfg: JudgeConfig) -> str:
    """The judge as the report names it: kind, and for model/endpoint judges the format and mode."""
    if cfg.kind == "rule":
        return "rule"
    mode = cfg.mode or ("score" if cfg.kind == "model" else "generate")
    return f"{cfg.kind} ({cfg.format} format, {mode} mode)"


def as_model(model: Any, name: str) -> Any:
    """The policy as the named evaluated model: 'base' switches the adapter off for the block."""
    return model.disable_adapter() if name == "base" else contextlib.nullcontext()


def utility(ctx: RunContext, recipe: Recipe, model_names: list[str], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """MMLU multiple choice per evaluated model, as eval.utility_mode says.

    loglik (default): the option letter the model finds most likely after lm-eval's MMLU context
    (`rapo_lite.utility`; plain text, no chat template, as lm-eval scores MMLU by default); cloze:
    the option whose own text is most likely per character (acc_norm); each row keeps the
    log-likelihood of every option. generate: the letter read from a greedy answer
    after the think block (`extract_choice`); a small model rarely writes one, so sits at chance.
    """
    # this process's share of the questions; each model's rows are gathered back in question order
    questions = shard(load_source("mmlu", count=recipe.eval.utility_count, seed=recipe.seed))
    rows: list[dict[str, Any]] = []
    if recipe.eval.utility_mode in ("loglik", "cloze"):
        cloze = recipe.eval.utility_mode == "cloze"
        parsed = [mc.parse_mmlu_prompt(q.prompt, q.category, q.reference) for q in questions]
        for name in model_names:
            with as_model(ctx.model, name):
                scores = mc.score(ctx.model, ctx.tokenizer, parsed, "options" if cloze else "letters",
                                  batch_size=recipe.eval.batch_size, max_length=recipe.model.max_seq_length,
                                  desc=f"eval: MMLU {recipe.eval.utility_mode} ({name})")
            mine = []
            for q, s in zip(questions, scores):
                choice = s.choice_norm if cloze else s.choice
                mine.append({"model": name, "topic": q.category, "prompt": q.prompt, "choice": choice,
                             "reference": q.reference, "correct": choice == q.reference,
                             "loglik": {c: mc.finite(ll) for c, ll in zip(mc.MMLU_CHOICES, s.logliks)},
                             **({"chars": dict(zip(mc.MMLU_CHOICES, s.lengths))} if cloze else {})})
            rows += gather(mine)
        return rows
    prompts = [render_prompt(ctx.tokenizer, q.prompt, **recipe.eval.chat_template_kwargs) for q in questions]
    for name in model_names:
        with as_model(ctx.model, name):
            outs = generate(ctx.model, ctx.tokenizer, prompts, desc=f"eval: MMLU ({name})", **settings)
        mine = []
        for q, g in zip(questions, outs):
            choice = extract_choice(parse_completion(g.text).answer)
            mine.append({"model": name, "topic": q.category, "prompt": q.prompt, "output": g.text,
                         "choice": choice, "reference": q.reference, "correct": choice == q.reference})
        rows += gather(mine)
    return rows


def run(ctx: RunContext) -> None:
    recipe: Recipe = ctx.recipe
    cfg = recipe.eval
    started = time.perf_counter()
    records = load_sources(cfg.sources, seed=recipe.seed)
    trained_here = any(s in TRAINING_STAGES for s in recipe.stages[: recipe.stages.index("eval")])
    has_adapter = trained_here or bool(recipe.lora.init_from) or load_adapter_weights(
        ctx.model, ctx.run_dir / "adapter", f"eval: the saved adapter in {ctx.run_dir}", required=False)
    names = [m for m in cfg.models if m == "base" or has_adapter]
    if not names:
        raise RapoError("eval.models: only the trained model was asked for, but no training stage ran, lora.init_from "
                        f"is not set and {ctx.run_dir / 'adapter'} does not exist")
    if "trained" in cfg.models and not has_adapter:
        print("[rapo-lite] eval: no training stage ran and no saved adapter was found; evaluating the base model only")
    judge = make_judge(cfg.judge, ctx.model, ctx.tokenizer, field="eval.judge")
    judge_label = judge_description(cfg.judge)
    share = shard(records)  # this process's share; each model's verdicts are gathered back in prompt order
    prompts = [render_prompt(ctx.tokenizer, r.prompt, **cfg.chat_template_kwargs) for r in share]
    settings = dict(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                    batch_size=cfg.batch_size, seed=recipe.seed)

    samples: list[dict[str, Any]] = []
    for name in names:
        with as_model(ctx.model, name):
            outs = generate(ctx.model, ctx.tokenizer, prompts, desc=f"eval: {name}", **settings)
        samples += gather(judge_samples(share, [g.text for g in outs], name, judge, recipe))
    if cfg.utility_count:
        utility_samples = utility(ctx, recipe, names, settings)
    judged = gather_counts(judge.counters())
    if not is_main():
        return  # the main process has every process's samples and writes the evaluation

    out = ctx.run_dir / "eval"
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "samples.jsonl", samples)
    models = summarize(samples)
    if cfg.utility_count:
        write_jsonl(out / "utility_samples.jsonl", utility_samples)
        for name in models:
            mine = [u["correct"] for u in utility_samples if u["model"] == name]
            models[name]["utility"] = sum(mine) / len(mine)
            models[name]["utility_mode"] = cfg.utility_mode
    summary = {"models": models, "judge": judge.name, "judge_setup": judge_label, **judged,
               "prompts": len(records),
               "generation": settings}
    if cfg.utility_count:
        summary["utility_mode"] = cfg.utility_mode
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    from rapo_lite import plots
    from rapo_lite.io import read_jsonl

    figures = [plots.asr_bars(summary["models"], out / "asr.png"),
               plots.reasoning_length(summary["models"], recipe.risk.bands, out / "reasoning_length.png")]
    metrics_path = ctx.run_dir / "metrics.jsonl"
    curves = plots.training_curves(read_jsonl(metrics_path) if metrics_path.is_file() else [], out / "training.png")
    figures += [curves] if curves else []
    report = report_markdown(summary["models"], f"Evaluation of {recipe.run_name} "
                                                f"({recipe.model.name_or_path}, judge: {judge_label})")
    report += "\n" + "\n".join(f"![{f.stem}]({f.name})" for f in figures) + "\n"
    atomic_write_text(out / "report.md", report)
    ctx.metrics.append({"stage": "eval", "step": 0,
                        **{f"eval/{m}/asr": v["asr"]["all"] for m, v in summary["models"].items()}})
    print(report)
    print(f"[rapo-lite] eval: {len(records)} prompts x {len(models)} model(s) "
          f"in {time.perf_counter() - started:.1f} s; written to {out}")


def plan(p: Planner) -> StagePlan:
    ev = p.recipe.eval
    return p.stage_plan("eval",
                        p.generation("generation", ev.batch_size, ev.max_new_tokens,
                                     "eval.batch_size or eval.max_new_tokens"),
                        p.judging("judging", ev.judge, ev.max_new_tokens, "eval.judge"))


STAGE = Stage("eval", run, plan)
