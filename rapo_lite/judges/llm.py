"""Language-model judges: the policy's own base model, or an OpenAI-compatible endpoint.

Both send the rubrics of `rubric.py` and read tags back; they differ only in the chat
backend that turns a batch of messages into a batch of replies (`BaseModelChat`,
`EndpointChat`), which other model-driven detectors (IPO's cue finder) reuse.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from rapo_lite.errors import RapoError
from rapo_lite.judges import AnswerQuery, AnswerVerdict, Judge, TraceQuery, TraceVerdict
from rapo_lite.judges.rubric import answer_messages, parse_case, parse_level, parse_score, trace_messages
from rapo_lite.reasoning import THINK_CLOSE, THINK_OPEN
from rapo_lite.risk import estimate_level


class _RubricJudge(Judge):
    chat: Any  # BaseModelChat or EndpointChat

    def _complete(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        self.calls += len(conversations)
        before = self.chat.errors
        replies = self.chat.complete(conversations)
        self.errors += self.chat.errors - before
        return replies

    def judge_traces(self, queries: Sequence[TraceQuery]) -> list[TraceVerdict]:
        replies = self._complete([trace_messages(q.prompt, q.trace, q.level) for q in queries])
        verdicts = []
        for q, reply in zip(queries, replies):
            safety_only = parse_case(reply) if reply is not None else None
            level = q.level if q.level is not None else (parse_level(reply) if reply is not None else None)
            if reply is not None and (safety_only is None or level is None):
                self.parse_failures += 1
            if level is None:
                # An unreadable level still needs a value; the reward is neutral anyway when
                # the case is unreadable too, and the model-free estimate is a sane fallback.
                level = estimate_level(q.prompt)
            verdicts.append(TraceVerdict(level=level, safety_only=safety_only))
        return verdicts

    def judge_answers(self, queries: Sequence[AnswerQuery]) -> list[AnswerVerdict]:
        replies = self._complete([answer_messages(q.prompt, q.answer, q.harmful, q.reference) for q in queries])
        verdicts = []
        for reply in replies:
            ok = parse_score(reply) if reply is not None else None
            if reply is not None and ok is None:
                self.parse_failures += 1
            verdicts.append(AnswerVerdict(ok))
        return verdicts


class BaseModelChat:
    """Chat replies from the policy's base weights: the LoRA adapter is switched off while it writes.

    It holds a reference to the policy, not a copy, so it costs activations and a KV cache
    but no second set of weights. Greedy decoding with a small token cap; a template that
    opens a think block in the prompt (R1-style) gets it closed at once, so the model
    answers instead of reasoning.
    """

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 48, batch_size: int = 8, field: str = "rl.judge") -> None:
        if model is None or not hasattr(model, "disable_adapter"):
            raise RapoError(f"{field}.kind=model needs the policy loaded with a LoRA adapter (a PEFT model)")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.errors = 0

    def render(self, messages: list[dict[str, str]]) -> str:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=False)
        if text.rstrip().endswith(THINK_OPEN):
            text = text.rstrip() + f"\n\n{THINK_CLOSE}\n\n"
        return text

    def complete(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        from rapo_lite.generation import generate

        prompts = [self.render(m) for m in conversations]
        with self.model.disable_adapter():
            out = generate(
                self.model, self.tokenizer, prompts, max_new_tokens=self.max_new_tokens, temperature=0.0,
                batch_size=self.batch_size, desc="judge (base model)",
            )
        return [g.text for g in out]


class EndpointChat:
    """Chat replies from an OpenAI-compatible API, a few requests in flight at once.

    Each request is bounded by the endpoint's timeout and retries (endpoint.py). Once one item
    of a batch has used up its retries, the endpoint is taken to be down for that batch: the
    items not yet sent are not sent, instead of each waiting out its own retries. Then
    on_error "stop" raises the endpoint's error, and "neutral" returns None for every item
    without a reply and counts them in `errors`, so a flaky endpoint slows training but
    never ends it. The next batch tries the endpoint again.
    """

    def __init__(self, endpoint: Any, max_new_tokens: int = 48, on_error: str = "stop", workers: int = 4) -> None:
        self.endpoint = endpoint
        self.max_new_tokens = max_new_tokens
        self.on_error = on_error
        self.workers = max(1, workers)
        self.errors = 0

    def complete(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        failures: list[RapoError] = []  # appended from worker threads; list.append is atomic

        def one(messages: list[dict[str, str]]) -> str | None:
            if failures:
                return None
            try:
                return self.endpoint.chat(messages, max_tokens=self.max_new_tokens, temperature=0.0).text
            except RapoError as err:
                failures.append(err)
                return None

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            replies = list(pool.map(one, conversations))
        if failures and self.on_error == "stop":
            section = getattr(self.endpoint, "field", "judge.endpoint").removesuffix(".endpoint")
            raise RapoError(f"{failures[0]}; stopping ({section}.on_error=neutral would score such items neutral "
                            "and go on)")
        self.errors += sum(reply is None for reply in replies)
        return replies


class ModelJudge(_RubricJudge):
    """RAPO's judge: the base model itself (f0), through `BaseModelChat`."""

    name = "model"

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 48, batch_size: int = 8, field: str = "rl.judge") -> None:
        super().__init__()
        self.chat = BaseModelChat(model, tokenizer, max_new_tokens, batch_size, field=field)

    @property
    def model(self) -> Any:
        return self.chat.model  # the policy itself, not a copy


class EndpointJudge(_RubricJudge):
    """A judge behind an OpenAI-compatible API, through `EndpointChat`."""

    name = "endpoint"

    def __init__(self, endpoint: Any, max_new_tokens: int = 48, on_error: str = "stop", workers: int = 4) -> None:
        super().__init__()
        self.chat = EndpointChat(endpoint, max_new_tokens, on_error, workers)
