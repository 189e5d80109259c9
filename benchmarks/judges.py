"""Cost per judged item of the three RL judges, and the rule judge's agreement with labels.

    python benchmarks/judges.py --repeats 5
    python benchmarks/judges.py --model rapo-lite/tiny-qwen3 --repeats 3

- RuleJudge (`rl.judge.kind=rule`): judge_answers on the labelled answers of
  refusal_labels.jsonl and judge_traces on template-teacher analyses of the packaged sample
  prompts (safety-only traces) and on the labelled answers used as traces (many do task work),
  timed per call over the whole set and divided by the number of items.
- ModelJudge (`rl.judge.kind=model`): the loaded LoRA policy with its adapter switched off,
  one batch of 8 answers and one batch of 8 traces per repeat (a warm-up batch first, not
  timed), plus the share of its replies that parsed (`judge.parse_failures`).
- EndpointJudge (`rl.judge.kind=endpoint`): rapo_lite.endpoint.ChatEndpoint against a stub
  OpenAI-compatible server in a thread of this process on 127.0.0.1 that answers at once.
  This is the client's overhead only (JSON, HTTP over loopback, the thread pool), not the
  cost of a real judge model.
- Agreement of `signals.is_refusal` with the labelled set, per split and per kind.

Every judge is built with `rapo_lite.judges.make_judge` from the recipe's JudgeConfig, as
the RL stage builds it. Times are medians over --repeats.
"""

from __future__ import annotations

import argparse
import os
import sys

MODELS = ("rapo-lite/tiny-qwen3", "rapo-lite/smollm2-135m-instruct")
LOAD_AT_START = os.getloadavg()[0]  # 1-minute load average before this script does any work


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", action="append", choices=MODELS, help="model(s) for the ModelJudge (default: both)")
    parser.add_argument("--backend", choices=("unsloth", "transformers"), default="unsloth")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (the rule judge runs 10x this)")
    parser.add_argument("--batch", type=int, default=8, help="items per ModelJudge / EndpointJudge batch")
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
LABEL_FILES = (ROOT / "rapo_lite/data/labels/refusal_labels.jsonl", ROOT / "rapo_lite/data/samples/refusal_labels.jsonl")
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


def per_item_us(fn, items: list, repeats: int) -> float:
    """Median over repeats of (time of one batch call) / len(items), in microseconds."""
    fn(items)  # warm-up: regex compilation caches, imports
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


# ---------------------------------------------------------------------------- main


def main() -> None:
    args = ARGS or _parse_args()
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
    rows.append(("rule", "judge_answers", f"{len(answers)} labelled answers ({n_harm} harmful prompts: is_refusal; "
                 f"{len(answers) - n_harm} benign: is_helpful)", fmt_time(per_item_us(rule.judge_answers, answers, reps)), "100%"))
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
                         f"batches of {args.batch}, {ecfg.batch_size} requests in flight", fmt_time(t), f"{parsed:.0%}"))
    finally:
        stub.close()

    # Model judge: the policy's base weights, batches of `--batch`.
    for name in models:
        from rapo_lite.model import load_model

        mrecipe = load_recipe(str(ROOT / "recipes/tiny.yaml"), [f"model.backend={args.backend}", f"model.name_or_path={name}"])
        model, tokenizer = load_model(mrecipe.model, mrecipe.lora, mrecipe.seed)
        judge = make_judge(dataclasses.replace(mrecipe.rl.judge, kind="model", batch_size=args.batch), model, tokenizer)
        batch_a, batch_t = answers[: args.batch], safe_traces[: args.batch]
        t_a = per_item_us(judge.judge_answers, batch_a, args.repeats)  # counters include its warm-up call
        parsed_a = 1 - judge.parse_failures / judge.calls
        judge.parse_failures = judge.calls = 0
        t_t = per_item_us(judge.judge_traces, batch_t, args.repeats)
        parsed_t = 1 - judge.parse_failures / judge.calls
        short = name.split("/")[-1]
        cap = f"max_new_tokens={mrecipe.rl.judge.max_new_tokens}, greedy"
        rows.append((f"model ({short}, {args.backend})", "judge_answers", f"batch of {args.batch}, {cap}", fmt_time(t_a), f"{parsed_a:.0%}"))
        rows.append((f"model ({short}, {args.backend})", "judge_traces", f"batch of {args.batch}, {cap}", fmt_time(t_t), f"{parsed_t:.0%}"))
        del model, judge

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average at the start {LOAD_AT_START:.2f}, "
          f"backend {args.backend}, repeats {args.repeats}")
    print()
    print("| judge | method | input | median time per item | replies parsed |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")

    print()
    print(f"Rule judge (`signals.is_refusal`) against {len(labels)} labelled answers:")
    print()
    print("| split | n | accuracy | precision (refusal) | recall (refusal) | wrong |")
    print("|---|---|---|---|---|---|")
    for split in ("dev", "test", "all"):
        sub = [r for r in labels if split == "all" or r["split"] == split]
        a = agreement(sub)
        print(f"| {split} | {a['n']} | {fmt_ratio(a['accuracy'])} | {fmt_ratio(a['precision'])} | {fmt_ratio(a['recall'])} | {a['wrong']} |")
    print()
    print("| kind | label | dev: n, accuracy | test: n, accuracy | all: precision | all: recall |")
    print("|---|---|---|---|---|---|")
    kinds = sorted({r["kind"] for r in labels}, key=lambda k: (not any(r["refusal"] for r in labels if r["kind"] == k), k))
    for kind in kinds:
        sub = [r for r in labels if r["kind"] == kind]
        gold = sorted({bool(r["refusal"]) for r in sub})
        cells = []
        for split in ("dev", "test"):
            a = agreement([r for r in sub if r["split"] == split])
            cells.append(f"{a['n']}, {fmt_ratio(a['accuracy'])}")
        a = agreement(sub)
        label = "/".join("refusal" if g else "not refusal" for g in gold)
        print(f"| {kind} | {label} | {cells[0]} | {cells[1]} | {fmt_ratio(a['precision'])} | {fmt_ratio(a['recall'])} |")


if __name__ == "__main__":
    main()
