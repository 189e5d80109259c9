"""Cost per judged item of the RL judges, and how far the option-scoring model judge agrees with people.

    python benchmarks/judges.py --repeats 1 --limit 16      # both parts, as reported
    python benchmarks/judges.py --parts cost --model rapo-lite/tiny-qwen3 --repeats 3
    python benchmarks/judges.py --parts agreement --formats rapo,harmbench --limit 40

Part `cost` (median time per item over --repeats, after one untimed warm-up call: the whole set
for the rule judge, 2 items for a model judge):
- RuleJudge (`rl.judge.kind=rule`): judge_answers on the labelled answers of
  refusal_labels.jsonl and judge_traces on template-teacher analyses of the packaged sample
  prompts (safety-only traces) and on the labelled answers used as traces (many do task work),
  timed per call over the whole set and divided by the number of items.
- ModelJudge (`rl.judge.kind=model`) on each --model, in both modes, one batch of --batch
  answers and one of --batch traces per repeat (traces without a level, so the judge also
  reads the level): `mode=score` (one forward pass per question, reading the option tokens'
  probabilities) and `mode=generate` (greedy replies of up to max_new_tokens, then the tag
  parsers), with the share of verdicts that were readable (`judge.parse_failures`).
- EndpointJudge (`rl.judge.kind=endpoint`): rapo_lite.endpoint.ChatEndpoint against a stub
  OpenAI-compatible server in a thread of this process on 127.0.0.1 that answers at once.
  This is the client's overhead only (JSON, HTTP over loopback, the thread pool), not the
  cost of a real judge model.
- Agreement of `rapo_lite.text.refusal.is_refusal` with the labelled set, per split and kind.

Part `agreement`: the SmolLM2-135M-Instruct model judge in score mode, once per --formats
entry (rapo, harmbench, llamaguard, strongreject), asked whether each answer to a harmful
request is a successful attack, against two human-labelled sets:
- pyrit 1.1.0's `pyrit/datasets/scorer_evals/objective/*.csv` (objective, assistant_response,
  human_score; 1 = objective achieved = attack success);
- rapo_lite/data/judge_corpus/*.jsonl, rows with harmful_prompt true (harm 1 = attack success;
  answers with a `<think>` block are judged on the text after it, as the eval stage does);
  when that folder holds no files the source is skipped.
Each source gives a seeded sample of --limit items, half of each label where there are
enough, and every answer is cut to --max-answer-chars characters to bound the cost of a
forward pass. Reported per format: agreement, balanced accuracy (the mean of the recall of
both classes: 0.5 is chance whatever the class balance), precision and recall of attack
success, the share called successful, and the mean probability mass the option tokens got
(how close the model was to writing one of the options at all). The rule judge and the
constant answers ("always success" / "never") on the same items give the baselines.

Every judge is built with `rapo_lite.judges.make_judge` from the recipe's JudgeConfig, as
the RL stage builds it.
"""

from __future__ import annotations

import argparse
import os
import sys

MODELS = ("rapo-lite/tiny-qwen3", "rapo-lite/smollm2-135m-instruct")
LOAD_AT_START = os.getloadavg()[0]  # 1-minute load average before this script does any work


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="cost,agreement", help="comma-separated: cost, agreement")
    parser.add_argument("--model", action="append", choices=MODELS, help="model(s) for the ModelJudge (default: both)")
    parser.add_argument("--backend", choices=("unsloth", "transformers"), default="unsloth")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed repeats per measurement (the rule judge runs 10x this)")
    parser.add_argument("--batch", type=int, default=8, help="items per ModelJudge / EndpointJudge batch")
    parser.add_argument("--agreement-model", choices=MODELS, default=MODELS[1],
                        help="model judge of the agreement part")
    parser.add_argument("--formats", default="rapo,harmbench,llamaguard,strongreject", help="judge formats to measure")
    parser.add_argument("--limit", type=int, default=16, help="labelled items per source in the agreement part")
    parser.add_argument("--max-answer-chars", type=int, default=800, help="answers are cut to this many characters")
    parser.add_argument("--seed", type=int, default=0, help="seed of the agreement samples")
    return parser.parse_args()


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.backend == "unsloth":
    import unsloth  # noqa: F401  # before transformers/TRL, as train.py's runner wants

import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapo_lite.judges import AnswerQuery, TraceQuery, make_judge  # noqa: E402
from rapo_lite.recipe import EndpointConfig, load_recipe  # noqa: E402

# The labelled answers moved from data/samples/ to data/labels/ while this was written; take either.
LABEL_FILES = (ROOT / "rapo_lite/data/labels/refusal_labels.jsonl",
               ROOT / "rapo_lite/data/samples/refusal_labels.jsonl")
BENIGN_KINDS = {"benign_help", "false_positive_trap"}  # kinds whose prompts are harmless (judged for helpfulness)


def load_labels(wait_s: float = 300.0) -> list[dict]:
    """The labelled set; someone else may be rewriting it, so wait for it a few minutes."""
    deadline = time.monotonic() + wait_s
    while True:
        for path in LABEL_FILES:
            try:
                with open(path, encoding="utf-8") as fh:
                    rows = [json.loads(line) for line in fh if line.strip()]
                if rows:
                    return rows
            except (FileNotFoundError, json.JSONDecodeError):
                continue
        if time.monotonic() > deadline:
            sys.exit(f"no refusal_labels.jsonl at {', '.join(map(str, LABEL_FILES))}")
        time.sleep(10)


# ---------------------------------------------------------------------------- inputs


def answer_queries(labels: list[dict]) -> list[AnswerQuery]:
    return [AnswerQuery(r["prompt"], r["response"], r["kind"] not in BENIGN_KINDS) for r in labels]


def template_traces() -> list[TraceQuery]:
    """Template-teacher safety analyses of the packaged samples, sized for each prompt's level."""
    from rapo_lite.data import load_sources
    from rapo_lite.risk import estimate_level
    from rapo_lite.teachers.template import TemplateTeacher

    teacher = TemplateTeacher()
    records = load_sources([{"name": "samples"}])
    out = []
    for r in records:
        level = estimate_level(r.prompt, r.level)
        out.append(TraceQuery(r.prompt, teacher.analysis(r, level), r.level))
    return out


def task_traces(labels: list[dict]) -> list[TraceQuery]:
    """The labelled answers as if they were the opening of the thinking (lists, code, prose)."""
    return [TraceQuery(r["prompt"], r["response"], None) for r in labels]


# ---------------------------------------------------------------------------- timing


def per_item_us(fn, items: list, repeats: int, warm_up: int | None = None) -> float:
    """Median over repeats of (time of one batch call) / len(items), in microseconds.
    The untimed warm-up call gets the first `warm_up` items (all by default)."""
    fn(items[:warm_up] if warm_up else items)  # warm-up: regex compilation caches, imports, first kernels
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(items)
        runs.append((time.perf_counter() - start) / len(items) * 1e6)
    return statistics.median(runs)


def fmt_time(us: float) -> str:
    if us < 1e3:
        return f"{us:.0f} µs"
    if us < 1e6:
        return f"{us / 1e3:.1f} ms"
    return f"{us / 1e6:.2f} s"


# ---------------------------------------------------------------------------- stub endpoint


def stub_endpoint():
    """tests/http_stub.Server answering every request at once: trace rubrics get
    `<level>1</level> <case>safety_only</case>`, answer rubrics `<score>1</score>`."""
    sys.path.insert(0, str(ROOT / "tests"))
    from http_stub import Server
    from rapo_lite.judges.rubric import TRACE_SYSTEM

    def reply(body):
        trace = body["messages"][0]["content"] == TRACE_SYSTEM
        return ("ok", "<level>1</level> <case>safety_only</case>" if trace else "<score>1</score>", "stop")

    return Server(reply)


# ---------------------------------------------------------------------------- agreement


def agreement(rows: list[dict]) -> dict[str, float | int | None]:
    from rapo_lite.text.refusal import is_refusal

    tp = fp = fn = tn = 0
    for r in rows:
        pred, gold = is_refusal(r["response"]), bool(r["refusal"])
        tp += pred and gold
        fp += pred and not gold
        fn += (not pred) and gold
        tn += (not pred) and not gold
    n = tp + fp + fn + tn
    return {
        "n": n,
        "accuracy": (tp + tn) / n if n else None,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "wrong": fp + fn,
    }


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


# ---------------------------------------------------------------------------- labelled attack answers

CORPUS_DIR = ROOT / "rapo_lite/data/judge_corpus"


def pyrit_items() -> list[tuple[str, str, bool]]:
    """(objective, answer, attack succeeded) from pyrit's human-labelled objective scorer sets."""
    import csv
    from importlib import metadata

    folder = Path(str(metadata.distribution("pyrit").locate_file("pyrit/datasets/scorer_evals/objective")))
    items = []
    for path in sorted(folder.glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            lines = [line for line in fh if not line.startswith("# dataset_version")]
        for row in csv.DictReader(lines):
            score = (row.get("human_score") or "").strip()
            if score in ("0", "1") and row.get("objective") and row.get("assistant_response") is not None:
                items.append((row["objective"], row["assistant_response"], score == "1"))
    return items


def corpus_items() -> list[tuple[str, str, bool]]:
    """(prompt, answer, attack succeeded) for the harmful-prompt rows of the kit's judge corpus."""
    items = []
    for path in sorted(CORPUS_DIR.glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    if r.get("harmful_prompt"):
                        items.append((r["prompt"], r["answer"], bool(r["harm"])))
    return items


def balanced_sample(items: list[tuple[str, str, bool]], limit: int, seed: int) -> list[tuple[str, str, bool]]:
    """Up to limit // 2 items of each label (the rest from the other label when one runs short)."""
    import random

    rng = random.Random(seed)
    pos = [i for i in items if i[2]]
    neg = [i for i in items if not i[2]]
    rng.shuffle(pos)
    rng.shuffle(neg)
    k_pos = min(len(pos), max(limit // 2, limit - len(neg)))
    chosen = pos[:k_pos] + neg[: limit - k_pos]
    rng.shuffle(chosen)
    return chosen


def as_labelled(items: list[tuple[str, str, bool]], max_chars: int) -> list:
    from rapo_lite.judge_check import Labelled
    from rapo_lite.reasoning import parse_completion

    # The text after a think block is what the eval stage judges; cut it to bound a forward pass.
    return [Labelled(n, prompt, parse_completion(answer).answer[:max_chars], label)
            for n, (prompt, answer, label) in enumerate(items, 1)]


def balanced_accuracy(report: dict) -> float | None:
    recalls = [report["per_class"][c]["recall"] for c in ("1", "0")]
    return None if None in recalls else sum(recalls) / 2


def agreement_part(args: argparse.Namespace) -> None:
    from rapo_lite.judge_check import agreement_report, verdicts
    from rapo_lite.model import load_model

    sources = [("pyrit objective/*.csv", pyrit_items())]
    corpus = corpus_items()
    if corpus:
        sources.append(("judge_corpus/*.jsonl (harmful prompts)", corpus))
    else:
        print(f"\n{CORPUS_DIR} holds no *.jsonl: that source is skipped")
    samples = [(name, as_labelled(balanced_sample(items, args.limit, args.seed), args.max_answer_chars), len(items))
               for name, items in sources]

    recipe = load_recipe(str(ROOT / "recipes/tiny.yaml"),
                         [f"model.backend={args.backend}", f"model.name_or_path={args.agreement_model}"])
    model, tokenizer = load_model(recipe.model, recipe.lora, recipe.seed)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    table = []  # source, judge, n, agreement, balanced, precision, recall, called success, option mass, s/item
    for source, items, total in samples:
        n_pos = sum(i.label for i in items)
        for const, name in ((True, "always 'success'"), (False, "always 'safe'")):
            report = agreement_report(items, [const] * len(items))
            table.append((source, name, report, None, None))
        rule = make_judge(dataclasses.replace(recipe.eval.judge, kind="rule"))
        table.append((source, "rule", agreement_report(items, verdicts(rule, items, "harm")), None, None))
        for fmt in formats:
            cfg = dataclasses.replace(recipe.eval.judge, kind="model", mode="score", format=fmt, batch_size=args.batch)
            judge = make_judge(cfg, model, tokenizer, field="eval.judge")
            started = time.perf_counter()
            predicted = verdicts(judge, items, "harm")
            per_item = (time.perf_counter() - started) / len(items)
            assert judge.parse_failures == 0
            table.append((source, f"model, score, format={fmt}", agreement_report(items, predicted),
                          judge.reader.option_mass, per_item))
        print(f"\n{source}: {len(items)} of {total} labelled items ({n_pos} attack successes), answers cut to "
              f"{args.max_answer_chars} characters, seed {args.seed}")
    short = args.agreement_model.split("/")[-1]
    print(f"\nAttack-success verdicts of the {short} judge ({args.backend}, score mode) against the labels:\n")
    print("| source | judge | n | agreement | balanced accuracy | precision (success) | recall (success) "
          "| called success | option mass | time per item |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for source, name, report, mass, per_item in table:
        confusion = report["confusion"]
        called = (confusion["label_1"]["verdict_1"] + confusion["label_0"]["verdict_1"]) / report["n"]
        cells = [source, name, str(report["n"]), fmt_ratio(report["agreement"]), fmt_ratio(balanced_accuracy(report)),
                 fmt_ratio(report["precision"]), fmt_ratio(report["recall"]), f"{called:.0%}",
                 "—" if mass is None else f"{mass:.3f}", "—" if per_item is None else fmt_time(per_item * 1e6)]
        print("| " + " | ".join(cells) + " |")


# ---------------------------------------------------------------------------- main


def main() -> None:
    args = ARGS or _parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"cost", "agreement"}
    if unknown:
        sys.exit(f"--parts: unknown part(s) {', '.join(sorted(unknown))}; known: cost, agreement")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average at the start {LOAD_AT_START:.2f}, backend {args.backend}, repeats {args.repeats}")
    if "cost" in parts:
        started = time.perf_counter()
        cost_part(args)
        print(f"\n(cost part: {time.perf_counter() - started:.0f} s)")
    if "agreement" in parts:
        started = time.perf_counter()
        agreement_part(args)
        print(f"\n(agreement part: {time.perf_counter() - started:.0f} s)")


def cost_part(args: argparse.Namespace) -> None:
    models = args.model or list(MODELS)
    labels = load_labels()
    answers = answer_queries(labels)
    safe_traces = template_traces()
    work_traces = task_traces(labels)
    recipe = load_recipe(str(ROOT / "recipes/tiny.yaml"), [f"model.backend={args.backend}"])
    jcfg = recipe.rl.judge
    rows: list[tuple[str, str, str, str, str]] = []  # judge, method, input, per item, parsed

    # Rule judge: the whole set per call, many repeats (microseconds each).
    rule = make_judge(dataclasses.replace(jcfg, kind="rule"))
    reps = args.repeats * 10
    n_harm = sum(q.harmful for q in answers)
    rows.append(("rule", "judge_answers",
                 f"{len(answers)} labelled answers ({n_harm} harmful prompts: attack_succeeded; "
                 f"{len(answers) - n_harm} benign: is_helpful)",
                 fmt_time(per_item_us(rule.judge_answers, answers, reps)), "100%"))
    rows.append(("rule", "judge_traces", f"{len(safe_traces)} template-teacher analyses (safety-only)",
                 fmt_time(per_item_us(rule.judge_traces, safe_traces, reps)), "100%"))
    rows.append(("rule", "judge_traces", f"{len(work_traces)} labelled answers as traces (task work)",
                 fmt_time(per_item_us(rule.judge_traces, work_traces, reps)), "100%"))

    # Endpoint judge against the in-process stub: client overhead only.
    stub = stub_endpoint()
    try:
        ecfg = dataclasses.replace(jcfg, kind="endpoint", batch_size=args.batch,
                                   endpoint=EndpointConfig(url=stub.url, model="stub", timeout_s=10.0, max_retries=0))
        endpoint = make_judge(ecfg)
        batch_a, batch_t = answers[: args.batch], safe_traces[: args.batch]
        reps_e = args.repeats * 4
        t_a = per_item_us(endpoint.judge_answers, batch_a, reps_e)
        t_t = per_item_us(endpoint.judge_traces, batch_t, reps_e)
        parsed = 1 - endpoint.parse_failures / endpoint.calls
        for method, t in (("judge_answers", t_a), ("judge_traces", t_t)):
            rows.append(("endpoint (stub, client overhead only)", method,
                         f"batches of {args.batch}, {ecfg.batch_size} requests in flight", fmt_time(t),
                         f"{parsed:.0%}"))
    finally:
        stub.close()

    # Model judge: the policy's base weights, batches of `--batch`, in both modes.
    model_traces = [dataclasses.replace(q, level=None) for q in safe_traces[: args.batch]]
    for name in models:
        from rapo_lite.model import load_model

        mrecipe = load_recipe(str(ROOT / "recipes/tiny.yaml"),
                              [f"model.backend={args.backend}", f"model.name_or_path={name}"])
        model, tokenizer = load_model(mrecipe.model, mrecipe.lora, mrecipe.seed)
        short = name.split("/")[-1]
        for mode in ("score", "generate"):
            cfg = dataclasses.replace(mrecipe.rl.judge, kind="model", mode=mode, batch_size=args.batch)
            judge = make_judge(cfg, model, tokenizer)
            # A warm-up of 2 items is enough for a model; the counters include it.
            t_a = per_item_us(judge.judge_answers, answers[: args.batch], args.repeats, warm_up=2)
            parsed_a = 1 - judge.parse_failures / judge.calls
            judge.parse_failures = judge.calls = 0
            t_t = per_item_us(judge.judge_traces, model_traces, args.repeats, warm_up=2)
            parsed_t = 1 - judge.parse_failures / judge.calls
            how = "option scoring, 1 pass per answer, 2 per trace (level, case)" if mode == "score" else (
                f"max_new_tokens={cfg.max_new_tokens}, greedy")
            label = f"model ({short}, {args.backend}, mode={mode})"
            rows.append((label, "judge_answers", f"batch of {args.batch}, {how}", fmt_time(t_a), f"{parsed_a:.0%}"))
            rows.append((label, "judge_traces", f"batch of {args.batch}, {how}", fmt_time(t_t), f"{parsed_t:.0%}"))
        del model, judge

    print()
    print("| judge | method | input | median time per item | replies parsed |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")

    print()
    print(f"Rule judge (`text.refusal.is_refusal`) against {len(labels)} labelled answers:")
    print()
    print("| split | n | accuracy | precision (refusal) | recall (refusal) | wrong |")
    print("|---|---|---|---|---|---|")
    for split in ("dev", "test", "all"):
        sub = [r for r in labels if split == "all" or r["split"] == split]
        a = agreement(sub)
        print(f"| {split} | {a['n']} | {fmt_ratio(a['accuracy'])} | {fmt_ratio(a['precision'])} "
              f"| {fmt_ratio(a['recall'])} | {a['wrong']} |")
    print()
    print("| kind | label | dev: n, accuracy | test: n, accuracy | all: precision | all: recall |")
    print("|---|---|---|---|---|---|")
    kinds = sorted({r["kind"] for r in labels},
                   key=lambda k: (not any(r["refusal"] for r in labels if r["kind"] == k), k))
    for kind in kinds:
        sub = [r for r in labels if r["kind"] == kind]
        gold = sorted({bool(r["refusal"]) for r in sub})
        cells = []
        for split in ("dev", "test"):
            a = agreement([r for r in sub if r["split"] == split])
            cells.append(f"{a['n']}, {fmt_ratio(a['accuracy'])}")
        a = agreement(sub)
        label = "/".join("refusal" if g else "not refusal" for g in gold)
        print(f"| {kind} | {label} | {cells[0]} | {cells[1]} "
              f"| {fmt_ratio(a['precision'])} | {fmt_ratio(a['recall'])} |")


if __name__ == "__main__":
    main()
