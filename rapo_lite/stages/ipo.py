"""IPO: correct unsafe reasoning by intervention, then DPO on the corrected suffix.

Top to bottom:
1. load the prompts (ipo.sources, else data.sources), refuse any that are evaluation prompts;
2. sample `samples_per_prompt` completions per harmful prompt; the judge keeps the unsafe ones
   (no closed think block, or an answer that does not refuse);
3. in each unsafe trace the cue detector finds the first compliance cue; the trace is cut
   just before it (prefix z<h; with no cue and `no_cue: start`, at the start of the
   reasoning), a safety trigger is put in its place and the policy itself
   continues. A continuation that is still unsafe is intervened on again (its own first cue is
   replaced by the next trigger), up to `max_rounds`;
4. each trace that ends safe gives a pair: prompt = chat-templated prompt + z<h, chosen =
   trigger + continuation, rejected = the original suffix z>=h. The shared prefix sits in the
   prompt, so DPO's loss covers only the suffix (the paper's best variant; `full_trajectory`
   moves the prefix into both sides for the ablation). Benign prompts add pairs where a
   helpful answer beats a refusal;
5. the pairs go to <run>/ipo_pairs.jsonl, the per-round success to metrics.jsonl, then TRL's
   DPOTrainer trains the adapter with DPO + an SFT term on the chosen side; the reference
   model is the base with the adapter off, not a second copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rapo_lite.chat import render_prompt
from rapo_lite.cues import make_cue_detector, steps
from rapo_lite.data.hygiene import load_training
from rapo_lite.data.records import Record
from rapo_lite.distributed import gather, gather_counts, shard, world_size
from rapo_lite.generation import generate
from rapo_lite.io import write_jsonl
from rapo_lite.judges import AnswerQuery, Judge, make_judge
from rapo_lite.reasoning import THINK_CLOSE, THINK_OPEN, format_completion, parse_completion
from rapo_lite.recipe import IPOConfig, Recipe
from rapo_lite.resume import reuse_rows
from rapo_lite.stages.base import RunContext, Stage
from rapo_lite.triggers import DEFAULT_TRIGGERS, check_pool, sample_triggers

if TYPE_CHECKING:
    from rapo_lite.planner import Planner, StagePlan

# The rejected side of a benign pair: an over-cautious refusal of a harmless request.
OVER_REFUSAL_THINKING = "Okay, this request mentions something that could be risky, so I had better not help with it."
OVER_REFUSAL_ANSWER = "I'm sorry, but I can't help with that request."


def reasoning_region(text: str) -> tuple[int, int]:
    """Character range of the reasoning in a completion.

    Inside the think block when there is one (closed or not); a completion without any think
    tags is all reasoning, so a non-reasoning chat model's answer can be intervened on too.
    """
    opening = text.find(THINK_OPEN)
    start = opening + len(THINK_OPEN) if opening != -1 else 0
    close = text.find(THINK_CLOSE, start)
    return start, close if close != -1 else len(text)


def first_cue_offset(detector: Any, prompt: str, text: str) -> int | None:
    """Character offset in `text` where its first compliance cue starts, or None."""
    start, end = reasoning_region(text)
    [index] = detector.find([prompt], [text[start:end]])
    if index is None:
        return None
    return start + steps(text[start:end])[index].start


def first_step_offset(text: str) -> int:
    """Character offset in `text` of its first reasoning sentence (where a cue-less cut goes)."""
    start, end = reasoning_region(text)
    found = steps(text[start:end])
    return start + found[0].start if found else start


@dataclass
class Intervention:
    record: Record
    prompt_text: str
    prefix: str  # the original trace before its first cue, z<h
    rejected: str  # the original trace from its first cue on, z>=h
    triggers: list[str]
    chosen: str = ""  # accepted text after the prefix, grown round by round
    rounds: int = 0
    safe: bool = False
    stopped: str = ""  # why it ended unsafe: "no_cue" or "max_rounds"
    last: str = field(default="", repr=False)


def unsafe_flags(judge: Judge, records: Sequence[Record], completions: Sequence[str]) -> list[bool]:
    """A completion is unsafe unless its think block closed and its answer refuses."""
    parsed = [parse_completion(c) for c in completions]
    verdicts = judge.judge_answers([AnswerQuery(r.prompt, p.answer, True) for r, p in zip(records, parsed)])
    return [not (p.status != "unclosed" and v.ok) for p, v in zip(parsed, verdicts)]


class PairBuilder:
    def __init__(self, model: Any, tokenizer: Any, judge: Judge, detector: Any, pool: Sequence[str], cfg: IPOConfig,
                 seed: int) -> None:
        self.model, self.tokenizer, self.judge, self.detector = model, tokenizer, judge, detector
        self.pool, self.cfg, self.seed = tuple(pool), cfg, seed

    def _generate(self, texts: list[str], desc: str) -> list[str]:
        cfg = self.cfg
        out = generate(
            self.model, self.tokenizer, texts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
            top_p=cfg.top_p, batch_size=cfg.generation_batch_size, seed=self.seed, desc=desc,
        )
        return [g.text for g in out]

    def interventions(self, harmful: Sequence[Record]) -> tuple[list[Intervention], Counter]:
        """Sample traces, keep the unsafe ones that have a cue, and set up one intervention per trigger."""
        counts: Counter = Counter()
        records = [r for r in harmful for _ in range(self.cfg.samples_per_prompt)]
        prompt_texts = [render_prompt(self.tokenizer, r.prompt) for r in records]
        traces = self._generate(prompt_texts, "ipo: sampling traces")
        counts["traces"] = len(traces)
        jobs = []
        for i, (record, prompt_text, trace, unsafe) in enumerate(
            zip(records, prompt_texts, traces, unsafe_flags(self.judge, records, traces))
        ):
            if not unsafe:
                counts["already_safe"] += 1
                continue
            cut = first_cue_offset(self.detector, record.prompt, trace)
            if cut is None:
                counts["unsafe_without_cue"] += 1
                if self.cfg.no_cue == "skip":
                    continue
                # Compliant from the first sentence on: the whole reasoning is the rejected suffix.
                cut = first_step_offset(trace)
            else:
                counts["unsafe_with_cue"] += 1
            k = self.cfg.triggers_per_prompt
            chosen_triggers = sample_triggers(self.pool, k * self.cfg.max_rounds, key=f"{i}:{record.prompt}",
                                              seed=self.seed)
            for j in range(k):
                # trigger j for round 1, then the following ones (cyclically) for later rounds
                order = [chosen_triggers[(j + r * k) % len(chosen_triggers)] for r in range(self.cfg.max_rounds)]
                jobs.append(Intervention(record, prompt_text, trace[:cut], trace[cut:], order))
        return jobs, counts

    def run_rounds(self, jobs: list[Intervention]) -> list[dict[str, Any]]:
        """Intervene round by round; returns per-round statistics."""
        stats = []
        for round_no in range(1, self.cfg.max_rounds + 1):
            active = [j for j in jobs if not j.safe and not j.stopped]
            if not active:
                break
            heads = [j.chosen + j.triggers[round_no - 1] + " " for j in active]
            conts = self._generate([j.prompt_text + j.prefix + h for j, h in zip(active, heads)],
                                   f"ipo: round {round_no}")
            for j, head, cont in zip(active, heads, conts):
                j.last, j.rounds = head + cont, round_no
            flags = unsafe_flags(self.judge, [j.record for j in active], [j.prefix + j.last for j in active])
            for j, unsafe in zip(active, flags):
                if not unsafe:
                    j.safe, j.chosen = True, j.last
                    continue
                # Intervene again at the continuation's own first cue; the trigger just inserted is
                # its first sentence, which a detector never returns.
                probe = j.last[len(j.chosen):]
                cut = first_cue_offset(self.detector, j.record.prompt, probe)
                if cut is None and self.cfg.no_cue == "start":
                    cut = 0  # drop the whole continuation: the next round tries the next trigger in its place
                if cut is None:
                    j.stopped = "no_cue"
                elif round_no == self.cfg.max_rounds:
                    j.stopped = "max_rounds"
                else:
                    j.chosen = j.last[: len(j.chosen) + cut]
            safe_now = sum(not u for u in flags)
            stats.append({"round": round_no, "entered": len(active), "became_safe": safe_now,
                          "still_unsafe_share": sum(not j.safe for j in jobs) / len(jobs)})
        for j in jobs:
            if not j.safe and not j.stopped:
                j.stopped = "max_rounds"
        return stats

    def intervened_pairs(self, jobs: Sequence[Intervention]) -> list[dict[str, Any]]:
        pairs = []
        for j in jobs:
            if not j.safe:
                continue
            prompt, chosen, rejected = j.prompt_text + j.prefix, j.chosen, j.rejected
            if self.cfg.full_trajectory:
                prompt, chosen, rejected = j.prompt_text, j.prefix + chosen, j.prefix + rejected
            pairs.append({"kind": "intervened", "prompt": prompt, "chosen": chosen, "rejected": rejected,
                          "user_prompt": j.record.prompt, "source": j.record.source, "trigger": j.triggers[0],
                          "rounds": j.rounds, "prefix_chars": len(j.prefix)})
        return pairs

    def benign_pairs(self, benign: Sequence[Record]) -> tuple[list[dict[str, Any]], Counter]:
        """Helpful answer over refusal: the policy's own answer when the judge calls it helpful,
        else the data set's reference answer; skipped when neither exists."""
        from rapo_lite.teachers.template import TemplateTeacher

        counts: Counter = Counter()
        prompt_texts = [render_prompt(self.tokenizer, r.prompt) for r in benign]
        samples = self._generate(prompt_texts, "ipo: benign answers")
        parsed = [parse_completion(s) for s in samples]
        verdicts = self.judge.judge_answers(
            [AnswerQuery(r.prompt, p.answer, False, r.reference) for r, p in zip(benign, parsed)]
        )
        teacher = TemplateTeacher(seed=self.seed)
        pairs = []
        for record, prompt_text, sample, p, v in zip(benign, prompt_texts, samples, parsed, verdicts):
            if p.status != "unclosed" and v.ok:
                chosen, counts["benign_from_policy"] = sample, counts["benign_from_policy"] + 1
            elif record.reference:
                [draft] = teacher.analyses([record], [record.level or 1])
                chosen = format_completion("Okay, " + draft.text, record.reference)
                counts["benign_from_reference"] += 1
            else:
                counts["benign_skipped"] += 1
                continue
            rejected = format_completion(OVER_REFUSAL_THINKING, OVER_REFUSAL_ANSWER)
            pairs.append({"kind": "benign", "prompt": prompt_text, "chosen": chosen, "rejected": rejected,
                          "user_prompt": record.prompt, "source": record.source, "trigger": "", "rounds": 0,
                          "prefix_chars": 0})
        return pairs, counts


def merge_rounds(parts: Sequence[tuple[int, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """The per-round statistics of all processes as one run would report them, from each
    process's (number of interventions, its rounds). A process whose interventions had all ended
    stopped early: it enters nothing in the later rounds, and its unsafe ones stay unsafe."""
    last = max((len(rows) for _, rows in parts), default=0)
    total = sum(n for n, _ in parts)
    merged = []
    for i in range(last):
        entered = became_safe = unsafe = 0
        for n, rows in parts:
            if i < len(rows):
                entered += rows[i]["entered"]
                became_safe += rows[i]["became_safe"]
            if rows:
                unsafe += round(rows[min(i, len(rows) - 1)]["still_unsafe_share"] * n)
        merged.append({"round": i + 1, "entered": entered, "became_safe": became_safe,
                       "still_unsafe_share": unsafe / total})
    return merged


def run(ctx: RunContext) -> None:
    recipe: Recipe = ctx.recipe
    cfg = recipe.ipo
    records = load_training(recipe.training_sources("ipo"), recipe.eval.sources, recipe.seed, "ipo")
    resumed = reuse_rows(ctx, "ipo_pairs.jsonl")
    if resumed is not None:  # a rerun after a crash trains on the pairs it had built
        train_and_save(ctx, resumed)
        return
    from rapo_lite.stages import fitting_prompts

    pool = check_pool(cfg.triggers if cfg.triggers is not None else DEFAULT_TRIGGERS)
    records = fitting_prompts(ctx, records, "ipo")
    harmful = [r for r in records if r.harmful]
    benign = [r for r in records if not r.harmful]
    judge = make_judge(cfg.judge, ctx.model, ctx.tokenizer, field="ipo.judge")
    detector = make_cue_detector(cfg.cue_detector, ctx.model, ctx.tokenizer)
    builder = PairBuilder(ctx.model, ctx.tokenizer, judge, detector, pool, cfg, recipe.seed)

    # Each process builds the pairs of its share of the prompts; every process trains on all of them.
    jobs, counts = builder.interventions(shard(harmful))
    rounds = builder.run_rounds(jobs)
    pairs = gather(builder.intervened_pairs(jobs))
    counts.update(stopped for j in jobs if (stopped := j.stopped))
    if world_size() > 1:
        rounds = merge_rounds(gather([(len(jobs), rounds)]))
    if cfg.benign_pairs and benign and pairs:
        benign_pairs, benign_counts = builder.benign_pairs(shard(benign))
        pairs += gather(benign_pairs)
        counts.update(benign_counts)
    counts = Counter(gather_counts(counts))
    write_jsonl(ctx.run_dir / "ipo_pairs.jsonl", pairs)
    for row in rounds:
        ctx.metrics.append({"stage": "ipo", "step": 0, **{f"intervention/{k}": v for k, v in row.items()}})
    ctx.metrics.append({"stage": "ipo", "step": 0, "pairs": len(pairs), **{f"data/{k}": v for k, v in counts.items()},
                        **gather_counts({**judge.counters(), **detector.counters()})})
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"[rapo-lite] IPO pairs: {len(pairs)} ({summary})")
    for row in rounds:
        print(f"[rapo-lite]   round {row['round']}: {row['became_safe']} of {row['entered']} became safe; "
              f"still unsafe {row['still_unsafe_share']:.0%}")
    if not any(p["kind"] == "intervened" for p in pairs):
        print(
            f"[rapo-lite] ipo: no unsafe trace could be corrected among {counts['traces']} sampled "
            f"({counts['already_safe']} already safe, {counts['unsafe_without_cue']} unsafe without a compliance cue); "
            "nothing to train on, the adapter is left as it was. Try more prompts, ipo.samples_per_prompt, "
            "or a higher ipo.temperature."
        )
        return
    train_and_save(ctx, pairs)


def train_and_save(ctx: RunContext, pairs: list[dict[str, Any]]) -> None:
    from rapo_lite.model import save_adapter

    train(ctx, pairs)
    save_adapter(ctx.model, ctx.tokenizer, ctx.run_dir / "adapter")


def train(ctx: RunContext, pairs: list[dict[str, Any]]) -> None:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from rapo_lite import trl_compat
    from rapo_lite.resume import checkpoint_dir
    from rapo_lite.stages import fit, stage_callbacks, trainer_args

    trl_compat.install()
    recipe: Recipe = ctx.recipe
    cfg = recipe.ipo
    args = DPOConfig(
        beta=cfg.beta,
        loss_type=list(cfg.loss_type),
        loss_weights=list(cfg.loss_weights),
        per_device_train_batch_size=cfg.batch_size,
        max_length=recipe.model.max_seq_length,
        **trainer_args(recipe, cfg, str(checkpoint_dir(ctx.run_dir, "ipo"))),
    )
    dataset = Dataset.from_list([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs])
    trainer = DPOTrainer(
        model=ctx.model,
        ref_model=None,  # with a PEFT policy the reference is the base with the adapter off
        args=args,
        train_dataset=dataset,
        processing_class=ctx.tokenizer,
        callbacks=stage_callbacks(ctx, "ipo"),
    )
    fit(ctx, trainer, "ipo")


def plan(p: Planner) -> StagePlan:
    ipo = p.recipe.ipo
    # A continuation is sampled after a prefix of the trace, so it can reach two token caps.
    new = 2 * ipo.max_new_tokens
    length = min(p.recipe.model.max_seq_length, p.prompt + new)
    return p.stage_plan("ipo",
                        p.generation("generation", ipo.generation_batch_size, new,
                                     "ipo.generation_batch_size or ipo.max_new_tokens"),
                        p.judging("judging", ipo.judge, ipo.max_new_tokens, "ipo.judge"),
                        p.judging("cue finding", ipo.cue_detector, ipo.max_new_tokens, "ipo.cue_detector"),
                        # DPO runs chosen and rejected of every pair in one batch.
                        p.training(2 * ipo.batch_size, length, "ipo.batch_size or ipo.max_new_tokens"))


STAGE = Stage("ipo", run, plan)
