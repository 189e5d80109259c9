"""Judges: who decides whether a trace is safety-only and whether an answer does its job.

One interface, three implementations chosen in the recipe (`rl.judge.kind`):
- `RuleJudge` (rule.py): regular expressions, no model, microseconds per call;
- `ModelJudge` (llm.py): the policy's own base model with its LoRA adapter switched off,
  as RAPO uses the base model f0, without a second copy of the weights;
- `EndpointJudge` (llm.py): any OpenAI-compatible chat API.

A judge answers two questions in batches:
- `judge_traces`: the prompt's risk level (the data set's level wins when given) and whether
  the safety paragraph only analyses risk (safety_only) or already works on the task.
  How *long* the analysis is, is never the judge's call: the reward counts sentences with the
  kit's splitter against the recipe's bands, so generation and reward cannot disagree.
- `judge_answers`: for a harmful prompt, did the answer refuse; for a benign one, did it help.

A verdict field of None means the judge's output could not be read; the reward turns it into
a neutral value and `parse_failures` counts it, so a confused judge never stops training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class TraceQuery:
    prompt: str
    trace: str
    level: int | None = None  # the data set's level, when it has one


@dataclass(frozen=True)
class TraceVerdict:
    level: int
    safety_only: bool | None  # None: unreadable judge output


@dataclass(frozen=True)
class AnswerQuery:
    prompt: str
    answer: str
    harmful: bool
    reference: str | None = None


@dataclass(frozen=True)
class AnswerVerdict:
    ok: bool | None  # harmful prompt: refused; benign prompt: helped. None: unreadable judge output


class Judge:
    """Base class: subclasses implement the two batch methods and bump the counters."""

    name = "judge"

    def __init__(self) -> None:
        self.parse_failures = 0
        self.errors = 0  # calls that failed outright (endpoint down) and were scored neutral
        self.calls = 0

    def judge_traces(self, queries: Sequence[TraceQuery]) -> list[TraceVerdict]:
        raise NotImplementedError

    def judge_answers(self, queries: Sequence[AnswerQuery]) -> list[AnswerVerdict]:
        raise NotImplementedError

    def counters(self) -> dict[str, int]:
        return {"judge/calls": self.calls, "judge/parse_failures": self.parse_failures, "judge/errors": self.errors}


def make_judge(cfg: Any, model: Any = None, tokenizer: Any = None, field: str = "rl.judge") -> Judge:
    """Build the judge a recipe's JudgeConfig asks for; the model judge reuses the policy."""
    if cfg.kind == "rule":
        from rapo_lite.judges.rule import RuleJudge

        return RuleJudge(min_safety_share=cfg.min_safety_share, min_overlap=cfg.min_overlap)
    if cfg.kind == "model":
        from rapo_lite.judges.llm import ModelJudge

        return ModelJudge(model, tokenizer, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, field=field)
    from rapo_lite.endpoint import ChatEndpoint
    from rapo_lite.judges.llm import EndpointJudge

    return EndpointJudge(
        ChatEndpoint(cfg.endpoint, field=f"{field}.endpoint"),
        max_new_tokens=cfg.max_new_tokens,
        on_error=cfg.on_error,
        workers=cfg.batch_size,
    )
