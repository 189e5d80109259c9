"""`train.py judge-check FILE`: how far to trust a judge, measured on answers people labelled.

Top to bottom:
1. read FILE (.csv, .tsv or .jsonl) with columns `prompt`, `answer`, `label` (0/1 or
   true/false); any error is one line naming the file, the row and what is accepted;
2. build the judge from recipe-style overrides (`judge.kind=model judge.format=harmbench
   model.name_or_path=...`; the default is the rule judge, which loads no model);
3. ask it exactly what the eval stage and the RL reward ask:
   - task `harm`: label 1 = the answer is a successful attack (on topic and harmful help);
     the verdict is the eval stage's ASR verdict, `not judge_answers(harmful=True).ok`;
   - task `refusal`: label 1 = the answer refuses or does not do what was asked; the verdict
     is `not judge_answers(harmful=False).ok`, the helpfulness verdict behind compliance;
4. print n, agreement, precision and recall per class, the confusion matrix and up to ten
   disagreements; `--json` adds one JSON object as the last line of stdout.

An answer holding a `<think>` block is judged on the text after it, as the eval stage does.
A verdict the judge could not give (an unreadable reply) counts as a disagreement.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rapo_lite.errors import RapoError
from rapo_lite.judges import AnswerQuery, Judge
from rapo_lite.reasoning import parse_completion

Task = Literal["harm", "refusal"]
TASKS: tuple[str, ...] = ("harm", "refusal")
COLUMNS = ("prompt", "answer", "label")
SHOWN_DISAGREEMENTS = 10
_TRUE = ("1", "true")
_FALSE = ("0", "false")


@dataclass(frozen=True)
class Labelled:
    row: int  # line number in the file (the CSV/TSV header is line 1)
    prompt: str
    answer: str
    label: bool


def _parse_label(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, (str, int, float)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RapoError(f"{where}: label {value!r} is not a label; accepted: 0, 1, true, false")


def _rows_from_table(path: Path, text: str, delimiter: str) -> list[tuple[int, dict[str, object]]]:
    lines = text.splitlines(keepends=True)
    skipped = 0
    while skipped < len(lines) and (lines[skipped].startswith("#") or not lines[skipped].strip()):
        skipped += 1  # comment lines above the header, as some published label files carry
    reader = csv.DictReader(io.StringIO("".join(lines[skipped:])), delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        found = ", ".join(header) if header else "none"
        raise RapoError(f"{path}: missing column(s) {', '.join(missing)}; the file needs the columns "
                        f"{', '.join(COLUMNS)} (found: {found})")
    reader.fieldnames = header
    rows = []
    for record in reader:
        line = skipped + reader.line_num  # csv counts the header as line 1 of what it read
        rows.append((line, dict(record)))
    return rows


def _rows_from_jsonl(path: Path, text: str) -> list[tuple[int, dict[str, object]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise RapoError(f"{path}, line {number}: not valid JSON ({err.msg}); each line must be one object "
                            f"with {', '.join(COLUMNS)}") from None
        if not isinstance(record, dict):
            raise RapoError(f"{path}, line {number}: expected a JSON object with {', '.join(COLUMNS)}, "
                            f"got {type(record).__name__}")
        missing = [c for c in COLUMNS if c not in record]
        if missing:
            raise RapoError(f"{path}, line {number}: missing field(s) {', '.join(missing)}; each line needs "
                            f"{', '.join(COLUMNS)}")
        rows.append((number, record))
    return rows


def read_labelled(path: str | Path) -> list[Labelled]:
    """The labelled answers of a .csv, .tsv or .jsonl file; RapoError names the file and row of any fault."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl"):
        raise RapoError(f"{p}: unknown file type {suffix or '(none)'!r}; accepted: .csv, .tsv, .jsonl")
    if not p.is_file():
        raise RapoError(f"{p}: no such file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RapoError(f"{p}, line {line}: not UTF-8 text (byte {err.start}); save the file as UTF-8") from None
    if suffix == ".jsonl":
        rows = _rows_from_jsonl(p, text)
    else:
        rows = _rows_from_table(p, text, "," if suffix == ".csv" else "\t")
    items = []
    for line, record in rows:
        where = f"{p}, line {line}"
        for column in ("prompt", "answer"):
            if not isinstance(record.get(column), str):
                raise RapoError(f"{where}: {column} must be text, got {record.get(column)!r}")
        items.append(Labelled(line, str(record["prompt"]), str(record["answer"]), _parse_label(record["label"], where)))
    if not items:
        raise RapoError(f"{p}: no labelled rows; the file needs the columns {', '.join(COLUMNS)} and at least one row")
    return items


def verdicts(judge: Judge, items: Sequence[Labelled], task: Task) -> list[bool | None]:
    """The judge's answer to the task's question per item: True = label 1; None = unreadable."""
    harmful = task == "harm"
    queries = [AnswerQuery(i.prompt, parse_completion(i.answer).answer, harmful=harmful) for i in items]
    return [None if v.ok is None else not v.ok for v in judge.judge_answers(queries)]


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def agreement_report(items: Sequence[Labelled], predicted: Sequence[bool | None]) -> dict[str, object]:
    """n, agreement, per-class precision/recall and the confusion matrix (rows: label, columns: verdict)."""
    pairs = list(zip((i.label for i in items), predicted))
    count = {(g, p): sum(1 for gold, pred in pairs if gold is g and pred is p)
             for g in (True, False) for p in (True, False)}
    unreadable = sum(1 for _, p in pairs if p is None)
    correct = count[(True, True)] + count[(False, False)]
    per_class = {}
    for cls, name in ((True, "1"), (False, "0")):
        predicted_cls = count[(True, cls)] + count[(False, cls)]
        labelled_cls = sum(1 for gold, _ in pairs if gold is cls)
        per_class[name] = {"precision": _ratio(count[(cls, cls)], predicted_cls),
                           "recall": _ratio(count[(cls, cls)], labelled_cls), "n": labelled_cls}
    return {
        "n": len(pairs),
        "agreement": _ratio(correct, len(pairs)),
        "precision": per_class["1"]["precision"],
        "recall": per_class["1"]["recall"],
        "per_class": per_class,
        "confusion": {"label_1": {"verdict_1": count[(True, True)], "verdict_0": count[(True, False)]},
                      "label_0": {"verdict_1": count[(False, True)], "verdict_0": count[(False, False)]}},
        "unreadable": unreadable,
    }


def disagreements(items: Sequence[Labelled], predicted: Sequence[bool | None],
                  limit: int = SHOWN_DISAGREEMENTS) -> list[tuple[Labelled, bool | None]]:
    """Up to `limit` items the judge got wrong, missed and false verdicts taken in turn."""
    missed = [(i, p) for i, p in zip(items, predicted) if i.label and p is not True]
    false = [(i, p) for i, p in zip(items, predicted) if not i.label and p is not False]
    shown: list[tuple[Labelled, bool | None]] = []
    while len(shown) < limit and (missed or false):
        for group in (missed, false):
            if group and len(shown) < limit:
                shown.append(group.pop(0))
    return shown


def _pct(value: object) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def _clip(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def render(report: dict[str, object], items: Sequence[Labelled], predicted: Sequence[bool | None], task: Task,
           judge_name: str, path: str | Path) -> str:
    meaning = "successful attack (on topic, harmful help)" if task == "harm" else "refuses / does not do what was asked"
    conf = report["confusion"]
    per_class = report["per_class"]
    lines = [
        f"judge-check: {judge_name} judge on {path}, task {task} (label 1 = {meaning})",
        f"n {report['n']}   agreement {_pct(report['agreement'])}   unreadable verdicts {report['unreadable']}",
        "",
        "| class | n | precision | recall |",
        "|---|---|---|---|",
        *(f"| {c} | {per_class[c]['n']} | {_pct(per_class[c]['precision'])} | {_pct(per_class[c]['recall'])} |"
          for c in ("1", "0")),
        "",
        "| | verdict 1 | verdict 0 |",
        "|---|---|---|",
        f"| label 1 | {conf['label_1']['verdict_1']} | {conf['label_1']['verdict_0']} |",
        f"| label 0 | {conf['label_0']['verdict_1']} | {conf['label_0']['verdict_0']} |",
    ]
    shown = disagreements(items, predicted)
    if shown:
        lines += ["", f"Disagreements ({len(shown)} shown):"]
        for item, verdict in shown:
            said = "unreadable" if verdict is None else str(int(verdict))
            lines.append(f"- line {item.row}: label {int(item.label)}, verdict {said} "
                         f"| prompt: {_clip(item.prompt, 70)} "
                         f"| answer: {_clip(item.answer, 110)}")
    return "\n".join(lines)


def judge_overrides(overrides: Sequence[str]) -> list[str]:
    """Recipe overrides for judge-check: `judge.X=...` sets eval.judge.X; model.* and lora.* pass through."""
    out = ["stages=[eval]", "eval.sources=[{name: samples, count: 1}]"]
    for assignment in overrides:
        key = assignment.split("=", 1)[0].strip()
        if key.startswith("judge."):
            out.append("eval." + assignment.strip())
        elif key.split(".", 1)[0] in ("model", "lora", "seed"):
            out.append(assignment)
        else:
            raise RapoError(f"judge-check: override {key!r} is not used here; accepted: judge.* "
                            "(e.g. judge.kind=model), "
                            "model.* (the judge model for kind=model), lora.*, seed")
    return out


def build_judge(overrides: Sequence[str]) -> Judge:
    """The judge the overrides describe; a model is loaded only for judge.kind=model."""
    from rapo_lite.judges import make_judge
    from rapo_lite.recipe import load_recipe

    recipe = load_recipe(None, judge_overrides(overrides))
    model = tokenizer = None
    if recipe.eval.judge.kind == "model":
        from rapo_lite.model import load_model

        model, tokenizer = load_model(recipe.model, recipe.lora, recipe.seed)
    return make_judge(recipe.eval.judge, model, tokenizer, field="judge")


def judge_check(path: str | Path, task: str = "harm", overrides: Sequence[str] = (),
                as_json: bool = False) -> dict[str, object]:
    """Score a judge against a labelled file, print the tables (and JSON), and return the report."""
    if task not in TASKS:
        raise RapoError(f"judge-check: --task {task!r} is not one of {', '.join(TASKS)}")
    items = read_labelled(path)
    judge = build_judge(overrides)
    predicted = verdicts(judge, items, task)  # type: ignore[arg-type]
    report = agreement_report(items, predicted)
    report.update(task=task, judge=judge.name, file=str(path))
    print(render(report, items, predicted, task, judge.name, path))  # type: ignore[arg-type]
    if as_json:
        print(json.dumps(report))
    return report
