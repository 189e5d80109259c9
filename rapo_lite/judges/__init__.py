"""Judges: who decides whether a trace is safety-only and whether an answer does its job.

One interface, three implementations chosen in the recipe (`rl.judge.kind`, `eval.judge.kind`,
`ipo.judge.kind`):
- `RuleJudge` (rule.py): regular expressions, no model, microseconds per call;
- `ModelJudge` (llm.py): the policy's own base model with its LoRA adapter switched off,
  as RAPO uses the base model f0, without a second copy of the weights. Two modes
  (`judge.mode`):
  - score (the default): one forward pass per question reads the next-token probabilities
    of the possible answers where the reply would start (the tag values `<level>1..4`,
    `<case>safety_only|off_task`, `<score>0|1`, or a format's own words) and takes the
    most likely one. No sampling and no text, so every verdict is readable;
  - generate: greedy decoding of a short reply, then the tag parsers (RAPO's own judge);
- `EndpointJudge` (llm.py): any OpenAI-compatible chat API, generate mode only.

`judge.format` picks the prompt for answers to harmful requests (formats.py): `rapo`, the
kit's rubric (default); `harmbench`, HarmBench's yes/no classifier prompt; `llamaguard`,
Llama Guard's safe/unsafe policy prompt with categories S1..S14; `strongreject`, the
StrongREJECT rubric (refused, convincing, specific -> a score against `judge.threshold`).
Benign answers and traces always use the kit's rubric, in the same mode.

A judge answers two questions in batches:
- `judge_traces`: the prompt's risk level (the data set's level wins when given) and whether
  the safety paragraph only analyses risk (safety_only) or already works on the task.
  How *long* the analysis is, is never the judge's call: the reward counts sentences with the
  kit's splitter against the recipe's bands, so generation and reward cannot disagree.
- `judge_answers`: for a harmful prompt, is the answer safe (no successful attack); for a
  benign one, did it help.

A verdict field of None means the judge's output could not be read (generate mode; the
endpoint's failures too); the reward turns it into a neutral value and `parse_failures` counts
it, so a confused judge never stops training. Score mode always reads a verdict.

IPO's cue detectors (`rapo_lite.cues`) are checkers of the same kind: rule, model or endpoint,
on the same chat backends (llm.py), with the same counters (`Counted`) under `cue/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the annotation only: a judge built by hand needs no recipe module (nor yaml)
    from rapo_lite.recipe import JudgeConfig


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
    """A judge's reading of one answer.

    ok: for a harmful prompt, the answer is safe, i.e. the attack did *not* succeed (the field's
    definition: an attack succeeds only when the answer is on topic and gives real harmful help);
    for a benign prompt, the answer helped. None: the judge's output was unreadable.
    refused: the answer declines or does not do what was asked; None when this judge does not say
    (callers then use the rule signal `rapo_lite.text.refusal.is_refusal`).
    """

    ok: bool | None
    refused: bool | None = None


class Counted:
    """The counters every checker of model text keeps: the judges, and IPO's cue detectors (cues.py).

    calls: items asked about; parse_failures: replies that came but could not be read;
    errors: replies that never came (endpoint down, on_error=neutral), scored neutral.
    `counters()` reports them as `<prefix>/calls` and so on, for metrics.jsonl.
    """

    prefix = "checker"

    def __init__(self) -> None:
        self.parse_failures = 0
        self.errors = 0
        self.calls = 0

    def counters(self) -> dict[str, int]:
        p = self.prefix
        return {f"{p}/calls": self.calls, f"{p}/parse_failures": self.parse_failures, f"{p}/errors": self.errors}

    def _ask(self, chat: Any, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        """`chat.complete(conversations)` (a `BaseModelChat` or `EndpointChat`, judges/llm.py), adding
        the replies that never came to `errors`: the backend keeps a running count, of which the
        difference over this call is ours."""
        before = chat.errors
        replies = chat.complete(conversations)
        self.errors += chat.errors - before
        return replies


class Judge(Counted):
    """Base class: subclasses implement the two batch methods and bump the counters."""

    name = "judge"
    prefix = "judge"

    def judge_traces(self, queries: Sequence[TraceQuery]) -> list[TraceVerdict]:
        raise NotImplementedError

    def judge_answers(self, queries: Sequence[AnswerQuery]) -> list[AnswerVerdict]:
        raise NotImplementedError


def make_judge(cfg: JudgeConfig, model: Any = None, tokenizer: Any = None, field: str = "rl.judge") -> Judge:
    """Build the judge a recipe's JudgeConfig asks for; the model judge reuses the policy.

    An unset mode means score for the model judge and generate for the endpoint, which
    returns text only; asking an endpoint to score is refused here as at recipe load.
    """
    from rapo_lite.errors import RapoError

    if cfg.kind == "rule":
        from rapo_lite.judges.rule import RuleJudge

        return RuleJudge(min_safety_share=cfg.min_safety_share, min_overlap=cfg.min_overlap)
    if cfg.kind == "model":
        from rapo_lite.judges.llm import ModelJudge

        return ModelJudge(
            model, tokenizer, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, field=field,
            mode=cfg.mode or "score", format=cfg.format, threshold=cfg.threshold,
        )
    if cfg.mode == "score":
        raise RapoError(f"{field}.mode: {ENDPOINT_SCORE_ERROR}")
    from rapo_lite.endpoint import ChatEndpoint
    from rapo_lite.judges.llm import EndpointJudge

    return EndpointJudge(
        ChatEndpoint(cfg.endpoint, field=f"{field}.endpoint"),
        max_new_tokens=cfg.max_new_tokens,
        on_error=cfg.on_error,
        workers=cfg.batch_size,
        format=cfg.format,
        threshold=cfg.threshold,
    )


# The one-line reason shared by make_judge and the recipe loader.
ENDPOINT_SCORE_ERROR = (
    "'score' reads next-token probabilities, which a chat endpoint does not return; with kind: endpoint "
    "use mode: generate (or leave mode unset), or use kind: model for score"
)
