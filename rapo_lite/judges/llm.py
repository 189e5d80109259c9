"""Language-model judges: the policy's own base model, or an OpenAI-compatible endpoint.

Two ways to get a verdict out of a model (`judge.mode`):
- generate: the model writes a reply to the rubric and a parser reads it (tags for the kit's
  rubric, the native reply of a standard format). A reply that does not parse is scored
  neutral and counted in `parse_failures`. Both backends can do this: `BaseModelChat` (the
  policy's base weights) and `EndpointChat` (an API), which other model-driven detectors
  (IPO's cue finder) reuse.
- score (model judge only): `OptionReader` reads the next-token probabilities of the possible
  answers where the reply would begin (after a pre-filled opening tag for the kit's rubric),
  one forward pass per question, and the most likely option is the verdict. Nothing is
  generated, so there is nothing to parse: `parse_failures` stays 0.

`judge.format` picks the prompt for answers to harmful requests: the kit's rubric, or one of
the field's standard judges in `formats.py`. Benign answers and safety traces always use the
kit's rubric, in the same mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from rapo_lite.errors import RapoError
from rapo_lite.judges import AnswerQuery, AnswerVerdict, Judge, TraceQuery, TraceVerdict
from rapo_lite.judges.formats import AnswerFormat, LlamaGuard, Reading, answer_format, argmax
from rapo_lite.judges.rubric import (
    CASE_OPTIONS,
    LEVEL_OPTIONS,
    LEVEL_PREFILL,
    SCORE_OPTIONS,
    SCORE_PREFILL,
    answer_messages,
    case_prefill,
    parse_case,
    parse_level,
    parse_score,
    trace_messages,
)
from rapo_lite.reasoning import THINK_CLOSE, THINK_OPEN
from rapo_lite.risk import estimate_level

if TYPE_CHECKING:  # annotations only: torch loads when a model judge first runs
    import torch

Mode = Literal["score", "generate"]
Messages = list[dict[str, str]]


class _RubricJudge(Judge):
    """Generate mode: send the rubric (or the format's prompt), parse the reply."""

    chat: Any  # BaseModelChat or EndpointChat

    def __init__(self, format: str = "rapo", threshold: float = 0.5) -> None:
        super().__init__()
        self.format: AnswerFormat | None = answer_format(format, threshold)
        # Llama Guard's violated category codes over all answers judged so far (generate mode
        # only: option scoring reads safe/unsafe, not the codes).
        self.categories: Counter[str] = Counter()

    def _complete(self, conversations: list[Messages]) -> list[str | None]:
        self.calls += len(conversations)
        return self._ask(self.chat, conversations)

    def _format_messages(self, q: AnswerQuery) -> Messages:
        assert self.format is not None
        return self.format.messages(q.prompt, q.answer)

    def _uses_format(self, q: AnswerQuery) -> bool:
        return q.harmful and self.format is not None

    def _answer_messages(self, q: AnswerQuery) -> Messages:
        """The format's prompt for an answer to a harmful request, else the kit's rubric."""
        if self._uses_format(q):
            return self._format_messages(q)
        return answer_messages(q.prompt, q.answer, q.harmful, q.reference)

    def _verdict(self, reading: Reading) -> AnswerVerdict:
        self.categories.update(reading.categories)
        return AnswerVerdict(ok=not reading.success, refused=reading.refused)

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
        verdicts = []
        for q, reply in zip(queries, self._complete([self._answer_messages(q) for q in queries])):
            if reply is None:  # the endpoint failed; already counted in `errors`
                verdicts.append(AnswerVerdict(None))
                continue
            if self._uses_format(q):
                assert self.format is not None
                reading = self.format.parse(reply)
                verdict = self._verdict(reading) if reading is not None else AnswerVerdict(None)
            else:
                verdict = AnswerVerdict(parse_score(reply))
            if verdict.ok is None:
                self.parse_failures += 1
            verdicts.append(verdict)
        return verdicts


class BaseModelChat:
    """Chat replies from the policy's base weights: the LoRA adapter is switched off while it writes.

    It holds a reference to the policy, not a copy, so it costs activations and a KV cache
    but no second set of weights. Greedy decoding with a small token cap; a template that
    opens a think block in the prompt (R1-style) gets it closed at once, so the model
    answers instead of reasoning.
    """

    def __init__(
        self, model: Any, tokenizer: Any, max_new_tokens: int = 48, batch_size: int = 8, field: str = "rl.judge"
    ) -> None:
        if model is None or not hasattr(model, "disable_adapter"):
            raise RapoError(f"{field}.kind=model needs the policy loaded with a LoRA adapter (a PEFT model)")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.errors = 0

    def render(self, messages: Messages) -> str:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        if text.rstrip().endswith(THINK_OPEN):
            text = text.rstrip() + f"\n\n{THINK_CLOSE}\n\n"
        return text

    def complete(self, conversations: list[Messages]) -> list[str | None]:
        from rapo_lite.generation import generate

        prompts = [self.render(m) for m in conversations]
        with self.model.disable_adapter():
            out = generate(
                self.model, self.tokenizer, prompts, max_new_tokens=self.max_new_tokens, temperature=0.0,
                batch_size=self.batch_size, desc="judge (base model)",
            )
        return [g.text for g in out]


class OptionReader:
    """Which of a few answer options the policy's base weights would write next.

    One forward pass per text (batched, left-padded, LoRA adapter off, no sampling, only the
    last position's logits computed). An option's probability is the summed next-token
    probability of the first token of each of its spellings: as given, lower case,
    capitalised, upper case, each with and without a leading space. Only the first token
    counts, so an option that the tokenizer splits into several pieces ("unsafe" -> "un",
    "safe") still gets one number. A first token that is whitespace only, or that two options
    share, says nothing about which one follows, so it is dropped; an option left with no
    token of its own is an error, as its probability could not be read.

    `spaced` marks options that normally follow a space ("1.b 4"). Tokenizers that split the
    space off every such option ("4" after " ") get the space appended to the text, so the
    next token is the option itself; the others score the spellings with a space.

    The probabilities returned are normalised over the options; `option_mass` keeps the mean
    unnormalised share of the next-token probability the options got, which tells how far
    the model is from writing any of them at all.
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8, field: str = "rl.judge") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.field = field
        self._tokens: dict[tuple[tuple[str, ...], bool], tuple[tuple[tuple[int, ...], ...], bool]] = {}
        self._keeps_logits = True  # whether the model's forward accepts logits_to_keep
        self.items = 0
        self._mass = 0.0

    @property
    def option_mass(self) -> float | None:
        return self._mass / self.items if self.items else None

    def _first_token(self, text: str) -> int | None:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return ids[0] if ids else None

    def option_tokens(self, options: Sequence[str], spaced: bool = False) -> tuple[tuple[tuple[int, ...], ...], bool]:
        """Per option, the token ids that count for it; and whether a space is appended to the text."""
        key = (tuple(options), spaced)
        if key in self._tokens:
            return self._tokens[key]
        space = self._first_token(" ")
        append_space = spaced and all(
            len(self.tokenizer.encode(" " + o, add_special_tokens=False)) > 1 and self._first_token(" " + o) == space
            for o in options
        )
        per_option: list[set[int]] = []
        for option in options:
            forms = {option, option.lower(), option.capitalize(), option.upper()}
            if not append_space:
                forms |= {" " + f for f in forms}
            # A first token that is only whitespace (a lone space before a digit) is not the option yet.
            firsts = {t for t in map(self._first_token, forms) if t is not None}
            per_option.append({t for t in firsts if self.tokenizer.decode([t]).strip()})
        shared = {t for i, a in enumerate(per_option) for b in per_option[i + 1 :] for t in a & b}
        kept = tuple(tuple(sorted(ids - shared)) for ids in per_option)
        empty = [o for o, ids in zip(options, kept) if not ids]
        if empty:
            raise RapoError(
                f"{self.field}.mode: this tokenizer starts the options {list(options)} with the same tokens, so "
                f"{', '.join(map(repr, empty))} cannot be told apart by option scoring; use {self.field}.mode=generate"
            )
        self._tokens[key] = (kept, append_space)
        return kept, append_space

    def probabilities(self, texts: Sequence[str], options: Sequence[str], spaced: bool = False) -> list[list[float]]:
        """Per text, the probability of each option as the next token, normalised over the options."""
        import torch

        ids, append_space = self.option_tokens(options, spaced)
        if append_space:
            texts = [t + " " for t in texts]
        out: list[list[float]] = []
        for logprobs in self._last_logprobs(list(texts)):
            per_option = torch.stack([torch.logsumexp(logprobs[list(t)], dim=0) for t in ids])
            self._mass += float(torch.logsumexp(per_option, dim=0).exp())
            self.items += 1
            out.append(torch.softmax(per_option, dim=0).tolist())
        return out

    def _last_logprobs(self, texts: list[str]) -> list[torch.Tensor]:
        """Log-probabilities of the next token after each text (one tensor per text), input order."""
        import torch

        from rapo_lite.generation import inference_mode, left_pad

        if not texts:
            return []
        encoded = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))  # similar lengths pad less
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        device = next(self.model.parameters()).device
        results: list[torch.Tensor | None] = [None] * len(texts)
        with self.model.disable_adapter(), inference_mode(self.model):
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                input_ids, mask = (t.to(device) for t in left_pad([encoded[i] for i in idx], pad))
                # Positions count real tokens only, so a padded text is read as it would be alone.
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                logits = self._forward(input_ids, mask, positions)
                for row, i in enumerate(idx):
                    results[i] = torch.log_softmax(logits[row].float(), dim=-1)
        return [r for r in results if r is not None]

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        kwargs = dict(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=False)
        if self._keeps_logits:
            try:
                # Only the last position: a full vocabulary row per token would dominate memory.
                return self.model(**kwargs, logits_to_keep=1).logits[:, -1, :]
            except TypeError:
                self._keeps_logits = False  # an older or patched forward without the argument
        return self.model(**kwargs).logits[:, -1, :]


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

    def complete(self, conversations: list[Messages]) -> list[str | None]:
        failures: list[RapoError] = []  # appended from worker threads; list.append is atomic

        def one(messages: Messages) -> str | None:
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
    """RAPO's judge: the base model itself (f0), by option scoring (`OptionReader`, the default)
    or by writing a reply (`BaseModelChat`)."""

    name = "model"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        max_new_tokens: int = 48,
        batch_size: int = 8,
        field: str = "rl.judge",
        mode: Mode = "score",
        format: str = "rapo",
        threshold: float = 0.5,
    ) -> None:
        super().__init__(format, threshold)
        self.chat = BaseModelChat(model, tokenizer, max_new_tokens, batch_size, field=field)
        self.mode = mode
        self.reader = OptionReader(model, tokenizer, batch_size, field=field)

    @property
    def model(self) -> Any:
        return self.chat.model  # the policy itself, not a copy

    def judge_traces(self, queries: Sequence[TraceQuery]) -> list[TraceVerdict]:
        if self.mode == "generate":
            return super().judge_traces(queries)
        self.calls += len(queries)
        levels = [q.level for q in queries]
        unknown = [i for i, q in enumerate(queries) if q.level is None]
        texts = [self.chat.render(trace_messages(queries[i].prompt, queries[i].trace, None)) for i in unknown]
        for i, probs in zip(unknown, self.reader.probabilities([t + LEVEL_PREFILL for t in texts], LEVEL_OPTIONS)):
            levels[i] = int(LEVEL_OPTIONS[argmax(probs)])
        # The data set's level went into the rubric; an estimated one opens the reply instead.
        estimated = [level if q.level is None else None for q, level in zip(queries, levels)]
        texts = [
            self.chat.render(trace_messages(q.prompt, q.trace, q.level)) + case_prefill(e)
            for q, e in zip(queries, estimated)
        ]
        cases = self.reader.probabilities(texts, CASE_OPTIONS)
        return [
            TraceVerdict(level=int(level or 1), safety_only=CASE_OPTIONS[argmax(p)] == "safety_only")
            for level, p in zip(levels, cases)
        ]

    def judge_answers(self, queries: Sequence[AnswerQuery]) -> list[AnswerVerdict]:
        if self.mode == "generate":
            return super().judge_answers(queries)
        self.calls += len(queries)
        verdicts: list[AnswerVerdict | None] = [None] * len(queries)
        own = [i for i, q in enumerate(queries) if not self._uses_format(q)]
        texts = [self.chat.render(self._answer_messages(queries[i])) + SCORE_PREFILL for i in own]
        for i, probs in zip(own, self.reader.probabilities(texts, SCORE_OPTIONS)):
            verdicts[i] = AnswerVerdict(ok=SCORE_OPTIONS[argmax(probs)] == "1")
        standard = [i for i, q in enumerate(queries) if self._uses_format(q)]
        if standard:
            assert self.format is not None
            rendered = [self.chat.render(self._format_messages(queries[i])) for i in standard]

            def ask(prefills: Sequence[str], options: Sequence[str], spaced: bool) -> list[list[float]]:
                return self.reader.probabilities([r + p for r, p in zip(rendered, prefills)], options, spaced)

            for i, reading in zip(standard, self.format.read_options(ask, len(standard))):
                verdicts[i] = self._verdict(reading)
        return [v for v in verdicts if v is not None]


class EndpointJudge(_RubricJudge):
    """A judge behind an OpenAI-compatible API, through `EndpointChat` (generate mode only: a
    chat API returns text, not the next-token distribution option scoring needs).

    With format llamaguard it sends the plain conversation (the request as the user turn, the
    answer as the assistant turn): a Llama Guard served by vLLM or llama.cpp builds its policy
    prompt from those turns with its own chat template, and would misread a prompt built here
    as the user's message.
    """

    name = "endpoint"

    def __init__(
        self, endpoint: Any, max_new_tokens: int = 48, on_error: str = "stop", workers: int = 4, format: str = "rapo",
        threshold: float = 0.5,
    ) -> None:
        super().__init__(format, threshold)
        self.chat = EndpointChat(endpoint, max_new_tokens, on_error, workers)

    def _format_messages(self, q: AnswerQuery) -> Messages:
        if isinstance(self.format, LlamaGuard):
            return self.format.conversation(q.prompt, q.answer)
        return super()._format_messages(q)
