"""SFT warm-up: teach the format of adaptive safety reasoning before RL (RAPO stage 1).

Top to bottom:
1. load the training prompts and give each a risk level (the data set's, else estimated);
2. a teacher writes a safety analysis whose length fits the level (pass 1); analyses that
   were cut off or are too short are dropped and counted;
3. the completion is `<think>` + "Okay, " + analysis + a blank line + a continuation: the
   teacher's own, or the policy's, sampled from that pre-fill (pass 2); continuations that
   never close the think block are dropped and counted;
4. SFT with TRL's SFTTrainer on prompt -> completion, loss on the completion only;
5. the adapter is saved to <run>/adapter.
A resumed stage (a rerun after a crash) trains on the sft_data.jsonl it wrote before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rapo_lite.chat import render_prompt, strip_template_think_open
from rapo_lite.data.hygiene import load_training
from rapo_lite.data.records import Record
from rapo_lite.distributed import gather, gather_counts, shard
from rapo_lite.errors import RapoError
from rapo_lite.generation import generate
from rapo_lite.io import write_jsonl
from rapo_lite.levels import band_for
from rapo_lite.reasoning import THINK_CLOSE, analysis_prefill, complete_sentences, count_sentences
from rapo_lite.recipe import Recipe
from rapo_lite.resume import reuse_rows
from rapo_lite.risk import estimate_level
from rapo_lite.stages.base import RunContext, Stage
from rapo_lite.teachers import Teacher, make_teacher

if TYPE_CHECKING:
    from rapo_lite.planner import Planner, StagePlan


def run(ctx: RunContext) -> None:
    recipe: Recipe = ctx.recipe
    records = load_training(recipe.training_sources("sft"), recipe.eval.sources, recipe.seed, "sft")
    examples = reuse_rows(ctx, "sft_data.jsonl")
    if examples is None:
        examples = prepare(ctx, records)
    train(ctx, examples)
    from rapo_lite.model import save_adapter, save_merged_16bit

    adapter_dir = save_adapter(ctx.model, ctx.tokenizer, ctx.run_dir / "adapter")
    if recipe.sft.save_merged_16bit:
        save_merged_16bit(recipe.model, adapter_dir, ctx.run_dir / "merged_16bit")


def prepare(ctx: RunContext, records: list[Record]) -> list[dict[str, Any]]:
    """Write the warm-up examples to sft_data.jsonl and their counts to metrics.jsonl."""
    from rapo_lite.stages import fitting_prompts

    recipe: Recipe = ctx.recipe
    records = fitting_prompts(ctx, records, "sft")
    teacher = make_teacher(recipe.sft.teacher, recipe.risk.bands, recipe.sft, recipe.seed, ctx.model, ctx.tokenizer)
    # each process writes the examples of its share of the prompts; every process trains on all of them
    examples, dropped = build_examples(shard(records), teacher, ctx.model, ctx.tokenizer, recipe)
    examples, dropped = gather(examples), Counter(gather_counts(dropped))
    write_jsonl(ctx.run_dir / "sft_data.jsonl", examples)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "none"
    print(f"[rapo-lite] warm-up data: kept {len(examples)} of {len(records)} (dropped: {summary})")
    ctx.metrics.append({"stage": "sft", "step": 0, "data/prompts": len(records), "data/kept": len(examples),
                        **{f"data/dropped_{k}": v for k, v in dropped.items()}})
    if not examples:
        raise RapoError(
            f"sft: every warm-up example was dropped ({summary}); a model this small may not follow the analyst "
            "instruction: try sft.teacher=template, or raise sft.analysis_max_new_tokens"
        )
    return examples


def build_examples(
    records: Sequence[Record], teacher: Teacher, model: Any, tokenizer: Any, recipe: Recipe
) -> tuple[list[dict[str, Any]], Counter]:
    """Warm-up examples (prompt text, completion and bookkeeping) and the drop reasons counted."""
    sft, bands = recipe.sft, recipe.risk.bands
    levels = [estimate_level(r.prompt, r.level) for r in records]
    dropped: Counter = Counter()
    kept: list[tuple[Record, int, str]] = []
    for record, level, draft in zip(records, levels, teacher.analyses(records, levels)):
        if draft.truncated:
            dropped["analysis_cut_off"] += 1
        elif len(draft.text) < sft.min_analysis_chars:
            dropped["analysis_too_short"] += 1
        else:
            kept.append((record, level, draft.text))

    prompt_texts = [render_prompt(tokenizer, r.prompt) for r, _, _ in kept]
    prefills = [analysis_prefill(text) for _, _, text in kept]
    own = _own_answers(kept, prompt_texts, model, tokenizer, recipe, dropped) if sft.benign_answers == "policy" else {}
    endings: list[str | None] = [teacher.continuation(r, own.get(i)) for i, (r, _, _) in enumerate(kept)]
    todo = [i for i, end in enumerate(endings) if end is None]
    sampled = generate(
        model,
        tokenizer,
        [prompt_texts[i] + prefills[i] for i in todo],
        max_new_tokens=sft.continuation_max_new_tokens,
        temperature=sft.temperature,
        top_p=sft.top_p,
        batch_size=sft.generation_batch_size,
        seed=recipe.seed,
        desc="continuations (policy)",
    )
    for i, gen in zip(todo, sampled):
        if gen.hit_cap:
            dropped["continuation_cut_off"] += 1
        elif THINK_CLOSE not in gen.text:
            dropped["continuation_unclosed"] += 1
        else:
            endings[i] = gen.text

    examples = []
    for (record, level, analysis), prompt_text, prefill, ending in zip(kept, prompt_texts, prefills, endings):
        if ending is None:
            continue
        examples.append(
            {
                "prompt": prompt_text,
                "completion": strip_template_think_open(prompt_text, prefill + ending),
                "user_prompt": record.prompt,
                "harmful": record.harmful,
                "level": level,
                "source": record.source,
                "analysis_sentences": count_sentences(analysis),
                "band": str(band_for(level, bands)),
                "teacher": teacher.name,
            }
        )
    return examples, dropped


def _own_answers(
    kept: Sequence[tuple[Record, int, str]], prompt_texts: Sequence[str], model: Any, tokenizer: Any, recipe: Recipe,
    dropped: Counter,
) -> dict[int, str]:
    """The policy's greedy answers to the plain benign prompts, by index into `kept`.

    An answer cut off by the token cap keeps its complete sentences; one with none left is
    counted and left out, so its prompt falls back to the reference (or is dropped).
    """
    todo = [i for i, (r, _, _) in enumerate(kept) if not r.harmful]
    outs = generate(model, tokenizer, [prompt_texts[i] for i in todo],
                    max_new_tokens=recipe.sft.continuation_max_new_tokens,
                    batch_size=recipe.sft.generation_batch_size, seed=recipe.seed, desc="benign answers (policy)")
    answers = {}
    for i, gen in zip(todo, outs):
        text = complete_sentences(gen.text) if gen.hit_cap else gen.text.strip()
        if text:
            answers[i] = text
        else:
            dropped["own_answer_cut_off"] += 1
    return answers


def train(ctx: RunContext, examples: list[dict[str, Any]]) -> None:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from rapo_lite import trl_compat
    from rapo_lite.resume import checkpoint_dir
    from rapo_lite.stages import fit, stage_callbacks, trainer_args

    trl_compat.install()

    recipe: Recipe = ctx.recipe
    args = SFTConfig(
        per_device_train_batch_size=recipe.sft.batch_size,
        max_length=recipe.model.max_seq_length,
        completion_only_loss=True,
        packing=False,
        # Batches of similar length: random batches of warm-up examples pad about 40% of their tokens.
        train_sampling_strategy="group_by_length",
        **trainer_args(recipe, recipe.sft, str(checkpoint_dir(ctx.run_dir, "sft"))),
    )
    dataset = Dataset.from_list([{"prompt": e["prompt"], "completion": e["completion"]} for e in examples])
    trainer = SFTTrainer(
        model=ctx.model,
        args=args,
        train_dataset=dataset,
        processing_class=ctx.tokenizer,
        callbacks=stage_callbacks(ctx, "sft"),
    )
    fit(ctx, trainer, "sft")


def plan(p: Planner) -> StagePlan:
    sft = p.recipe.sft
    # pass 2 samples the continuation after the pass-1 analysis, so one sequence holds both
    new = sft.analysis_max_new_tokens + sft.continuation_max_new_tokens
    length = min(p.recipe.model.max_seq_length, p.prompt + new)
    return p.stage_plan("sft",
                        p.generation("generation", sft.generation_batch_size, new,
                                     "sft.generation_batch_size or sft.continuation_max_new_tokens"),
                        p.training(sft.batch_size, length, "sft.batch_size or model.max_seq_length"))


STAGE = Stage("sft", run, plan)
